"""The package's layering, checked from the source: an import may only point down.

The layers, top to bottom (see ``DESIGN.md``, "Layout of the package")::

    cli  bench  scaffold  testing          faces: nothing in the library imports them
    orchestrator                           the facade
    agent                                  the loop (receives its services)
    providers  planning  selection         upper services
    execution  memory  cache  metrics  health
    plugins  hookspecs                     the kernel
    models  settings  exceptions  _*       the vocabulary

Imports under ``if TYPE_CHECKING:`` count too: a type a module names is a
dependency of its reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import victor_core

PACKAGE = Path(victor_core.__file__).parent
FACES = {"cli", "bench", "scaffold", "testing", "__main__"}
LAYERS: list[set[str]] = [
    {
        "models",
        "settings",
        "exceptions",
        "_markers",
        "_log",
        "_tasks",
        "_version",
        "_process",
        "_lazy",
        "__init__",
    },
    {"plugins", "hookspecs"},
    {"execution", "memory", "cache", "metrics", "health"},
    {"providers", "planning", "selection"},
    {"agent"},
    {"orchestrator"},
    FACES,
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
BUNDLED = {
    path.name
    for path in (PACKAGE.parent / "plugins").glob("*/victor_*")
    if path.is_dir() and not path.name.endswith(".egg-info")
}


def _unit(module: str) -> str:
    """The top-level unit of ``victor_core.X.Y`` (``X``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "victor_core":
                found += [(node.lineno, f"victor_core.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((node.lineno, str(node.args[0].value)))
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "templates" not in p.parts)


def _unit_of_path(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    return rel.parts[0]


def test_every_unit_has_a_layer() -> None:
    units = {_unit_of_path(p) for p in _modules()}
    assert units - set(RANK) == set()


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    unit = _unit_of_path(path)
    rank = RANK[unit]
    wrong = []
    for line, module in _imports(path):
        if module.split(".")[0] in BUNDLED:
            wrong.append(f"line {line}: imports the bundled plugin {module}")
        if not module.startswith("victor_core.") or unit == "__init__":
            continue
        target = _unit(module)
        if target not in RANK or target == unit:
            continue
        if target in FACES and unit not in FACES:
            wrong.append(f"line {line}: {module} is a face; the library never imports one")
        elif target == "cli" and unit not in ("cli", "__main__"):  # python -m victor_core
            wrong.append(f"line {line}: nothing imports the CLI ({module})")
        elif RANK[target] > rank:
            wrong.append(f"line {line}: {unit} imports {module}, a layer above it")
    assert [w for w in wrong if (unit, w.split(":")[0]) not in _PENDING] == []


# Known to break the layering, each with the change that removes it (none today).
_PENDING: set[tuple[str, str]] = set()


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    # The walker must find the imports it is meant to forbid, or the checks above pass vacuously.
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from victor_core.orchestrator import AgentOrchestrator\n"
        "def f():\n    import victor_core.cli\n"
        "    importlib.import_module('victor_openai_provider')\n"
    )
    assert [m for _, m in _imports(sample)] == [
        "typing",
        "victor_core.orchestrator",
        "victor_core.cli",
        "victor_openai_provider",
    ]


# -- size: modules under ~600 lines, functions under ~50 -----------------------------------

MAX_MODULE_LINES = 620
MAX_FUNCTION_LINES = 50  # the code, not its docstring

# Longer on purpose, each with why; a function that no longer needs its place
# here must leave the list (test_the_long_list_is_current).
_LONG_FUNCTIONS: dict[str, str] = {
    "bench/_analysis.py:run": "being split",
    "bench/_dispatch.py:_run": "being split",
    "bench/_parallel.py:_measure": "being split",
    "bench/_startup.py:_run": "being split",
    "bench/_startup.py:_report": "being split",
    "cli/_completion.py:bash_script": "a shell script template, read as one",
    "cli/_run.py:register": "being split",
}


def _functions(path: Path) -> list[tuple[str, int]]:
    """``(Class.function, lines of code without the docstring)`` of every function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = child.body
                first = body[0]
                has_doc = (
                    isinstance(first, ast.Expr)
                    and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)
                    and len(body) > 1
                )
                start = body[1].lineno if has_doc else first.lineno
                found.append((f"{prefix}{child.name}", (child.end_lineno or start) - start + 1))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return found


def _long_functions() -> dict[str, int]:
    out = {}
    for path in _modules():
        rel = path.relative_to(PACKAGE).as_posix()
        for name, lines in _functions(path):
            if lines > MAX_FUNCTION_LINES:
                out[f"{rel}:{name}"] = lines
    return out


_LONG_MODULES: dict[str, str] = {}


def test_modules_stay_under_the_size_limit() -> None:
    sizes = {
        path.relative_to(PACKAGE).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in _modules()
    }
    long = {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES}
    assert {name: n for name, n in long.items() if name not in _LONG_MODULES} == {}
    assert sorted(set(_LONG_MODULES) - set(long)) == []


def test_functions_stay_under_the_size_limit() -> None:
    long = _long_functions()
    assert {name: n for name, n in long.items() if name not in _LONG_FUNCTIONS} == {}


def test_the_long_list_is_current() -> None:
    assert sorted(set(_LONG_FUNCTIONS) - set(_long_functions())) == []
