"""``victor plugins list`` and the command line's error handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from victor_core.cli import main
from victor_core.testing import make_distribution


def _victor(*args: str, site: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "VICTOR_CACHE_DIR": str(tmp_path / "cache"),
        "VICTOR_DATA_DIR": str(tmp_path / "data"),
    }
    return subprocess.run(
        [sys.executable, "-m", "victor_core.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    make_distribution(
        site,
        "victor-cli-demo",
        {
            "victor_core.tools": {"demo": "cli_demo"},
            "victor_core.personas": {"broken": "cli_broken"},
        },
        version="3.1",
        modules={
            "cli_demo": "from victor_core import hookimpl\n@hookimpl\ndef victor_tools():\n    return []\n",
            "cli_broken": "raise ImportError('missing dependency foo')",
        },
    )
    return site


def test_plugins_list_json_imports_nothing(site: Path, tmp_path: Path) -> None:
    out = _victor("plugins", "list", "--json", site=site, tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    demo = next(p for p in doc["plugins"] if p["name"] == "demo")
    assert demo["dist_name"] == "victor-cli-demo"
    assert demo["dist_version"] == "3.1"
    assert demo["family"] == "tools"
    assert demo["loaded"] is False


def test_plugins_list_table_with_load_shows_errors(site: Path, tmp_path: Path) -> None:
    out = _victor("plugins", "list", "--load", site=site, tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["name", "family", "distribution"]
    broken = next(line for line in lines if line.startswith("broken"))
    assert "error" in broken and "missing dependency foo" in broken
    demo = next(line for line in lines if line.startswith("demo"))
    assert "loaded" in demo


def test_bad_setting_is_one_clear_line(site: Path, tmp_path: Path) -> None:
    env_out = subprocess.run(
        [sys.executable, "-m", "victor_core.cli", "plugins", "list"],
        capture_output=True,
        text=True,
        env={**os.environ, "VICTOR_MAX_PARALLEL_WORKERS": "lots"},
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert env_out.returncode == 2
    assert env_out.stderr.strip().splitlines() == [
        "victor: error: VICTOR_MAX_PARALLEL_WORKERS (setting max_parallel_workers) must be "
        "an int between 1 and 256 (got 'lots')"
    ]
    assert "Traceback" not in env_out.stderr


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(tmp_path / "nope.toml"), "plugins", "list"])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("victor-core ")


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: victor" in capsys.readouterr().err
