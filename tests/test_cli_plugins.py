"""``victor plugins list`` and the command line's error handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from victor_core.cli import main
from victor_core.testing import make_distribution


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


def test_plugins_list_json_imports_nothing(victor: Any, site: Path, tmp_path: Path) -> None:
    out = victor("plugins", "list", "--json", site=site, tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    demo = next(p for p in doc["plugins"] if p["name"] == "demo")
    assert demo["dist_name"] == "victor-cli-demo"
    assert demo["dist_version"] == "3.1"
    assert demo["family"] == "tools"
    assert demo["loaded"] is False


def test_plugins_list_table_with_load_shows_errors(victor: Any, site: Path, tmp_path: Path) -> None:
    out = victor("plugins", "list", "--load", site=site, tmp_path=tmp_path)
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


def test_config_json_from_a_project_folder(victor: Any, site: Path, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.victor]\nmax_parallel_workers = 5\n")
    out = victor("config", "--json", site=site, tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = {row["name"]: row for row in json.loads(out.stdout)}
    assert rows["max_parallel_workers"]["value"] == 5
    assert rows["max_parallel_workers"]["source"] == f"{tmp_path / 'pyproject.toml'}:2"
    assert rows["cache_dir"]["source"] == "env"
    assert rows["cache_dir"]["variable"] == "VICTOR_CACHE_DIR"
    assert rows["lazy_loading_enabled"]["source"] == "default"


def test_plugins_show_and_hooks_json(victor: Any, site: Path, tmp_path: Path) -> None:
    out = victor("plugins", "show", "demo", "--json", site=site, tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["dist_name"], doc["dist_version"], doc["family"]) == (
        "victor-cli-demo",
        "3.1",
        "tools",
    )
    assert doc["state"] == "loaded"
    assert doc["hooks"] == ["victor_tools"]
    broken = victor("plugins", "show", "broken", "--json", site=site, tmp_path=tmp_path)
    assert broken.returncode == 1
    assert "missing dependency foo" in json.loads(broken.stdout)["error"]
    typo = victor("plugins", "show", "dmeo", site=site, tmp_path=tmp_path)
    assert typo.returncode == 2
    assert typo.stderr.strip().splitlines()[-1].endswith("did you mean 'demo'?")
    hooks = victor("hooks", "--json", site=site, tmp_path=tmp_path)
    assert hooks.returncode == 0, hooks.stderr
    families = {f["name"]: f for f in json.loads(hooks.stdout)["families"]}
    tools = {h["name"]: h for h in families["tools"]["hooks"]}
    assert "demo" in tools["victor_tools"]["implemented_by"]


def test_disable_skips_a_plugin_and_warns_on_unknown_names(
    victor: Any, site: Path, tmp_path: Path
) -> None:
    out = victor(
        "--disable",
        "demo",
        "plugins",
        "list",
        "--json",
        "--disable",
        "dmo",
        site=site,
        tmp_path=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    demo = next(p for p in json.loads(out.stdout)["plugins"] if p["name"] == "demo")
    assert demo["state"] == "disabled"
    assert "did you mean 'demo'?" in out.stderr


def test_bare_victor_prints_a_usage_line_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: victor")
    assert len(captured.err.strip().splitlines()) == 1


def test_python_m_victor_core_and_broken_pipe(site: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(site), "VICTOR_CACHE_DIR": str(tmp_path / "c")}
    proc = subprocess.run(
        f"{sys.executable} -m victor_core config | head -1",
        shell=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.stdout.startswith("setting")
    assert "Broken pipe" not in proc.stderr and "Traceback" not in proc.stderr


def test_bash_completion_completes_commands(tmp_path: Path) -> None:
    script = tmp_path / "victor.bash"
    out = subprocess.run(
        [sys.executable, "-m", "victor_core", "completion", "bash"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    script.write_text(out.stdout)
    probe = (
        f"source {script}; COMP_WORDS=(victor plugins s); COMP_CWORD=2; _victor;"
        ' echo "${COMPREPLY[@]}"; COMP_WORDS=(victor --color ""); COMP_CWORD=2; _victor;'
        ' echo "${COMPREPLY[@]}"'
    )
    lines = subprocess.run(
        ["bash", "-c", probe], capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    assert lines == ["show", "auto always never"]


def test_no_color_under_a_terminal(tmp_path: Path) -> None:
    import pty

    code = (
        "import sys; from victor_core.cli import main; sys.exit(main(['plugins', 'show', 'nope']))"
    )
    results = {}
    for no_color in ("1", ""):
        env = {**os.environ, "NO_COLOR": no_color, "VICTOR_CACHE_DIR": str(tmp_path / "c")}
        env.pop("FORCE_COLOR", None)
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-c", code], stdout=follower, stderr=follower, env=env
        )
        os.close(follower)
        chunks = []
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        proc.wait(timeout=60)
        os.close(leader)
        results[no_color] = b"".join(chunks)
    assert b"no plugin named 'nope'" in results["1"]
    assert b"\x1b[" not in results["1"]
    assert b"\x1b[" in results[""]
