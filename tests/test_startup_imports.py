"""What `victor plugins list` and building an orchestrator import, in fresh interpreters.

With a warm discovery index neither needs ``importlib.metadata`` (the index
replaces the metadata scan), nor any of the heavy modules that only running
an agent needs. The checks run in child interpreters, started the ways users
start them (a script, ``python -m``, ``python -c``), since each puts a
different first entry on ``sys.path`` and so a different index key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from victor_core.plugins._discovery import MAX_SLOTS
from victor_core.plugins._distributions import make_distribution

HEAVY = ("asyncio", "structlog", "psutil", "diskcache", "sqlite3", "httpx", "importlib.metadata")

# Runs the CLI as the console script does, then reports what was imported.
_CLI_WRAPPER = """
import json, sys
from victor_core.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""

_ORCHESTRATOR = """
import json, sys
from victor_core import AgentOrchestrator
AgentOrchestrator()
print(json.dumps({"code": 0, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    make_distribution(
        site,
        "victor-listed",
        {"victor_core.tools": {"listed": "listed_plugin"}},
        modules={"listed_plugin": "import asyncio\n"},
    )
    environ = dict(os.environ)
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME", "PYTHONSTARTUP"):
        environ.pop(name, None)
    previous = environ.get("PYTHONPATH")
    environ["PYTHONPATH"] = str(site) + (os.pathsep + previous if previous else "")
    environ["VICTOR_CACHE_DIR"] = str(tmp_path / "cache")
    environ["VICTOR_DATA_DIR"] = str(tmp_path / "data")
    return environ


def _child(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[str, set[str]]:
    proc = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["code"] == 0
    return proc.stdout, set(report["modules"])


def _script(tmp_path: Path, name: str, source: str) -> Path:
    folder = tmp_path / f"bin-{name}"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return path


def test_plugins_list_with_a_warm_index_imports_nothing_heavy(
    tmp_path: Path, env: dict[str, str]
) -> None:
    wrapper = _script(tmp_path, "victor", _CLI_WRAPPER)
    argv = [sys.executable, str(wrapper), "plugins", "list"]
    _, cold = _child(argv, env, tmp_path)
    assert "importlib.metadata" in cold  # the first run scans and writes the index
    out, warm = _child(argv, env, tmp_path)
    assert "listed" in out
    assert "listed_plugin" not in warm
    assert not warm & set(HEAVY), sorted(warm & set(HEAVY))


def test_building_an_orchestrator_imports_nothing_heavy(
    tmp_path: Path, env: dict[str, str]
) -> None:
    _child([sys.executable, "-c", _ORCHESTRATOR], env, tmp_path)
    _, modules = _child([sys.executable, "-c", _ORCHESTRATOR], env, tmp_path)
    assert not modules & {*HEAVY, "listed_plugin"}, sorted(modules & {*HEAVY, "listed_plugin"})


def test_alternating_ways_of_starting_keep_the_index_warm(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # A script, ``python -c`` and scripts in other folders each have their own
    # sys.path[0]; each gets a slot, so none rescans after its first run.
    starts = [
        [sys.executable, str(_script(tmp_path, "victor", _CLI_WRAPPER)), "plugins", "list"],
        [sys.executable, "-c", _CLI_WRAPPER, "plugins", "list"],
        [sys.executable, str(_script(tmp_path, "other", _CLI_WRAPPER)), "plugins", "list"],
    ]
    for argv in starts:
        _child(argv, env, tmp_path)
    for argv in starts:
        out, modules = _child(argv, env, tmp_path)
        assert "listed" in out
        assert "importlib.metadata" not in modules, argv
    index = next((tmp_path / "cache").glob("plugin-index-*.json"))
    document = json.loads(index.read_text(encoding="utf-8"))
    assert len(document["others"]) == len(starts) - 1


def test_the_index_keeps_at_most_max_slots(tmp_path: Path, env: dict[str, str]) -> None:
    for n in range(MAX_SLOTS + 2):
        script = _script(tmp_path, f"start{n}", _CLI_WRAPPER)
        _child([sys.executable, str(script), "plugins", "list"], env, tmp_path)
    index = next((tmp_path / "cache").glob("plugin-index-*.json"))
    document = json.loads(index.read_text(encoding="utf-8"))
    assert len(document["others"]) == MAX_SLOTS - 1
    # The newest start is the first slot; the oldest were dropped.
    assert document["key"][0][0] == str(tmp_path / f"bin-start{MAX_SLOTS + 1}")
    kept = {slot["key"][0][0] for slot in document["others"]}
    assert str(tmp_path / "bin-start0") not in kept
    assert str(tmp_path / "bin-start1") not in kept
