"""``victor config [--json]``: every setting, its value and where the value came from."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "config",
        help="show every setting, its value and its source",
        description=(
            "Print every setting with its value and its source: 'default', 'env' (with the "
            "variable), the settings file and line it came from, or 'command line'. Files are "
            "found as documented in docs/configuration.md: VICTOR_CONFIG, ./victor.toml, "
            "[tool.victor] in the nearest pyproject.toml upwards, the user's "
            "victor/config.toml; then VICTOR_* variables, then --config FILE and options."
        ),
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON list of {name, value, source, ...} objects only",
    )
    parser.add_argument(
        "--changed", action="store_true", help="show only the settings that are not defaults"
    )
    parser.set_defaults(func=_config)


def entries(settings: Any, sources: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``{name, value, source, ...}`` per setting, in the order of the settings table."""
    values = settings.to_dict()
    return [
        {"name": name, "value": _masked(name, value), **sources[name].to_dict()}
        for name, value in values.items()
    ]


def _masked(name: str, value: Any) -> Any:
    """Secrets are shown as set or not, never printed."""
    if name.endswith("api_key") and value:
        return "********"
    if isinstance(value, str) and "://" in value and "@" in value.partition("://")[2]:
        import re

        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1********@", value)
    return value


def _config(args: argparse.Namespace) -> int:
    from victor_core.cli._common import discover_settings, print_json, print_table

    settings, sources = discover_settings(args)
    rows = entries(settings, sources)
    if args.changed:
        rows = [r for r in rows if r["source"] != "default"]
    if args.json:
        print_json(rows)
        return 0
    print_table(
        [(r["name"], _show(r["value"]), _where(r)) for r in rows],
        ("setting", "value", "source"),
        colors={"default": "dim"},
    )
    return 0


def _show(value: Any) -> str:
    import json

    if isinstance(value, str):
        return repr(value) if value == "" else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _where(row: dict[str, Any]) -> str:
    if row["source"] == "env":
        return f"env {row['variable']}"
    return str(row["source"])
