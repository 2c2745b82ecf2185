"""A training run's folder, shared by every trainer: resume, atomic checkpoints, logs.

Run folder::

    config.json                 train + model config (a resumed run must match it)
    latest.safetensors          model weights + config (see labkit.io.checkpoint), atomically replaced
    latest.train.pt             optimizer state, step and elapsed seconds, atomically replaced
    step-N.safetensors          snapshots kept at chosen steps
    log.jsonl                   one line of scalars per logged step
    tb/                         TensorBoard scalars and image grids (if tensorboard is installed)

A folder holding a run with the same config is resumed; one holding another run, or other
files, is refused unless ``overwrite=True``. Fields named in ``resumable`` may differ on
resume (how long the run goes on, how often it reports).
"""
from __future__ import annotations

import functools
import json
import logging
import math
import os
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from labkit.io.atomic import write_json_atomic
from labkit.io.checkpoint import load_state, save_training_state, save_weights
from labkit.training.distributed import Distributed, no_sync, shard_rows

# TensorBoard is imported where a run opens its log: it is slow to import and only the writing rank needs it.

log = logging.getLogger(__name__)


def keeps_global_state(fn):
    """Decorate a trainer so that the process is left as it found it: torch's global RNG (weight init
    and dropout draw from it, seeded by the trainer for exact resume), the deterministic-algorithms
    switch and the TF32 flags are what they were before the call, whatever the trainer set."""
    @functools.wraps(fn)
    def wrapper(*args, **kw):
        device = str(kw.get("device", "cpu"))
        cuda = [torch.device(device).index or 0] if device.startswith("cuda") and torch.cuda.is_available() else []
        flags = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                 torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        with torch.random.fork_rng(devices=cuda):
            try:
                return fn(*args, **kw)
            finally:
                torch.use_deterministic_algorithms(flags[0], warn_only=flags[1])
                torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags[2:]
    return wrapper


class RunFolder:
    def __init__(self, path: str | os.PathLike, config: dict[str, dict], *, kind: str,
                 resumable: set[str] = frozenset(), overwrite: bool = False):
        self.path, self.config, self.kind = Path(path), config, kind
        self.weights, self.state = self.path / "latest.safetensors", self.path / "latest.train.pt"
        self.resume = self.state.exists() and self.weights.exists() and not overwrite
        if self.resume:
            old, new = json.loads((self.path / "config.json").read_text()), json.loads(json.dumps(config))
            diff = sorted(k for part in new for k in new[part]
                          if old.get(part, {}).get(k) != new[part][k] and k not in resumable)
            if diff:
                raise ValueError(f"{self.path} holds a run with another config (differs in {diff}); "
                                 f"choose another --out or pass --overwrite to start afresh")
        elif self.path.exists() and any(self.path.iterdir()) and not overwrite:
            raise FileExistsError(f"{self.path} is not empty and holds no resumable run; "
                                  f"pass --overwrite to reuse it")
        self.path.mkdir(parents=True, exist_ok=True)
        if overwrite:
            for p in (self.weights, self.state, self.path / "log.jsonl"):
                p.unlink(missing_ok=True)
        write_json_atomic(self.path / "config.json", config)
        self._log = open(self.path / "log.jsonl", "a", encoding="utf-8")
        self.tb = _tensorboard(self.path / "tb")

    def load(self, model: torch.nn.Module, opt: torch.optim.Optimizer, device: str = "cpu") -> tuple[int, float]:
        """Restore weights and optimizer of a resumed run: returns (step, elapsed seconds); (0, 0) if new."""
        if not self.resume:
            return 0, 0.0
        model.load_state_dict(load_state(self.weights, kind=self.kind)[0])
        ts = torch.load(self.state, map_location=device, weights_only=True)
        opt.load_state_dict(ts["optimizer"])
        log.info("resuming %s at step %d", self.path, int(ts["step"]))
        return int(ts["step"]), float(ts.get("elapsed", 0.0))

    def save(self, model: torch.nn.Module, opt: torch.optim.Optimizer, *, model_config: dict, step: int,
             seconds: float, snapshot: bool = False, extra: dict | None = None) -> None:
        """Replace latest.* atomically (and keep step-N.safetensors when `snapshot`); `extra` goes
        into the weights' metadata beside the step and the seconds trained."""
        extra = {**(extra or {}), "step": step, "seconds": round(seconds, 1)}
        save_weights(self.weights, model, kind=self.kind, config=model_config, extra=extra)
        save_training_state(self.state, {"optimizer": opt.state_dict(), "step": step, "elapsed": seconds})
        if snapshot:
            save_weights(self.path / f"step-{step}.safetensors", model, kind=self.kind, config=model_config,
                         extra=extra)

    def log(self, record: dict) -> None:
        """One line of log.jsonl; every numeric value but the step also goes to TensorBoard."""
        self._log.write(json.dumps(record) + "\n")
        self._log.flush()
        if self.tb is not None:
            for k, v in record.items():
                if k != "step" and isinstance(v, (int, float)):
                    self.tb.add_scalar(f"train/{k}", v, record["step"])

    def close(self) -> None:
        self._log.close()
        if self.tb is not None:
            self.tb.close()


