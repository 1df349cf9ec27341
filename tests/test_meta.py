"""Meta-tests: the project keeps its promises about itself.

Every hookspec is tested and documented, every setting is documented, the
public API is what DESIGN promises with a sorted ``__all__``, the bundled
plugins are complete distributions, the scaffold's templates ship as package
data, and the README's quickstart is what CI runs.
"""

from __future__ import annotations

import fnmatch
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import victor_core
from victor_core._markers import PROJECT_NAME
from victor_core.hookspecs import FAMILIES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
DOCS = ROOT / "docs"

#: The public API of DESIGN.md.
DESIGN_NAMES = {
    "AgentOrchestrator",
    "Settings",
    "hookimpl",
    "hookspec",
    "Tool",
    "Skill",
    "Persona",
    "Plan",
    "PlanStep",
    "ToolResult",
    "PluginManager",
    "VictorError",
    "__version__",
}


def _hookspecs() -> dict[str, tuple[str, Any]]:
    found: dict[str, tuple[str, Any]] = {}
    for family, module in FAMILIES.items():
        for name, obj in vars(module).items():
            if callable(obj) and getattr(obj, f"{PROJECT_NAME}_spec", None) is not None:
                found[name] = (family, obj)
    return found


HOOKSPECS = _hookspecs()


# -- hooks ----------------------------------------------------------------------------------


def test_every_family_has_hookspecs() -> None:
    families = {family for family, _ in HOOKSPECS.values()}
    assert families == set(FAMILIES)
    assert {"tools", "skills", "personas", "planning", "memory", "providers"} <= families


def test_hookspecs_are_named_for_the_project() -> None:
    assert all(name.startswith("victor_") for name in HOOKSPECS)


@pytest.mark.parametrize("name", sorted(HOOKSPECS))
def test_every_hookspec_has_a_test(name: str) -> None:
    own = {"test_meta.py", "test_docs.py"}
    users = [
        p.name
        for p in TESTS.glob("test_*.py")
        if p.name not in own and re.search(rf"\b{name}\b", p.read_text(encoding="utf-8"))
    ]
    assert users, f"no test in tests/ exercises the hook {name}"


@pytest.mark.parametrize("name", sorted(HOOKSPECS))
def test_every_hookspec_is_documented(name: str) -> None:
    _family, spec = HOOKSPECS[name]
    doc = inspect.getdoc(spec) or ""
    summary = doc.split("\n", 1)[0]
    assert summary.endswith("."), f"{name}: the docstring needs a one-line summary"
    assert "Called" in doc, f"{name}: the docstring must say when it is called"
    reference = (DOCS / "hooks.md").read_text(encoding="utf-8")
    assert f"### `{name}`" in reference, f"docs/hooks.md has no entry for {name}"
    params = ", ".join(inspect.signature(spec).parameters)
    assert f"{name}({params})" in reference


def test_hookspec_arguments_are_documented() -> None:
    for name, (_, spec) in HOOKSPECS.items():
        doc = inspect.getdoc(spec) or ""
        for param in inspect.signature(spec).parameters:
            assert param in doc, f"{name}: argument {param!r} is not described"


# -- settings ---------------------------------------------------------------------------------


def test_every_setting_is_documented() -> None:
    from victor_core.settings import Settings

    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for name, (_default, doc, accepts) in Settings.field_docs().items():
        assert doc.strip(), f"setting {name} has no description"
        assert accepts.strip(), f"setting {name} does not say what it accepts"
        assert f"| `{name}` |" in page, f"docs/configuration.md does not document {name}"


def test_every_setting_of_the_users_guide_exists() -> None:
    from victor_core.settings import Settings

    guide = ROOT.parent / "shared" / "reference"
    if not guide.is_dir():
        pytest.skip("the user's guide is not beside this checkout")
    text = "\n".join(p.read_text(encoding="utf-8") for p in guide.glob("*.md"))
    named = set(re.findall(r"settings\.([a-z_]+)\s*(?:=|\*=)", text))
    named |= set(re.findall(r"`([a-z_]+)=[^`]*`", text))
    known = set(Settings.field_docs())
    missing = sorted(n for n in named if n not in known and not n.startswith("provider_"))
    assert not missing, f"settings of the user's guide missing from Settings: {missing}"


# -- public API --------------------------------------------------------------------------------


