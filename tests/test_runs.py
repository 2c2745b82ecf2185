"""The shared training loop (labkit.training.runs.run_steps): its guards against non-finite numbers."""
from types import SimpleNamespace

import pytest
import torch

from labkit.training.runs import run_steps


def _loop(loss_at, model):
    cfg = SimpleNamespace(steps=3, lr=0.1, warmup=0, log_every=100, checkpoint_every=100, snapshot_steps=())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    run_steps(None, model, opt, cfg, loss_at, start=0, elapsed=0.0, model_config={}, desc="test", progress=False)


def test_a_non_finite_gradient_stops_training_before_the_weights_change():
    model = torch.nn.Linear(2, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def loss_at(step):                     # finite loss (0), but d/dw sqrt(0 · w) = inf · 0 = nan
        return torch.sqrt((0 * model.weight).sum().clamp(min=0)) + 0 * model.bias.sum(), {}

    with pytest.raises(FloatingPointError, match="gradient norm became nan at step 0"):
        _loop(loss_at, model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_non_finite_loss_stops_training():
    model = torch.nn.Linear(2, 1)
    with pytest.raises(FloatingPointError, match="loss became inf at step 0"):
        _loop(lambda step: ((1 + model.weight ** 2).sum() * float("inf"), {}), model)


def test_a_trainer_leaves_the_process_as_it_found_it():
    from labkit.training.runs import keeps_global_state

    @keeps_global_state
    def trainer(seed, *, device="cpu"):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        torch.backends.cuda.matmul.allow_tf32 = True
        return torch.rand(3)

    torch.manual_seed(123)
    state, tf32 = torch.random.get_rng_state(), torch.backends.cuda.matmul.allow_tf32
    deterministic = torch.are_deterministic_algorithms_enabled()
    a, b = trainer(0), trainer(0)
    assert torch.equal(a, b)                                          # seeded inside
    assert torch.equal(torch.random.get_rng_state(), state)           # the caller's stream untouched
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.backends.cuda.matmul.allow_tf32 == tf32
