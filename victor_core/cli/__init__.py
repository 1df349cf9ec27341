"""The ``victor`` command line.

Each command group lives in its own module (``_plugins``, ``_cache``, ...)
exposing ``register(subparsers)``; handlers take the parsed arguments and
return an exit code. Errors raised as :class:`~victor_core.exceptions.VictorError`
(or ``OSError``) print as one line on stderr with exit code 2; tracebacks are
for bugs only.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from victor_core.exceptions import VictorError

# The order here is the order of ``victor --help``.
_COMMAND_MODULES = (
    "_run",
    "_plugins",
    "_plugin_new",
    "_cache",
    "_memory",
    "_metrics",
    "_bench",
)


def _version() -> str:
    from victor_core import __version__

    return f"victor-core {__version__}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``victor``, with every available command registered."""
    parser = argparse.ArgumentParser(
        prog="victor",
        description="victor-core: a lazy plugin kernel for AI agents.",
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="TOML settings file (VICTOR_* environment variables override it)",
    )
    parser.add_argument(
        "--log-format",
        choices=("console", "json"),
        default=None,
        help="log renderer on stderr (default: console on a terminal, json otherwise)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (repeatable)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"victor_core.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"victor_core.cli.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``victor`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    from victor_core.cli._common import setup_logging

    setup_logging(args)
    try:
        code: Any = args.func(args)
    except KeyboardInterrupt:
        print("victor: interrupted", file=sys.stderr)
        return 130
    except (VictorError, OSError) as exc:
        print(f"victor: error: {exc}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