def _tensorboard(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:                                    # tensorboard is optional
        log.warning("tensorboard is not installed; scalars go to log.jsonl only")
        return None
    return SummaryWriter(str(path))


def warmup_cosine(step: int, *, lr: float, warmup: int, steps: int) -> float:
    """Learning rate at `step`: linear warm-up over `warmup` steps, then cosine decay to lr / 10 at `steps`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    u = min(1.0, (step - warmup) / max(1, steps - warmup))
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * u)))


def compiled(model: torch.nn.Module) -> torch.nn.Module:
    """`model` with each of its networks (direct children) compiled by torch.compile, in place.

    Children rather than the model, because trainers call a model's networks through methods
    (encode, decode) that bypass its forward. The parameters stay the same tensors, so the
    optimizer, the checkpoints and DDP see the plain model."""
    for child in model.children():
        child.compile()
    return model


def run_steps(run: RunFolder | None, model: torch.nn.Module, opt: torch.optim.Optimizer, cfg, loss_at, *,
              start: int, elapsed: float, model_config: dict, extra: dict | None = None, desc: str,
              progress: bool = True, show: str | None = None, dist: Distributed | None = None,
              net: torch.nn.Module | None = None, accumulate: int = 1, after_step=None,
              max_grad_norm: float = 1.0, deadline: float | None = None) -> int:
    """The loop of a trainer, from step `start` to cfg.steps: warm-up/cosine learning rate, the
    loss, a clipped optimizer step, the progress bar (with the term `show`), a log line every
    cfg.log_every steps and a checkpoint every cfg.checkpoint_every steps and at cfg.snapshot_steps.
    cfg needs steps, lr, warmup, log_every, checkpoint_every, snapshot_steps (and batch_size when
    sharded).

    One process: ``loss_at(step) -> (loss, {term: value})``; its batch must be a function of the
    step, so that resuming is exact.

    Sharded (`dist` given, see labkit.training.distributed): ``loss_at(step, rows)`` computes the loss of
    the rows of the step's global batch that this process takes in this accumulation micro-step,
    through `net` (the model in DistributedDataParallel). Gradients are summed over `accumulate`
    micro-steps (all-reduced on the last only) and averaged over processes; the logged loss and
    terms are the means over the whole batch. Only rank 0 (which holds `run`) logs, saves and
    shows progress; ``after_step(step)`` runs there after each step.

    `deadline` (a time.time() value): the first step that ends after it is checkpointed and the
    loop stops there (every process agrees), so a run fits a time-limited machine and resumes
    exactly when started again. Returns the step reached.
    """
    d = dist or Distributed()
    net = net if net is not None else model
    sharded = dist is not None
    if not sharded and accumulate != 1:
        raise ValueError("gradient accumulation needs a sharded loss_at(step, rows)")
    bar = None
    if progress and d.is_main:
        bar = tqdm(total=cfg.steps, initial=start, desc=desc, unit="step")
    model.train()
    t0, step = time.time(), start
    while step < cfg.steps:
        lr = warmup_cosine(step, lr=cfg.lr, warmup=cfg.warmup, steps=cfg.steps)
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        value, terms = 0.0, {}
        for m in range(accumulate):
            with no_sync(net, sync=m == accumulate - 1):
                if sharded:
                    loss, t = loss_at(step, shard_rows(cfg.batch_size, d, accumulate, m))
                else:
                    loss, t = loss_at(step)
                (loss / accumulate).backward()
            value += float(loss.detach()) / accumulate
            for k, v in t.items():
                terms[k] = terms.get(k, 0.0) + v / accumulate
        value, terms = _mean_over_processes(d, value, terms)
        if not math.isfinite(value):                       # the same verdict on every rank: none hangs
            raise FloatingPointError(f"loss became {value} at step {step}; lower --lr or check the data")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm))
        if not math.isfinite(grad_norm):                   # a finite loss can still back-propagate inf/nan
            raise FloatingPointError(f"the gradient norm became {grad_norm} at step {step} (loss {value:.4g}); the "
                                     "weights were not updated. Lower --lr, or train without bf16 autocast")
        opt.step()
        step += 1
        out_of_time = deadline is not None and step < cfg.steps and _past(d, deadline)
        if not d.is_main:
            if out_of_time:
                break
            continue
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{value:.3f}", **({show: f"{terms[show]:.2f}"} if show else {}))
        if step % cfg.log_every == 0 or step == cfg.steps:
            run.log({"step": step, "loss": value, "lr": lr, "seconds": round(elapsed + time.time() - t0, 1), **terms})
        if after_step is not None:
            after_step(step)
        if out_of_time or step % cfg.checkpoint_every == 0 or step == cfg.steps or step in cfg.snapshot_steps:
            run.save(model, opt, model_config=model_config, step=step, seconds=elapsed + time.time() - t0,
                     snapshot=step in cfg.snapshot_steps, extra=extra)
        if out_of_time:
            log.warning("time limit reached: stopped at step %d of %d (checkpointed); the same command resumes",
                        step, cfg.steps)
            break
    if bar is not None:
        bar.close()
    return step


def deadline_after(minutes: float | None) -> float | None:
    """The time.time() `minutes` from now, for run_steps(deadline=...); None without a limit."""
    if minutes is None:
        return None
    if not minutes >= 0:
        raise ValueError(f"the time limit must be minutes >= 0, got {minutes}")
    return time.time() + 60 * minutes


def _past(d: Distributed, deadline: float) -> bool:
    """Whether any process is past `deadline` (one verdict for all, so that none waits on the others)."""
    return d.mean([float(time.time() >= deadline)])[0] > 0


def _mean_over_processes(d: Distributed, value: float, terms: dict[str, float]) -> tuple[float, dict[str, float]]:
    if not d.active:
        return value, terms
    keys = sorted(terms)
    value, *rest = d.mean([value] + [terms[k] for k in keys])
    return value, dict(zip(keys, rest))


def open_run(d: Distributed, path, config: dict[str, dict], *, kind: str, resumable: set[str] = frozenset(),
             overwrite: bool = False) -> tuple[RunFolder | None, bool]:
    """The run folder on rank 0 (None on the others) and whether the run resumes (on every rank).
    A refused folder raises the same error on every rank."""
    run = d.on_main(lambda: RunFolder(path, config, kind=kind, resumable=resumable, overwrite=overwrite))
    return run, bool(d.broadcast(run.resume if run is not None else None))


def restore(run: RunFolder | None, model: torch.nn.Module, opt: torch.optim.Optimizer, d: Distributed,
            device: str = "cpu") -> tuple[int, float]:
    """run.load on rank 0, then its optimizer state, step and seconds on every rank (the weights
    reach the others when DistributedDataParallel wraps the model). Works whatever world size
    wrote the checkpoint: the state is the same on every rank."""
    if not d.active:
        return run.load(model, opt, device)
    loaded = d.on_main(lambda: run.load(model, opt, device))
    state = d.broadcast((loaded, _to_cpu(opt.state_dict())) if d.is_main else None)
    if not d.is_main:
        opt.load_state_dict(state[1])                      # moves the state onto this rank's device
    return state[0]


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj
