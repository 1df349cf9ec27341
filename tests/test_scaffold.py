"""``victor plugin new``: the generator, its refusals, and the generated project.

The fast tests check the generated files and load the generated plugin
through real entry points (a dist-info on a temporary path). The slow ones
install victor-core and the generated projects into a fresh virtual
environment, run the projects' own tests there, and run ``tox``.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

from victor_core.cli import _plugin_new
from victor_core.exceptions import VictorError
from victor_core.plugins import PluginManager
from victor_core.scaffold import FAMILIES, ScaffoldError, create_plugin, validate_name

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

EXPECTED_FILES = {
    "pyproject.toml",
    "README.md",
    "tox.ini",
    ".gitignore",
    "src/{module}/__init__.py",
    "src/{module}/plugin.py",
    "src/{module}/py.typed",
    "tests/test_plugin.py",
}


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# -- the generated project -------------------------------------------------------------------


@pytest.mark.parametrize("family", list(FAMILIES))
def test_generates_a_complete_project(tmp_path: Path, family: str) -> None:
    target = create_plugin(f"victor-demo-{family}", family=family, directory=tmp_path)
    module = f"victor_demo_{family}"
    assert target == tmp_path / f"victor-demo-{family}"
    assert _files(target) == {f.format(module=module) for f in EXPECTED_FILES}

    meta = tomllib.loads((target / "pyproject.toml").read_text(encoding="utf-8"))
    project = meta["project"]
    assert project["name"] == f"victor-demo-{family}"
    assert project["requires-python"] == ">=3.10"
    assert any(dep.startswith("victor-core") for dep in project["dependencies"])
    assert project["entry-points"] == {
        f"victor_core.{family}": {f"demo-{family}": f"{module}.plugin"}
    }

    plugin_src = (target / "src" / module / "plugin.py").read_text(encoding="utf-8")
    tree = ast.parse(plugin_src)
    hooks = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d).startswith("hookimpl") for d in node.decorator_list)
    ]
    assert hooks == [FAMILIES[family]]
    hook = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in hooks)
    assert ast.get_docstring(hook), "the hook implementation is documented"
    assert ast.get_docstring(tree)

    test_src = (target / "tests" / "test_plugin.py").read_text(encoding="utf-8")
    ast.parse(test_src)
    # The tests use the fixtures of victor_core.testing.
    assert "victor_plugin_manager" in test_src

    # Every placeholder was filled in.
    for path in target.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"\$\{?[a-z_]+\}?", text.replace("$VICTOR_CORE_SPEC", "")), path


def test_tox_ini_runs_py310_to_py313_with_victor_core_factors(tmp_path: Path) -> None:
    target = create_plugin("victor-demo", directory=tmp_path)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(target / "tox.ini", encoding="utf-8")
    assert parser["tox"]["env_list"].split() == ["py313", "py312", "py311", "py310"]
    assert parser["tox"]["skip_missing_interpreters"].strip() == "true"
    deps = parser["testenv"]["deps"]
    assert "victormin: victor-core==" in deps
    assert "victorlatest: victor-core" in deps
    assert "{env:VICTOR_CORE_SPEC:victor-core" in deps
    assert "pytest {posargs}" in parser["testenv"]["commands"]


def test_readme_tells_how_to_install_test_and_disable(tmp_path: Path) -> None:
    target = create_plugin("victor-demo", directory=tmp_path, description="Counts things.")
    readme = (target / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# victor-demo\n\nCounts things.")
    for phrase in ("pip install -e .", "victor plugins list", "tox", "disabled_plugins", "pytest"):
        assert phrase in readme


def test_description_with_quotes_stays_valid(tmp_path: Path) -> None:
    text = 'Say "hi" \\ and \'bye\' """ twice'
    target = create_plugin("victor-quotes", directory=tmp_path, description=text)
    meta = tomllib.loads((target / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["description"] == text
    init = (target / "src" / "victor_quotes" / "__init__.py").read_text(encoding="utf-8")
    ast.parse(init)


def test_entry_point_name_drops_the_victor_prefix(tmp_path: Path) -> None:
    for name, ep in [("victor-line-counter", "line-counter"), ("Acme.Tools", "acme-tools")]:
        target = create_plugin(name, directory=tmp_path)
        meta = tomllib.loads((target / "pyproject.toml").read_text(encoding="utf-8"))
        assert list(meta["project"]["entry-points"]["victor_core.tools"]) == [ep]


def test_default_directory_is_the_current_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert create_plugin("victor-here") == tmp_path / "victor-here"


def test_creates_missing_parent_folders(tmp_path: Path) -> None:
    target = create_plugin("victor-deep", directory=tmp_path / "a" / "b")
    assert (target / "pyproject.toml").is_file()


# -- where the generated tox.ini installs victor-core from ------------------------------------


def test_tox_ini_holds_no_path_of_this_machine(tmp_path: Path) -> None:
    # victor-core is installed here from a local checkout: the generated
    # tox.ini must still name a requirement, not that folder.
    import configparser

    target = create_plugin("victor-portable", directory=tmp_path)
    text = (target / "tox.ini").read_text(encoding="utf-8")
    assert str(ROOT) not in text
    assert str(Path.home()) not in text
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    deps = [line.strip() for line in parser["testenv"]["deps"].splitlines() if line.strip()]
    default = next(d for d in deps if d.startswith("!victormin-!victorlatest:"))
    spec = default.split(":", 1)[1].strip()
    assert spec.startswith("{env:VICTOR_CORE_SPEC:victor-core") and spec.endswith("}")
    for dep in deps:
        value = dep.split(":", 1)[1] if ":" in dep and not dep.startswith("{") else dep
        assert not Path(value.strip().strip("{}")).is_absolute(), dep


# -- loading the generated plugin through real entry points -------------------------------


def _install_as_dist(target: Path, installer: Any) -> tuple[str, str, str]:
    """Install the generated project as a dist-info + modules on the fixture's path."""
    meta = tomllib.loads((target / "pyproject.toml").read_text(encoding="utf-8"))
    project = meta["project"]
    ((group, eps),) = project["entry-points"].items()
    ((ep_name, value),) = eps.items()
    module = value.split(".")[0]
    src = target / "src" / module
    installer.add(
        project["name"],
        project["entry-points"],
        version=project["version"],
        modules={
            module: (src / "__init__.py").read_text(encoding="utf-8"),
            f"{module}.plugin": (src / "plugin.py").read_text(encoding="utf-8"),
        },
    )
    return group, ep_name, module


@pytest.mark.parametrize("family", list(FAMILIES))
def test_generated_plugin_loads_lazily_from_its_entry_point(
    tmp_path: Path, family: str, victor_entry_points: Any, victor_settings: Any
) -> None:
    target = create_plugin(f"victor-lazy-{family}", family=family, directory=tmp_path / "gen")
    _group, ep_name, module = _install_as_dist(target, victor_entry_points)
    manager = PluginManager(victor_settings, index_path=None)

    infos = {i.name: i for i in manager.list_plugins()}
    assert infos[ep_name].family == family
    assert infos[ep_name].dist_name == f"victor-lazy-{family}"
    assert f"{module}.plugin" not in sys.modules, "listing imported the plugin"

    hook = getattr(manager.hook, FAMILIES[family])
    if family == "planning":
        result = hook(goal="count words in a b", context={})
        assert result is not None and result.metadata["planner"] == f"victor-lazy-{family}"
    elif family == "memory":
        assert type(hook(settings=victor_settings)).__name__ == "InMemoryBackend"
    else:
        assert any(batch for batch in hook())
    infos = {i.name: i for i in manager.list_plugins()}
    assert infos[ep_name].loaded and infos[ep_name].error is None


# -- a family an installed distribution defines ------------------------------------------------

_GREET_SPECS = """
from victor_core import hookspec


@hookspec
def victor_greet_hello(name):
    \"\"\"Say hello to ``name``.

    Called for every greeting.
    \"\"\"


@hookspec(firstresult=True)
def victor_greet_language():
    \"\"\"Return the language to greet in.\"\"\"
"""


def _install_greet_family(installer: Any, source: str = _GREET_SPECS) -> None:
    installer.add(
        "victor-greet",
        {"victor_core.hookspecs": {"greet": "victor_greet_specs"}},
        modules={"victor_greet_specs": source},
    )


def test_generates_a_plugin_of_an_installed_family(
    tmp_path: Path, victor_entry_points: Any, victor_settings: Any
) -> None:
    _install_greet_family(victor_entry_points)
    target = create_plugin("victor-hello-fr", family="greet", directory=tmp_path / "gen")

    meta = tomllib.loads((target / "pyproject.toml").read_text(encoding="utf-8"))
    project = meta["project"]
    assert project["entry-points"] == {"victor_core.greet": {"hello-fr": "victor_hello_fr.plugin"}}
    assert project["dependencies"][1:] == ["victor-greet"]
    plugin_src = (target / "src" / "victor_hello_fr" / "plugin.py").read_text(encoding="utf-8")
    tree = ast.parse(plugin_src)
    stubs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert set(stubs) == {"victor_greet_hello", "victor_greet_language"}
    assert [a.arg for a in stubs["victor_greet_hello"].args.args] == ["name"]
    assert "Say hello" in (ast.get_docstring(stubs["victor_greet_hello"]) or "")
    assert "First result" in (ast.get_docstring(stubs["victor_greet_language"]) or "")
    assert "victor-greet" in (target / "tox.ini").read_text(encoding="utf-8")
    ast.parse((target / "tests" / "test_plugin.py").read_text(encoding="utf-8"))

    # The generated plugin registers cleanly in the family and loads lazily.
    _, ep_name, module = _install_as_dist(target, victor_entry_points)
    manager = PluginManager(victor_settings, index_path=None)
    assert f"{module}.plugin" not in sys.modules
    manager.load_family("greet")
    info = {i.name: i for i in manager.list_plugins()}[ep_name]
    assert info.family == "greet"
    assert info.loaded and info.error is None
    assert manager.hook.victor_greet_hello(name="Ada") == []


def test_an_unknown_family_lists_the_installed_ones(
    tmp_path: Path, victor_entry_points: Any
) -> None:
    _install_greet_family(victor_entry_points)
    with pytest.raises(ScaffoldError, match=r"installed family: .*greet") as info:
        create_plugin("victor-x", family="gret", directory=tmp_path)
    assert "'gret'" in str(info.value)


def test_a_family_whose_hookspecs_fail_to_import(tmp_path: Path, victor_entry_points: Any) -> None:
    _install_greet_family(victor_entry_points, "raise RuntimeError('broken specs')\n")
    with pytest.raises(ScaffoldError, match="failed to import: RuntimeError: broken specs"):
        create_plugin("victor-x", family="greet", directory=tmp_path / "gen")
    assert not (tmp_path / "gen").exists()


def test_a_family_without_hookspecs(tmp_path: Path, victor_entry_points: Any) -> None:
    _install_greet_family(victor_entry_points, "X = 1\n")
    with pytest.raises(ScaffoldError, match="defines no hookspec"):
        create_plugin("victor-x", family="greet", directory=tmp_path)


# -- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["", "-bad", "bad-", "has space", "two__", "ünïcode", "a/b", "..", "x" * 0 + "."],
)
def test_refuses_invalid_distribution_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ScaffoldError) as info:
        create_plugin(name, directory=tmp_path)
    message = str(info.value)
    assert repr(name) in message
    assert "letters, digits" in message
    assert info.value.field == "name"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "module"),
    [("1plugin", "1plugin"), ("class", "class"), ("json", "json"), ("victor-core", "victor_core")],
)
def test_refuses_names_whose_module_is_unusable(tmp_path: Path, name: str, module: str) -> None:
    with pytest.raises(ScaffoldError, match=re.escape(repr(module))) as info:
        create_plugin(name, directory=tmp_path)
    assert repr(name) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_validate_name_returns_the_module_name() -> None:
    assert validate_name("Victor.Word-Count") == "victor_word_count"


