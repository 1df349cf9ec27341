"""``victor plugins list`` (from the index, importing none) and ``victor plugins show NAME``."""

from __future__ import annotations

import argparse
from typing import Any

from victor_core.cli._common import load_settings, print_json, print_table

_STATE_COLORS = {"loaded": "green", "error": "red", "disabled": "yellow", "lazy": "dim"}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("plugins", help="list installed plugins, show one")
    sub = parser.add_subparsers(dest="plugins_command", metavar="ACTION")
    listing = sub.add_parser("list", help="list plugins with their family, distribution and state")
    listing.add_argument("--json", action="store_true", help="print JSON only")
    listing.add_argument(
        "--load",
        action="store_true",
        help="import every family first, to show import errors and times",
    )
    listing.set_defaults(func=_list)
    show = sub.add_parser(
        "show",
        help="one plugin: distribution, version, family, state, error and its hooks (loads it)",
        description=(
            "Load the family of plugin NAME (its entry-point name, or FAMILY.NAME when two "
            "families have one of that name) and print its distribution, version, family, "
            "state, import time, error and the hooks it implements."
        ),
    )
    show.add_argument(
        "name", metavar="NAME", help="entry-point name, as `victor plugins list` shows"
    )
    show.add_argument("--json", action="store_true", help="print JSON only")
    show.set_defaults(func=_show)
    parser.set_defaults(func=_list, json=False, load=False)


def state(info: Any) -> str:
    """``disabled``, ``error``, ``loaded`` or ``lazy``."""
    if info.disabled:
        return "disabled"
    return "error" if info.error else ("loaded" if info.loaded else "lazy")


def _list(args: argparse.Namespace) -> int:
    from victor_core.plugins._manager import PluginManager

    manager = PluginManager(load_settings(args))
    if args.load:
        manager.load_all()
    plugins = manager.list_plugins()
    if args.json:
        print_json({"plugins": [{**p.to_dict(), "state": state(p)} for p in plugins]})
        return 0
    rows = [
        (
            p.name,
            p.family,
            p.dist_name,
            p.dist_version,
            state(p),
            _ms(p.import_time_s),
            p.error,
        )
        for p in plugins
    ]
    print_table(
        rows,
        ("name", "family", "distribution", "version", "state", "import", "error"),
        colors=_STATE_COLORS,
    )
    return 0


def _ms(seconds: float | None) -> str | None:
    return None if seconds is None else f"{seconds * 1000:.1f} ms"


def find(manager: Any, name: str) -> Any:
    """The :class:`~victor_core.PluginInfo` of ``name`` (or ``family.name``).

    Raises:
        PluginError: no plugin (the closest names are suggested) or an ambiguous name.
    """
    import difflib

    from victor_core.exceptions import PluginError

    infos = manager.list_plugins()
    matches = [p for p in infos if name in (p.name, f"{p.family}.{p.name}")]
    if len(matches) == 1:
        return matches[0]
    if matches:
        choices = ", ".join(f"{p.family}.{p.name}" for p in matches)
        raise PluginError(f"plugin name {name!r} is in several families; use one of {choices}")
    names = sorted({p.name for p in infos})
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; installed: {', '.join(names)}"
    raise PluginError(f"no plugin named {name!r}{hint}", plugin=name)


def registered_object(manager: Any, info: Any) -> Any:
    """The object registered for ``info`` (its module, or the entry point's attribute), or None."""
    import sys

    module_name, _, attr = info.entry_point.partition(":")
    obj: Any = sys.modules.get(module_name.strip())
    for part in attr.strip().split(".") if attr.strip() else ():
        obj = getattr(obj, part, None)
    return obj if obj is not None and manager.is_registered(obj) else None


def describe(manager: Any, info: Any) -> dict[str, Any]:
    """What ``victor plugins show`` prints, after loading ``info``'s family."""
    if not info.disabled:
        manager.load_family(info.family)
        info = find(manager, f"{info.family}.{info.name}")
    plugin = registered_object(manager, info)
    hooks: set[str] = set()
    if plugin is not None:
        # A plugin may register helper objects as "<its name>.<part>": their hooks are its own.
        own = manager.get_name(plugin)
        for name, obj in manager.registered_name_plugin():
            if obj is not None and (name == own or name.startswith(own + ".")):
                hooks.update(h.name for h in manager.get_hookcallers(obj) or ())
    return {
        "name": info.name,
        "family": info.family,
        "group": f"victor_core.{info.family}",
        "entry_point": info.entry_point,
        "dist_name": info.dist_name,
        "dist_version": info.dist_version,
        "state": state(info),
        "loaded": info.loaded,
        "error": info.error,
        "import_time_s": info.import_time_s,
        "disabled": info.disabled,
        "builtin": info.builtin,
        "registered_as": manager.get_name(plugin) if plugin is not None else None,
        "hooks": sorted(hooks),
    }


def _show(args: argparse.Namespace) -> int:
    from victor_core.plugins._manager import PluginManager

    manager = PluginManager(load_settings(args))
    doc = describe(manager, find(manager, args.name))
    if args.json:
        print_json(doc)
        return 0 if doc["error"] is None else 1
    rows = [
        ("name", doc["name"]),
        ("family", f"{doc['family']} (entry-point group {doc['group']})"),
        ("entry point", doc["entry_point"]),
        ("distribution", f"{doc['dist_name']} {doc['dist_version']}"),
        ("state", doc["state"]),
        ("import time", _ms(doc["import_time_s"])),
        ("error", doc["error"]),
        ("hooks", ", ".join(doc["hooks"]) or None),
    ]
    print_table(rows, ("plugin", doc["name"]), colors=_STATE_COLORS)
    return 0 if doc["error"] is None else 1
