"""Writing installed-looking distributions: what ``pip install`` leaves in site-packages.

Used by the testing plugin (:mod:`victor_core.testing`) and the start-up
benchmark; kept free of pytest so that the benchmark does not import it.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from pathlib import Path

from victor_core.exceptions import InvalidArgumentError

__all__ = ["make_distribution"]

_DIST_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


def make_distribution(
    site: Path,
    name: str,
    entry_points: Mapping[str, Mapping[str, str]],
    *,
    version: str = "1.0",
    modules: Mapping[str, str] | None = None,
) -> Path:
    """Write a distribution into the folder ``site`` (as pip would) and return its dist-info.

    Args:
        site: a folder that is (or will be) on ``sys.path``.
        name: the distribution name (``my-plugin``).
        entry_points: ``{group: {entry-point name: "module[:attr]"}}``.
        version: its version.
        modules: ``{"dotted.module": "source"}`` files to write beside it
            (packages get ``__init__.py`` files as needed).

    Raises:
        InvalidArgumentError: ``name`` is not a valid distribution name (a ``ValueError``).
    """
    if not _DIST_NAME.match(name):
        raise InvalidArgumentError(
            f"distribution name must be letters, digits, '.', '_' or '-' (got {name!r})",
            argument="name",
            value=name,
        )
    site.mkdir(parents=True, exist_ok=True)
    normal = re.sub(r"[-_.]+", "_", name)
    info = site / f"{normal}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{ep_name} = {value}" for ep_name, value in eps.items())
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
    (info / "INSTALLER").write_text("victor-core-testing\n", encoding="utf-8")
    _write_modules(site, modules or {})
    (info / "RECORD").write_text("", encoding="utf-8")
    return info


def _write_modules(site: Path, modules: Mapping[str, str]) -> None:
    """Write ``{"dotted.module": "source"}`` under ``site``, with package ``__init__.py`` files."""
    for module, source in modules.items():
        parts = module.split(".")
        folder = site.joinpath(*parts[:-1])
        for depth in range(1, len(parts)):
            pkg = site.joinpath(*parts[:depth])
            pkg.mkdir(exist_ok=True)
            init = pkg / "__init__.py"
            if not init.exists():
                init.write_text("", encoding="utf-8")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{parts[-1]}.py").write_text(textwrap.dedent(source), encoding="utf-8")