def test_refuses_an_unknown_family(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError) as info:
        create_plugin("victor-x", family="gadgets", directory=tmp_path)
    message = str(info.value)
    assert "'gadgets'" in message
    for family in FAMILIES:
        assert family in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("description", ["", "   ", "two\nlines", "tab\there"])
def test_refuses_a_bad_description(tmp_path: Path, description: str) -> None:
    with pytest.raises(ScaffoldError, match="description must be"):
        create_plugin("victor-x", directory=tmp_path, description=description)


def test_never_overwrites_an_existing_directory(tmp_path: Path) -> None:
    existing = tmp_path / "victor-mine"
    existing.mkdir()
    (existing / "keep.txt").write_text("precious", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="already exists") as info:
        create_plugin("victor-mine", directory=tmp_path)
    assert str(existing) in str(info.value)
    assert _files(existing) == {"keep.txt"}
    assert (existing / "keep.txt").read_text(encoding="utf-8") == "precious"


def test_never_overwrites_an_empty_directory_or_a_file(tmp_path: Path) -> None:
    (tmp_path / "victor-empty").mkdir()
    with pytest.raises(ScaffoldError, match="already exists"):
        create_plugin("victor-empty", directory=tmp_path)
    (tmp_path / "victor-file").write_text("x", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="already exists"):
        create_plugin("victor-file", directory=tmp_path)
    assert (tmp_path / "victor-file").read_text(encoding="utf-8") == "x"