def test_all_is_sorted() -> None:
    assert victor_core.__all__ == sorted(victor_core.__all__)
    assert len(set(victor_core.__all__)) == len(victor_core.__all__)


def test_all_has_the_design_names() -> None:
    missing = DESIGN_NAMES - set(victor_core.__all__)
    assert not missing, f"victor_core.__all__ lacks {sorted(missing)}"


def test_every_name_in_all_resolves() -> None:
    for name in victor_core.__all__:
        assert getattr(victor_core, name) is not None, name
    assert re.match(r"^\d+\.\d+", victor_core.__version__)


_PUBLIC = """
import json, types, typing, __future__
import victor_core
plumbing = [*vars(typing).values(), typing.TYPE_CHECKING]
names = {
    name for name, value in vars(victor_core).items()
    if not name.startswith("_")
    and not isinstance(value, (types.ModuleType, __future__._Feature))
    and not any(value is p for p in plumbing)
}
# Names the module resolves lazily through its __getattr__.
names |= set(getattr(victor_core, "_LAZY", {}))
print(json.dumps(sorted(names)))
"""


def test_all_matches_the_public_names() -> None:
    # In a fresh interpreter: other tests' imports add submodules as attributes.
    import json

    out = subprocess.run(
        [sys.executable, "-c", _PUBLIC], capture_output=True, text=True, check=True
    ).stdout
    public = set(json.loads(out))
    exported = set(victor_core.__all__) - {"__version__"}
    assert public == exported, (
        f"public but not in __all__: {sorted(public - exported)}; "
        f"in __all__ but not public: {sorted(exported - public)}"
    )


# -- the bundled plugins and the scaffold ---------------------------------------------------------


PLUGIN_DIRS = sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())


@pytest.mark.parametrize("plugin", PLUGIN_DIRS, ids=lambda p: p.name)
def test_bundled_plugins_are_complete_distributions(plugin: Path) -> None:
    meta = tomllib.loads((plugin / "pyproject.toml").read_text(encoding="utf-8"))
    project = meta["project"]
    assert project["name"] == plugin.name
    assert any(dep.startswith("victor-core") for dep in project["dependencies"])
    groups = project.get("entry-points", {})
    assert any(g.startswith("victor_core.") for g in groups), "no victor_core.* entry point"
    assert (plugin / "README.md").is_file()
    assert list((plugin / "tests").glob("test_*.py")), "no tests"
    for group, entries in groups.items():
        if not group.startswith("victor_core."):
            continue
        for value in entries.values():
            module = value.split(":")[0]
            path = plugin / Path(*module.split("."))
            assert path.with_suffix(".py").is_file() or (path / "__init__.py").is_file(), value


def test_scaffold_templates_ship_as_package_data() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = meta["tool"]["setuptools"]["package-data"]["victor_core"]
    package = ROOT / "victor_core"
    templates = [p for p in (package / "scaffold" / "templates").rglob("*") if p.is_file()]
    assert templates
    for path in templates:
        rel = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(rel, pat) for pat in patterns), f"{rel} is not package data"


def test_scaffold_has_templates_for_every_family() -> None:
    from victor_core.plugins import BUILTIN_FAMILIES
    from victor_core.scaffold import FAMILIES as SCAFFOLD_FAMILIES

    # Backends are engines (a cache level, an executor), not a first plugin to start from.
    assert set(SCAFFOLD_FAMILIES) == set(BUILTIN_FAMILIES) - {"backends"}
    for family, hook in SCAFFOLD_FAMILIES.items():
        assert hook in HOOKSPECS, hook
        assert HOOKSPECS[hook][0] == family


# -- quickstart, changelog ------------------------------------------------------------------------


def _quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [b.strip() for b in re.findall(r"```(?:sh|console|bash)\n(.*?)```", section, re.S)]


def test_readme_quickstart_has_two_commands() -> None:
    commands = _quickstart_commands()
    assert len(commands) == 2
    assert all("\n" not in c for c in commands), "each quickstart block is one command line"


def test_ci_runs_the_quickstart_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _quickstart_commands()[1] in ci


def test_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog")
    assert "## [Unreleased]" in text
    assert "Keep a Changelog" in text
    for heading in re.findall(r"^### (.+)$", text, re.MULTILINE):
        assert heading in {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
