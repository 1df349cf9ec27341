"""Scaffolding for a family that an installed distribution defines.

A distribution declares a family in the entry-point group
``victor_core.hookspecs`` (name: the family, value: its hookspecs module).
``victor plugin new NAME --family NAME-OF-FAMILY`` then writes a plugin with
one documented stub per hook of that family, depending on that distribution.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import attrs

from victor_core._markers import PROJECT_NAME

HOOKSPECS_GROUP = "victor_core.hookspecs"
_FAMILY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@attrs.frozen
class CustomFamily:
    """A family found in the ``victor_core.hookspecs`` group."""

    name: str
    module: str
    dist_name: str
    specs: tuple[tuple[str, Any], ...]


def installed_families() -> dict[str, tuple[str, str]]:
    """``{family: (hookspecs module, distribution)}`` of the installed custom families."""
    from importlib.metadata import entry_points

    found: dict[str, tuple[str, str]] = {}
    for ep in entry_points(group=HOOKSPECS_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else ""
        found.setdefault(ep.name, (ep.value, dist_name or ""))
    return found


def find_family(family: str) -> CustomFamily | None:
    """The installed family ``family``, its hookspecs imported; None when not installed.

    Raises:
        ImportError: (or whatever the module raises) its hookspecs module fails to import.
    """
    if not _FAMILY_NAME.match(family):
        return None
    entry = installed_families().get(family)
    if entry is None:
        return None
    value, dist_name = entry
    import importlib

    module_name, _, attr = value.partition(":")
    obj: Any = importlib.import_module(module_name.strip())
    for part in attr.split(".") if attr.strip() else ():
        obj = getattr(obj, part.strip())
    specs = tuple(
        (name, fn)
        for name, fn in sorted(vars(obj).items())
        if callable(fn) and getattr(fn, f"{PROJECT_NAME}_spec", None) is not None
    )
    return CustomFamily(family, value, dist_name, specs)


def _docstring(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"""', "'''")


def impl_source(name: str, spec: Any) -> str:
    """A documented stub implementation of the hookspec ``spec``."""
    opts = getattr(spec, f"{PROJECT_NAME}_spec", {}) or {}
    params = ", ".join(f"{p}: Any" for p in inspect.signature(spec).parameters)
    doc = (inspect.getdoc(spec) or f"Implement {name}.").split("\n\n")[0].strip()
    if opts.get("firstresult"):
        kind = "First result: return None to let the next plugin answer."
    elif opts.get("historic"):
        kind = "Historic: also called for calls made before this plugin registered."
    else:
        kind = "Every plugin's implementation is called; the results are collected."
    lines = [
        "@hookimpl",
        f"def {name}({params}) -> Any:",
        f'    """{_docstring(doc)}',
        "",
        f"    {kind}",
        '    """',
        "    return None",
    ]
    return "\n".join(lines) + "\n"


def impls_source(family: CustomFamily) -> str:
    """Every stub of ``family``, separated as a module expects."""
    return "\n\n".join(impl_source(name, spec) for name, spec in family.specs)
