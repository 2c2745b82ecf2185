"""The ``labkit`` command line: parse, call the library, report.

One module per command group registers its parsers and commands. Options that configure a trainer
are generated from its config dataclass (labkit.cli.options), so each exists once. Building the
parser imports no torch: ``labkit --help`` and every subcommand's ``--help`` answer at once.
"""
from __future__ import annotations

import argparse
import logging
import sys

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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError, PermissionError, OSError, MemoryError) as e:
        print(f"labkit: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
