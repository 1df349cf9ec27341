"""The ``victor`` command line.

Each command group lives in its own module (``_plugins``, ``_cache``, ...)
exposing ``register(subparsers)``; handlers take the parsed arguments and
return an exit code. Errors raised as :class:`~victor_core.exceptions.VictorError`
(or ``OSError``) print as one line on stderr with exit code 2; a closed pipe
(``victor ... | head``) ends the run quietly.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

# The order here is the order of ``victor --help``.
_COMMAND_MODULES = (
    "_run",
    "_plugins",
    "_plugin_new",
    "_hooks",
    "_config",
    "_cache",
    "_memory",
    "_metrics",
    "_bench",
    "_completion",
)

USAGE = "usage: victor [-h] [--version] [global options] COMMAND ... (see victor --help)"


class _VersionAction(argparse.Action):
    """``--version``, reading the version only when asked (it costs an import)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from victor_core._version import __version__

        print(f"victor-core {__version__}")
        parser.exit()


def _add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command takes, before or after its name.

    On sub-commands their defaults are suppressed, so that an option given
    before the command is not reset by the sub-command's parser.
    """
    group = parser.add_argument_group("global options")

    def default(value: Any) -> Any:
        return value if top else argparse.SUPPRESS

    group.add_argument(
        "--config",
        metavar="FILE",
        default=default(None),
        help="TOML settings file, over the discovered file and VICTOR_* variables",
    )
    group.add_argument(
        "--disable",
        action="append",
        metavar="NAME",
        # A sub-command's parser would replace the list given before the command.
        dest="disable" if top else "disable_after",
        default=default([]),
        help="do not load the plugin with this entry-point name in this run (repeatable)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default(0),
        help="show what happens on stderr: -v info (plugins loaded, tools chosen), -vv debug",
    )
    group.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default(False),
        help="print only results and errors (no progress, no warnings)",
    )
    group.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default=default(None),
        help="colour output: auto (default: on a terminal, unless NO_COLOR is set; "
        "FORCE_COLOR forces it), always or never",
    )
    group.add_argument(
        "--log-format",
        choices=("console", "json"),
        default=default(None),
        help="stderr format: console (default on a terminal) or json (default otherwise)",
    )


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below ``parser``, depth first."""
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found.append(sub)
                found.extend(_subparsers(sub))
    return found


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``victor``, with every available command registered."""
    parser = argparse.ArgumentParser(
        prog="victor",
        description="victor-core: a lazy plugin kernel for AI agents.",
        epilog="Settings come from victor.toml, [tool.victor] in pyproject.toml, the user's "
        "victor/config.toml, VICTOR_* variables and --config: `victor config` shows each "
        "value and its source.",
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    _add_global_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"victor_core.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"victor_core.cli.{name}":
                raise
            continue
        module.register(subparsers)
    for sub in _subparsers(parser):
        try:
            _add_global_options(sub, top=False)
        except argparse.ArgumentError:  # pragma: no cover - a command with its own -v
            continue
    return parser


def _print_usage_and_exit(parser: argparse.ArgumentParser) -> int:
    print(USAGE, file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``victor`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    try:
        code = _main(argv)
        # Flush here, not at interpreter exit, so a reader that went away
        # (``victor ... | head``) is seen as a broken pipe and handled below.
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _broken_pipe()


def _main(argv: Sequence[str] | None) -> int:
    from victor_core.exceptions import VictorError

    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not args_list:
        return _print_usage_and_exit(parser)
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        return _print_usage_and_exit(parser)
    from victor_core.cli._common import error, setup_output

    setup_output(args, eager=bool(getattr(args, "loads_plugins", False)))
    try:
        code: Any = args.func(args)
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:
        raise
    except (VictorError, OSError) as exc:
        error(str(exc))
        return 2
    finally:
        from victor_core import _log

        _log.configure_on_first_use(None)
    return int(code or 0)


def _broken_pipe() -> int:
    """The reader of stdout went away (``victor ... | head``): stop quietly, as a pipe expects.

    Python would report the failed flush of stdout at exit; pointing stdout at
    the null device first keeps that quiet. The exit code is 141 (128 +
    SIGPIPE), what a shell shows for a program a closed pipe stopped.
    """
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
        pass
    return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
