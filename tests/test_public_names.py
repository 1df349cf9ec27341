"""Bundled plugins use only victor-core's public names, as any third-party plugin must."""

from __future__ import annotations

import ast
from pathlib import Path

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def _private(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "victor_core" and any(p.startswith("_") for p in parts[1:])


def private_imports(root: Path) -> list[str]:
    """``file:line: module`` for every import of a private ``victor_core`` module under ``root``."""
    found: list[str] = []
    for path in sorted(root.glob("*/**/*.py")):
        rel = path.relative_to(root)
        if "tests" in rel.parts or path.name.startswith("test_") or path.name == "conftest.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # ``from victor_core.x._y import z`` names the module once;
                # ``from victor_core import _x`` names each imported module.
                names = (
                    [node.module]
                    if _private(node.module)
                    else [f"{node.module}.{a.name}" for a in node.names]
                )
            for name in names:
                if _private(name):
                    found.append(f"{rel}:{node.lineno}: {name}")
    return found


def test_bundled_plugins_import_no_private_module() -> None:
    assert list(PLUGINS.glob("*/pyproject.toml")), "no bundled plugins found"
    assert private_imports(PLUGINS) == []


def test_the_check_sees_private_imports(tmp_path: Path) -> None:
    # The walker must find what it forbids, or the check above passes vacuously.
    pkg = tmp_path / "victor-sample" / "victor_sample"
    pkg.mkdir(parents=True)
    (pkg / "mod.py").write_text(
        "import victor_core._log\n"
        "from victor_core.metrics._profiling import profile\n"
        "from victor_core import _version\n"
        "from victor_core.metrics import profile as ok\n"
    )
    (pkg / "tests").mkdir()
    (pkg / "tests" / "test_x.py").write_text("import victor_core._log\n")
    assert private_imports(tmp_path) == [
        "victor-sample/victor_sample/mod.py:1: victor_core._log",
        "victor-sample/victor_sample/mod.py:2: victor_core.metrics._profiling",
        "victor-sample/victor_sample/mod.py:3: victor_core._version",
    ]
