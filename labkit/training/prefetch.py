"""Training batches drawn ahead of time in worker processes.

The trainers draw each step's batch as a function of (seed, step, rows) alone, so any process
can draw any step's batch and get the same one. :class:`Prefetcher` uses that: while the model
trains on step k, `workers` processes render the batches of steps k+1 … k+depth. A run with
workers gives bitwise the weights of a run without, and resumes the same way. Worth it where
the data side is the bottleneck: SynthTalk renders about 45 frame pairs a second per process,
a GPU trains on far more.

Workers are started with ``spawn`` (safe beside CUDA) and each builds its own sampler once, by
calling `factory` (picklable: a class or a functools.partial of one). Batches travel back as
numpy arrays.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp

import numpy as np
import torch

_SAMPLER = None                                   # the worker's own sampler, built by _init


def _init(factory) -> None:
    global _SAMPLER
    torch.set_num_threads(1)                      # workers render; the trainer keeps the cores' BLAS
    _SAMPLER = factory()


def _draw(draw, step: int, start, stop) -> dict:
    batch = draw(_SAMPLER, step, slice(start, stop))
    return {k: v.numpy() if torch.is_tensor(v) else v for k, v in batch.items()}


class Prefetcher:
    """``prefetcher(step, rows)`` → ``draw(sampler, step, rows)``, computed ahead in `workers`
    processes. `draw` must be picklable (a module-level function or a partial of one) and a pure
    function of its arguments. The next `depth` steps (default 2 × workers) with the same rows
    are drawn ahead of each request, so gradient accumulation's micro-steps are each prefetched."""

    def __init__(self, factory, draw, workers: int, *, depth: int | None = None):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.draw, self.depth = draw, depth if depth is not None else 2 * workers
        if self.depth < 1:
            raise ValueError(f"depth must be at least 1, got {self.depth}")
        self._pool = cf.ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init,
                                            initargs=(factory,))
        self._pending: dict[tuple, cf.Future] = {}

    def _submit(self, step: int, rows: slice) -> None:
        key = (step, rows.start, rows.stop)
        if key not in self._pending:
            self._pending[key] = self._pool.submit(_draw, self.draw, step, rows.start, rows.stop)

    def __call__(self, step: int, rows: slice = slice(None)) -> dict:
        if rows.step not in (None, 1):
            raise ValueError(f"rows must be a contiguous slice, got {rows}")
        for s in range(step, step + self.depth + 1):
            self._submit(s, rows)
        for key in [k for k in self._pending if k[0] < step]:   # a resumed or restarted sequence: drop the stale
            self._pending.pop(key).cancel()
        batch = self._pending.pop((step, rows.start, rows.stop)).result()
        return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in batch.items()}

    def close(self) -> None:
        for f in self._pending.values():
            f.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
