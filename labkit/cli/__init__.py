"""The ``labkit`` command line: parse, call the library, report.

One module per command group registers its parsers and commands. Options that configure a trainer
are generated from its config dataclass (labkit.cli.options), so each exists once. Building the
parser imports no torch: ``labkit --help`` and every subcommand's ``--help`` answer at once.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from labkit.cli import animate, bench, data, evaluate, train, weights

GROUPS = (data, train, weights, evaluate, animate, bench)      # the order `labkit --help` lists them in


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="labkit",
                                description="labkit: audio-driven talking faces (open VASA-1 at laptop scale)")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return p


class Terminated(BaseException):
    """SIGTERM, raised where the program is, so that every writer's cleanup runs (like Ctrl-C's
    KeyboardInterrupt; a BaseException, so no ``except Exception`` swallows it)."""


_terminated: list[int] = []         # SIGTERMs received during the current command


def _terminate(signum, frame):
    _terminated.append(signum)
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit status: 0 done, 1 a negative answer (``verify``: no watermark;
    ``prep``: some videos unusable), 2 bad
    input or an output that cannot be written (one line on stderr), 130 interrupted (SIGINT),
    143 terminated (SIGTERM); an interrupted run removes its unfinished output."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    previous = signal.signal(signal.SIGTERM, _terminate) if _main_thread() else None
    _terminated.clear()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _say("interrupted; unfinished output removed")
        return 130
    except Terminated:
        _say("terminated; unfinished output removed")
        return 143
    except Exception as e:
        # a library that runs Python inside its own C calls (numba's dispatchers, PyAV) may turn the
        # KeyboardInterrupt or Terminated raised there into an error of its own (numba: a SystemError caused
        # by it); the run was still interrupted, and the writers' cleanup (they catch BaseException) has
        # removed the unfinished output
        if _terminated or any(isinstance(c, Terminated) for c in _causes(e)):
            _say("terminated; unfinished output removed")
            return 143
        if any(isinstance(c, KeyboardInterrupt) for c in _causes(e)):
            _say("interrupted; unfinished output removed")
            return 130
        if isinstance(e, (ValueError, OSError, MemoryError)):      # FileExistsError & co. are OSErrors
            print(f"labkit: error: {e}", file=sys.stderr)
            return 2
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _causes(e: BaseException) -> list[BaseException]:
    """The exceptions e was raised from or while handling, nearest first (cycles cut)."""
    out: list[BaseException] = []
    while (e := e.__cause__ or e.__context__) is not None and e not in out:
        out.append(e)
    return out


def _say(message: str) -> None:
    """One line on stderr, after a progress bar's line on a terminal."""
    print(("\n" if sys.stderr.isatty() else "") + f"labkit: {message}", file=sys.stderr)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


if __name__ == "__main__":
    sys.exit(main())
