"""The ``victor`` command line.

Each command group lives in its own module (``_plugins``, ``_cache``, ...)
exposing ``register(subparsers)``; handlers take the parsed arguments and
return an exit code. A run builds the parser of the command it names only
(the others are neither imported nor built); ``victor --help``, an unknown
command and the completion scripts build all of them. Errors raised as
:class:`~victor_core.exceptions.VictorError` (or ``OSError``) print as one
line on stderr with exit code 2; a closed pipe (``victor ... | head``) ends
the run quietly.
"""

from __future__ import annotations

import argparse
import gettext
import importlib
import os
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

# Command name -> the module registering it, for a run that builds its command only.
_COMMANDS = {
    "run": "_run",
    "plugins": "_plugins",
    "plugin": "_plugin_new",
    "hooks": "_hooks",
    "config": "_config",
    "cache": "_cache",
    "memory": "_memory",
    "metrics": "_metrics",
    "bench": "_bench",
    "completion": "_completion",
}
# The long global options of the top-level parser (see _add_global_options).
_VALUE_OPTIONS = ("--config", "--disable", "--color", "--log-format")
_LONG_OPTIONS = (*_VALUE_OPTIONS, "--help", "--version", "--verbose", "--quiet")

USAGE = "usage: victor [-h] [--version] [global options] COMMAND ... (see victor --help)"


class _VersionAction(argparse.Action):
    """``--version``, reading the version only when asked (it costs an import)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from victor_core._version import __version__

        print(f"victor-core {__version__}")
        parser.exit()


class _Parser(argparse.ArgumentParser):
    """An argument parser whose construction does not ask for the terminal's size.

    argparse makes a help formatter for every ``add_argument`` (to check the
    metavar against ``nargs``) and ``add_subparsers`` (to format the
    sub-commands' ``prog``); each reads the terminal size, importing
    :mod:`shutil` and its compression modules. Those two uses do not depend on
    the width, so they get a fixed one; help and usage still use the terminal's.
    """

    _fixed_width = False

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action: argparse.Action = self._with_fixed_width(super().add_argument, *args, **kwargs)
        return action

    def add_subparsers(self, **kwargs: Any) -> Any:
        return self._with_fixed_width(super().add_subparsers, **kwargs)

    def _with_fixed_width(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        previous, self._fixed_width = self._fixed_width, True
        try:
            return method(*args, **kwargs)
        finally:
            self._fixed_width = previous

    def _get_formatter(self) -> argparse.HelpFormatter:
        if self._fixed_width:
            formatter: Any = self.formatter_class
            return formatter(prog=self.prog, width=80)  # type: ignore[no-any-return]
        return super()._get_formatter()


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
    return _build_parser(_COMMAND_MODULES)


def _build_parser(modules: Sequence[str]) -> argparse.ArgumentParser:
    """The parser of ``victor`` with the commands of ``modules`` (missing modules skipped)."""
    original = getattr(argparse, "_", None)
    if original is not gettext.gettext or _has_translation():
        return _make_parser(modules)
    # argparse translates its own words ("options", "show this help message
    # and exit") for every parser it makes, each time searching the locale
    # folders for a catalogue. There is none here (checked once above), so
    # building uses the words as they are; parsing and help translate as before.
    argparse._ = str  # type: ignore[attr-defined]
    try:
        return _make_parser(modules)
    finally:
        if getattr(argparse, "_", None) is str:
            argparse._ = original  # type: ignore[attr-defined]


def _has_translation() -> bool:
    """Whether ``gettext.gettext`` would translate anything (a catalogue for this locale)."""
    domain = gettext.textdomain()
    folder = gettext.bindtextdomain(domain)
    # No locale folder (as in many Python builds): nothing to find, and no
    # import of ``locale`` to find it.
    return os.path.isdir(folder) and bool(gettext.find(domain, folder))


def _make_parser(modules: Sequence[str]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="victor",
        description="victor-core: a lazy plugin kernel for AI agents.",
        epilog="Settings come from victor.toml, [tool.victor] in pyproject.toml, the user's "
        "victor/config.toml, VICTOR_* variables and --config: `victor config` shows each "
        "value and its source.",
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and exit")
    _add_global_options(parser, top=True)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules:
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


def _command_module(args: Sequence[str]) -> str | None:
    """The module of the command ``args`` run, when parsing them needs no other command.

    The global options before the command are skipped as argparse reads them
    (``--opt VALUE``, ``--opt=VALUE``, unambiguous prefixes, ``-vq``). Returns
    ``""`` when ``args`` hold global options only (``--version``, or an error
    argparse reports), and None when every command is needed: ``--help``
    before the command, an unknown command, ``--`` or anything else unusual.
    """
    skip = False
    for token in args:
        if skip:
            skip = False
        elif token.startswith("--"):
            name, equals, _ = token.partition("=")
            matches = [o for o in _LONG_OPTIONS if o == name] or [
                o for o in _LONG_OPTIONS if o.startswith(name)
            ]
            if token == "--" or len(matches) != 1 or matches[0] == "--help":
                return None
            skip = matches[0] in _VALUE_OPTIONS and not equals
        elif token.startswith("-") and token != "-":
            if not set(token[1:]) <= {"v", "q"}:
                return None
        else:
            module = _COMMANDS.get(token)
            return module if module in _COMMAND_MODULES else None
    return ""


def _parser_for(args: Sequence[str]) -> argparse.ArgumentParser:
    """The parser for ``args``: with their command only when that is enough, else every one."""
    module = _command_module(args)
    if module is None:
        return build_parser()
    parser = _build_parser((module,) if module else ())
    if module and not _has_command(parser):
        return build_parser()  # the module is missing: argparse lists the commands there are
    return parser


def _has_command(parser: argparse.ArgumentParser) -> bool:
    return any(
        isinstance(action, argparse._SubParsersAction) and action.choices
        for action in parser._actions
    )


def _print_usage_and_exit() -> int:
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
    if not args_list:
        return _print_usage_and_exit()
    args = _parser_for(args_list).parse_args(args_list)
    if not getattr(args, "func", None):
        return _print_usage_and_exit()
    from victor_core.cli._common import error, setup_output

    setup_output(args)
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
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
        pass
    return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