def test_refuses_a_parent_that_is_a_file(tmp_path: Path) -> None:
    parent = tmp_path / "notadir"
    parent.write_text("x", encoding="utf-8")
    with pytest.raises(ScaffoldError, match="must be a folder"):
        create_plugin("victor-x", directory=parent)


def test_scaffold_error_is_a_victor_error_and_a_value_error() -> None:
    assert issubclass(ScaffoldError, VictorError)
    assert issubclass(ScaffoldError, ValueError)


# -- the command line ------------------------------------------------------------------------


def _main(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    from victor_core import cli

    if "_plugin_new" not in cli._COMMAND_MODULES:
        monkeypatch.setattr(cli, "_COMMAND_MODULES", (*cli._COMMAND_MODULES, "_plugin_new"))
    return cli.main(argv)


def test_cli_generates_and_prints_next_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _main(
        ["plugin", "new", "victor-cli-demo", "--family", "skills", "--directory", str(tmp_path)],
        monkeypatch,
    )
    out = capsys.readouterr().out
    assert code == 0
    assert (tmp_path / "victor-cli-demo" / "src" / "victor_cli_demo" / "plugin.py").is_file()
    assert str(tmp_path / "victor-cli-demo") in out
    assert "pip install -e" in out and "tox" in out


def test_cli_json_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _main(
        ["plugin", "new", "victor-json", "--directory", str(tmp_path), "--json"], monkeypatch
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["path"] == str(tmp_path / "victor-json")
    assert doc["family"] == "tools"
    assert "pyproject.toml" in doc["files"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["plugin", "new", "bad name"], "'bad name'"),
        (["plugin", "new", "victor-x", "--family", "nope"], "'nope'"),
    ],
)
def test_cli_errors_are_one_line_and_exit_2(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    code = _main(argv, monkeypatch)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("victor: error: ")
    assert expected in err
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_an_existing_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "victor-taken").mkdir()
    code = _main(["plugin", "new", "victor-taken", "--directory", str(tmp_path)], monkeypatch)
    assert code == 2
    assert "already exists" in capsys.readouterr().err


