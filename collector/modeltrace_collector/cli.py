"""The ``modeltrace`` command."""

from __future__ import annotations

import argparse
import sys

from modeltrace.version import __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modeltrace", description="modeltrace command line")
    parser.add_argument("--version", action="version", version=f"modeltrace {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("collector", help="run the collector (not part of this release yet)")
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    print("modeltrace: the collector is not part of this release yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
