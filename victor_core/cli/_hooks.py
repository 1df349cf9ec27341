"""``victor hooks [--json]``: the hook families, their hooks and who implements them."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "hooks",
        help="list the hook families, their hooks and the plugins implementing them",
        description=(
            "Load every family (importing the installed plugins) and print each family with "
            "its entry-point group, its hooks (with their arguments and kind) and the "
            "plugins implementing each hook."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.set_defaults(func=_hooks)


def collect(manager: Any) -> list[dict[str, Any]]:
    """``[{name, group, hooks: [{name, kind, arguments, implemented_by}]}]`` per family."""
    from pluggy import HookCaller

    manager.load_all()
    families: dict[str, list[dict[str, Any]]] = {}
    for name, caller in sorted(vars(manager.hook).items()):
        if not isinstance(caller, HookCaller) or caller.spec is None:
            continue
        opts = caller.spec.opts
        kind = (
            "historic"
            if opts.get("historic")
            else ("first result" if opts.get("firstresult") else "collect all")
        )
        # pluggy calls the last registered implementation first: list them in call order.
        impls = [i.plugin_name for i in reversed(caller.get_hookimpls())]
        families.setdefault(manager.family_of(name), []).append(
            {
                "name": name,
                "kind": kind,
                "arguments": list(caller.spec.argnames),
                "implemented_by": impls,
            }
        )
    order = [*manager.families, *(f for f in families if f not in manager.families)]
    return [
        {
            "name": family,
            "group": None if family == "core" else f"victor_core.{family}",
            "hooks": families[family],
        }
        for family in order
        if family in families
    ]


def _hooks(args: argparse.Namespace) -> int:
    from victor_core.cli._common import load_settings, print_json, print_table
    from victor_core.plugins._manager import PluginManager

    families = collect(PluginManager(load_settings(args)))
    if args.json:
        print_json({"families": families})
        return 0
    rows = [
        (
            family["name"],
            hook["name"],
            hook["kind"],
            ", ".join(hook["implemented_by"]) or None,
        )
        for family in families
        for hook in family["hooks"]
    ]
    print_table(rows, ("family", "hook", "kind", "implemented by"))
    return 0
