"""``victor plugin new NAME [--family FAMILY] [--directory DIR] [--description TEXT]``."""

from __future__ import annotations

import argparse
from typing import Any

# Kept here (not imported from victor_core.scaffold) so that building the
# parser stays cheap; a test checks both lists agree.
_FAMILIES = ("tools", "skills", "personas", "planning", "memory", "providers")


def register(subparsers: Any) -> None:
    """Add ``victor plugin new`` to the command line."""
    plugin = subparsers.add_parser(
        "plugin",
        help="write a new plugin distribution",
        description="Write plugin distributions.",
    )
    commands = plugin.add_subparsers(dest="plugin_command", metavar="COMMAND")
    new = commands.add_parser(
        "new",
        help="generate a plugin project: pyproject.toml, a hook implementation, tests, tox.ini",
        description=(
            "Generate a plugin distribution in DIR/NAME: pyproject.toml with the entry "
            "point in the group victor_core.FAMILY, a module with a documented hook "
            "implementation, tests using the victor_core.testing fixtures, a tox.ini "
            "for Python 3.10-3.13 and a README. Existing folders are never overwritten."
        ),
    )
    new.add_argument("name", metavar="NAME", help="distribution name, e.g. victor-word-count")
    new.add_argument(
        "--family",
        default="tools",
        metavar="FAMILY",
        help=(
            f"hook family to implement: {', '.join(_FAMILIES)} (default: tools), or a "
            "family an installed plugin defines"
        ),
    )
    new.add_argument(
        "--directory",
        default=".",
        metavar="DIR",
        help="folder to create the project in (default: the current folder)",
    )
    new.add_argument("--description", default=None, metavar="TEXT", help="one-line summary")
    new.add_argument("--json", action="store_true", help="print the result as JSON")
    new.set_defaults(func=_new)
    plugin.set_defaults(func=_usage(plugin))


def _usage(parser: argparse.ArgumentParser) -> Any:
    def handler(args: argparse.Namespace) -> int:
        parser.print_help()
        return 2

    return handler


def _new(args: argparse.Namespace) -> int:
    from pathlib import Path

    from victor_core.cli._common import print_json
    from victor_core.scaffold import create_plugin

    target = create_plugin(
        args.name,
        family=args.family,
        directory=Path(args.directory),
        description=args.description,
    )
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    if args.json:
        print_json({"path": str(target), "family": args.family, "files": files})
        return 0
    print(f"Created {target} ({args.family} plugin):")
    for name in files:
        print(f"  {name}")
    print()
    print("Next steps:")
    print(f"  cd {target}")
    print('  pip install -e ".[test]"   # install it; `victor plugins list` now shows it')
    print("  pytest                     # run its tests")
    print("  tox                        # run them on Python 3.10-3.13")
    return 0
