"""What the command groups share: run options, JSON output, reporting from rank 0."""
from __future__ import annotations

import argparse
import json
import os
import signal
import threading
from contextlib import contextmanager


def add_run_options(p: argparse.ArgumentParser, *, recipe: str | None = None, device_help: str = "cpu or cuda[:N]",
                    time_limit: bool = False) -> None:
    """The options of a training run that are not part of its config: where, on what, how loud; with
    `recipe` (an example path) also --config, and with `time_limit` also --time-limit."""
    g = p.add_argument_group("run")
    g.add_argument("--out", required=True,
                   help="run folder: checkpoints, log.jsonl, tb/ (resumed if it holds this run)")
    if recipe is not None:
        g.add_argument("--config", default=None,
                       help=f"a TOML recipe ([train], [model], ...), e.g. {recipe} or its shipped name; the options "
                            "given here win over it")
    g.add_argument("--device", default="cpu", help=device_help)
    g.add_argument("--threads", type=int, default=0, help="CPU threads (default: torch's choice)")
    if time_limit:
        g.add_argument("--time-limit", type=float, default=None, metavar="MIN",
                       help="stop, checkpointed, at the first step that ends MIN minutes after the start (a machine "
                            "lent for a while, a batch job); the same command resumes")
    g.add_argument("--overwrite", action="store_true", help="start afresh in a folder holding another run")
    g.add_argument("--quiet", action="store_true", help="no progress bar")


def add_json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object")


def printed_json(a: argparse.Namespace, result: dict) -> bool:
    """With --json, print the result as one JSON object (and say so)."""
    if a.json:
        print(json.dumps(result))
    return a.json


def is_main() -> bool:
    """Rank 0 of a torchrun job (or a plain process): the one that reports."""
    return os.environ.get("RANK", "0") == "0"


def set_threads(n: int | None) -> None:
    """--threads: the CLI, not the library, sets torch's process-wide thread count."""
    if n:
        import torch

        torch.set_num_threads(n)


def pair(text: str) -> tuple[float, float]:
    """'PITCH,YAW' → two floats."""
    try:
        a, b = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two numbers PITCH,YAW (degrees), got {text!r}") from None
    return a, b


def numbers(kind=float):
    """An argparse type: 'A,B,...' → a list of `kind` values."""
    def parse(text: str) -> list:
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    return parse


def rgb(text: str) -> tuple[int, int, int]:
    """'R,G,B' → three whole numbers 0..255."""
    try:
        r, g, b = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected three whole numbers R,G,B (0..255), got {text!r}") from None
    if not all(0 <= v <= 255 for v in (r, g, b)):
        raise argparse.ArgumentTypeError(f"R,G,B values must lie in 0..255, got {text!r}")
    return r, g, b


@contextmanager
def signals_held():
    """SIGINT and SIGTERM held back while the block runs and raised again when it ends. For work an
    interrupt must not land in: numba compiles through ctypes callbacks, which swallow the KeyboardInterrupt
    a signal raises there, and the run would go on as if never interrupted. (Python runs signal handlers in
    the main thread, so handlers that only take note hold a signal whichever thread receives it.)"""
    if threading.current_thread() is not threading.main_thread():       # only the main thread may set handlers
        yield
        return
    caught = []
    before = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
        if caught:
            signal.raise_signal(caught[0])
