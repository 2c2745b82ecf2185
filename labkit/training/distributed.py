"""Training on several processes with PyTorch's own engine: ``torchrun`` + DistributedDataParallel.

Every trainer runs unchanged on one process, and under ``torchrun`` on many (NCCL between GPUs,
gloo between CPU processes). The recipe keeps a run independent of how many processes train it:

- ``batch_size`` is the *global* batch of one optimizer step. Each step's batch is drawn from
  ``default_rng([seed, step])`` exactly as on one process; rank r of a world of size N, in
  accumulation micro-step m of A, takes the rows ``shard_rows(...)`` of it and renders only
  those (each rank its own shard: no sample is seen twice in a step, none is skipped).
- DDP averages the gradients of the shards; with losses that are means over samples this is the
  gradient of the whole batch, so a 2-process run follows the 1-process run with the same
  global batch (tests/test_distributed.py checks it, loss for loss).
- Only rank 0 writes (checkpoints, log.jsonl, TensorBoard, the progress bar); it reads the
  checkpoint on resume and broadcasts the optimizer state, so a run may resume with another
  world size, e.g. a 4-GPU run finished on one.

``torchrun`` sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; without them
:func:`setup` returns the single-process :class:`Distributed` and nothing is initialised.
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Distributed:
    rank: int = 0          # this process's index in the job
    world: int = 1         # number of processes
    local_rank: int = 0    # index on this machine (its GPU)
    device: str = "cpu"    # where this process computes

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def mean(self, values: list[float]) -> list[float]:
        """Each value's mean over all processes, in one all-reduce (for logging the whole batch's loss)."""
        if not self.active:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=_comm_device(self))
        dist.all_reduce(t)
        return (t / self.world).tolist()

    def broadcast(self, obj):
        """Rank 0's `obj` (any picklable object) on every rank."""
        if not self.active:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0, device=_comm_device(self))
        return box[0]

    def on_main(self, fn):
        """Run fn() on rank 0 only; if it raises, every rank raises the same error (and none hangs
        waiting for the others). Returns fn()'s result on rank 0 and None elsewhere."""
        result, error = None, None
        if self.is_main:
            try:
                result = fn()
            except Exception as e:                           # re-raised below, on every rank
                error = e
        error = self.broadcast(error)
        if error is not None:
            raise error
        return result

    @contextlib.contextmanager
    def main_first(self):
        """Rank 0 runs the block first (e.g. filling a shared cache), then the others."""
        if not self.is_main:
            self.barrier()
        try:
            yield
        finally:
            if self.is_main:
                self.barrier()


def _comm_device(d: Distributed) -> torch.device:
    return torch.device(d.device) if dist.get_backend() == "nccl" else torch.device("cpu")


def setup(device: str = "cpu") -> Distributed:
    """Join the job torchrun started (or return the 1-process Distributed when there is none).

    device: "cpu" (gloo) or "cuda" (NCCL; each process takes the GPU of its LOCAL_RANK). A
    "cuda:N" device is refused under torchrun, where the local rank picks the GPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Distributed(device=device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        if device != "cuda":
            raise ValueError(f"under torchrun pass --device cuda (each process takes GPU LOCAL_RANK), not {device}")
        if torch.cuda.device_count() <= local:
            raise RuntimeError(f"process {rank} needs GPU {local} but this machine has {torch.cuda.device_count()}")
        torch.cuda.set_device(local)
        device, backend = f"cuda:{local}", "nccl"
    elif device == "cpu":
        backend = "gloo"
    else:
        raise ValueError(f"device must be cpu or cuda, got {device!r}")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    log.info("process %d of %d (%s, %s)", rank, world, backend, device)
    return Distributed(rank=rank, world=world, local_rank=local, device=device)


def teardown(d: Distributed, *, finished: bool = False) -> None:
    """Leave the process group. `finished`: every process got here the same way (the run ended), so
    they first wait for each other; otherwise one could tear its side down under another's last
    collective, which gloo answers by aborting that process. After an error none waits: the others
    may never arrive."""
    if d.active and dist.is_initialized():
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def shard_rows(batch_size: int, d: Distributed, accumulate: int = 1, micro: int = 0) -> slice:
    """The rows of a step's global batch that rank d.rank computes in micro-step `micro`.

    The global batch is cut into world × accumulate equal shards, micro-step-major: with 2 ranks
    and 2 micro-steps, rank 0 takes shards 0 and 2, rank 1 shards 1 and 3.
    """
    parts = d.world * accumulate
    if batch_size % parts:
        raise ValueError(f"batch size {batch_size} does not split into {d.world} process(es) × {accumulate} "
                         f"accumulation step(s); choose a multiple of {parts}")
    n = batch_size // parts
    k = micro * d.world + d.rank
    return slice(k * n, (k + 1) * n)


def wrap(module: torch.nn.Module, d: Distributed, *, find_unused: bool = False) -> torch.nn.Module:
    """`module` in DistributedDataParallel when the job has several processes (as is otherwise).

    DDP broadcasts rank 0's parameters and buffers at construction, so every rank starts equal.
    """
    if not d.active:
        return module

    ids = [d.local_rank] if d.device.startswith("cuda") else None
    # no buffer broadcast each step: labkit's buffers (grids, data statistics) never change in training
    return DDP(module, device_ids=ids, find_unused_parameters=find_unused, broadcast_buffers=False)


def no_sync(module: torch.nn.Module, sync: bool):
    """Skip DDP's gradient all-reduce for accumulation micro-steps other than the last."""
    if sync or not hasattr(module, "no_sync"):
        return contextlib.nullcontext()
    return module.no_sync()
