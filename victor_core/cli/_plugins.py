"""``victor plugins list``: the installed plugins, from the index, importing none."""

from __future__ import annotations

import argparse
from typing import Any

from victor_core.cli._common import load_settings, print_json, print_table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("plugins", help="list installed plugins")
    sub = parser.add_subparsers(dest="plugins_command", metavar="ACTION")
    listing = sub.add_parser("list", help="list plugins with their family, distribution and state")
    listing.add_argument("--json", action="store_true", help="print JSON only")
    listing.add_argument(
        "--load",
        action="store_true",
        help="import every family first, to show import errors and times",
    )
    listing.set_defaults(func=_list)
    parser.set_defaults(func=_list, json=False, load=False)


def _list(args: argparse.Namespace) -> int:
    from victor_core.plugins._manager import PluginManager

    manager = PluginManager(load_settings(args))
    if args.load:
        manager.load_all()
    plugins = manager.list_plugins()
    if args.json:
        print_json({"plugins": [p.to_dict() for p in plugins]})
        return 0
    rows = []
    for p in plugins:
        state = (
            "disabled"
            if p.disabled
            else ("error" if p.error else ("loaded" if p.loaded else "lazy"))
        )
        rows.append(
            (
                p.name,
                p.family,
                p.dist_name,
                p.dist_version,
                state,
                f"{p.import_time_s * 1000:.1f} ms" if p.import_time_s is not None else None,
                p.error,
            )
        )
    print_table(rows, ("name", "family", "distribution", "version", "state", "import", "error"))
    return 0