def test_cli_family_list_matches_the_scaffold() -> None:
    assert tuple(FAMILIES) == _plugin_new._FAMILIES


def test_cli_module_is_cheap_to_import() -> None:
    code = (
        "import sys, victor_core.cli._plugin_new; "
        "print(sorted(m for m in ('victor_core.scaffold', 'importlib.metadata', 'asyncio') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# -- the real thing: a fresh virtual environment ------------------------------------------------


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    # A tox run of the generated project must not inherit the outer tox run's
    # work directory (TOX_WORK_DIR and friends), or it would clean the outer
    # run's packages.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VICTOR_", "PYTEST_", "TOX_", "_TOX")) and k != "VIRTUAL_ENV"
    }
    env.update(kwargs.pop("env", {}))
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, **kwargs)
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}"
        )
    return proc


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment with victor-core (built from this tree) and pytest."""
    home = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(home)
    python = home / ("Scripts" if os.name == "nt" else "bin") / "python"
    _run([str(python), "-m", "pip", "install", "-q", str(ROOT), "pytest>=8"])
    return python


@pytest.mark.slow
def test_generated_projects_pass_their_own_tests_in_a_fresh_venv(
    fresh_venv: Path, tmp_path: Path
) -> None:
    python = fresh_venv
    # victor-notify defines the family "notify": a plugin of it is generated too.
    _run([str(python), "-m", "pip", "install", "-q", str(ROOT / "plugins" / "victor-notify")])
    families = [*FAMILIES, "notify"]
    projects = []
    for family in families:
        # Generated by the installed victor-core: its templates are package data.
        _run(
            [
                str(python),
                "-c",
                "import sys; from victor_core.scaffold import create_plugin; "
                "create_plugin(sys.argv[1], family=sys.argv[2], directory=sys.argv[3])",
                f"victor-fresh-{family}",
                family,
                str(tmp_path),
            ]
        )
        projects.append(tmp_path / f"victor-fresh-{family}")
    _run([str(python), "-m", "pip", "install", "-q", *map(str, projects)])
    for project in projects:
        _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project)

    bindir = python.parent
    listed = _run(
        [str(bindir / "victor"), "plugins", "list", "--json"],
        env={
            "VICTOR_CACHE_DIR": str(tmp_path / "cache"),
            "VICTOR_DATA_DIR": str(tmp_path / "data"),
        },
    )
    doc = json.loads(listed.stdout)
    rows = doc["plugins"] if isinstance(doc, dict) else doc
    names = {row["name"] for row in rows}
    assert {f"fresh-{family}" for family in families} <= names


@pytest.mark.slow
def test_generated_project_passes_under_tox(fresh_venv: Path, tmp_path: Path) -> None:
    python = fresh_venv
    _run([str(python), "-m", "pip", "install", "-q", "tox>=4"])
    project = create_plugin("victor-tox-demo", directory=tmp_path)
    env_name = f"py{sys.version_info.major}{sys.version_info.minor}"
    proc = _run(
        [str(python), "-m", "tox", "-e", env_name, "--", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env={"VICTOR_CORE_SPEC": str(ROOT)},
    )
    assert f"{env_name}: OK" in proc.stdout + proc.stderr
