"""Plugin isolation of calls and imports, queries that load families, strict-mode retries."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pluggy
import pytest
from structlog.testing import capture_logs

from victor_core import hookimpl
from victor_core.exceptions import (
    InvalidArgumentError,
    PluginError,
    PluginLoadError,
    PluginValidationError,
)
from victor_core.plugins import PluginCallError, PluginManager
from victor_core.plugins._isolation import raw_hookimpls
from victor_core.settings import Settings
from victor_core.testing import EntryPointInstaller, make_distribution

GOOD = """
from victor_core import Tool, hookimpl

@hookimpl
def victor_tools():
    return [Tool(name="good", description="a tool", func=lambda: "ok")]
"""

BAD = """
from victor_core import hookimpl

@hookimpl
def victor_tools():
    raise RuntimeError("tool table is corrupt")
"""

ABAD = """
from victor_core import hookimpl

@hookimpl
async def victor_tools():
    raise RuntimeError("async boom")
"""


def _pm(tmp_path: Path, eps: EntryPointInstaller, **kw: Any) -> PluginManager:
    settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", **kw)
    return PluginManager(settings, paths=[str(eps.site)])


@pytest.fixture
def eps(victor_entry_points: EntryPointInstaller) -> EntryPointInstaller:
    return victor_entry_points


def _install(eps: EntryPointInstaller, tag: str, bad: str = BAD) -> None:
    eps.add(
        f"victor-good-{tag}",
        {"victor_core.tools": {"good": f"good_{tag}"}},
        modules={f"good_{tag}": GOOD},
    )
    eps.add(
        f"victor-bad-{tag}",
        {"victor_core.tools": {"bad": f"bad_{tag}"}},
        modules={f"bad_{tag}": bad},
    )


def test_a_raising_call_is_reported_and_other_results_kept(
    tmp_path: Path, eps: EntryPointInstaller
) -> None:
    _install(eps, "a")
    pm = _pm(tmp_path, eps)
    with capture_logs() as logs:
        results = pm.hook.victor_tools()
        pm.hook.victor_tools()
    assert [t.name for r in results for t in r] == ["good"]
    failed = [e for e in logs if e["event"] == "plugin_call_failed"]
    assert len(failed) == 1  # once per plugin and hook
    assert failed[0]["plugin"] == "bad" and failed[0]["hook"] == "victor_tools"
    assert "'bad'" in failed[0]["message"] and "tool table is corrupt" in failed[0]["message"]
    info = {p.name: p for p in pm.list_plugins()}
    assert info["bad"].call_errors == {"victor_tools": "RuntimeError: tool table is corrupt"}
    assert info["good"].call_errors == {}
    assert info["bad"].to_dict()["call_errors"] == info["bad"].call_errors


def test_strict_mode_raises_naming_plugin_and_hook(
    tmp_path: Path, eps: EntryPointInstaller
) -> None:
    _install(eps, "b")
    pm = _pm(tmp_path, eps, strict_plugins=True)
    with pytest.raises(PluginCallError) as info:
        pm.hook.victor_tools()
    err = info.value
    assert isinstance(err, PluginError)
    assert (err.plugin, err.hook, err.family) == ("bad", "victor_tools", "tools")
    assert "'bad'" in str(err) and "'victor_tools'" in str(err)
    assert isinstance(err.__cause__, RuntimeError)


def test_async_implementation_is_isolated(tmp_path: Path, eps: EntryPointInstaller) -> None:
    import asyncio

    _install(eps, "c", bad=ABAD)
    pm = _pm(tmp_path, eps)
    with capture_logs() as logs:
        results = asyncio.run(pm.ahook.victor_tools())
    assert [t.name for r in results if r for t in r] == ["good"]
    assert [e["plugin"] for e in logs if e["event"] == "plugin_call_failed"] == ["bad"]


def test_plugins_registered_by_hand_behave_as_in_pluggy(pm: PluginManager) -> None:
    class Raising:
        @hookimpl
        def victor_tools(self) -> list[Any]:
            raise RuntimeError("by hand")

    pm.register(Raising())
    with pytest.raises(RuntimeError, match="by hand"):
        pm.hook.victor_tools()


def test_system_exit_at_import_is_isolated_keyboard_interrupt_is_not(
    tmp_path: Path, eps: EntryPointInstaller
) -> None:
    eps.add(
        "victor-exit",
        {"victor_core.tools": {"quits": "quits_mod"}},
        modules={"quits_mod": "import sys\nsys.exit(3)\n"},
    )
    eps.add("victor-good-d", {"victor_core.tools": {"good": "good_d"}}, modules={"good_d": GOOD})
    pm = _pm(tmp_path, eps)
    with capture_logs() as logs:
        results = pm.hook.victor_tools()
    assert [t.name for r in results for t in r] == ["good"]
    info = {p.name: p for p in pm.list_plugins()}
    assert info["quits"].error == "SystemExit: 3" and not info["quits"].loaded
    assert any(e["event"] == "plugin_failed" and e["plugin"] == "quits" for e in logs)

    eps.add(
        "victor-ctrl-c",
        {"victor_core.skills": {"stops": "stops_mod"}},
        modules={"stops_mod": "raise KeyboardInterrupt\n"},
    )
    pm2 = _pm(tmp_path, eps)
    pm2.refresh()
    with pytest.raises(KeyboardInterrupt):
        pm2.hook.victor_skills()
    # The family was rolled back, not left half loaded.
    assert not pm2.is_family_loaded("skills")


def test_unknown_disabled_name_warns_with_the_closest(
    tmp_path: Path, eps: EntryPointInstaller
) -> None:
    _install(eps, "e")
    pm = _pm(tmp_path, eps, disabled_plugins=["god", "bad"])
    with capture_logs() as logs:
        pm.list_plugins()
        pm.list_plugins()
    warned = [e for e in logs if e["event"] == "unknown_disabled_plugin"]
    assert len(warned) == 1
    assert warned[0]["plugin"] == "god" and warned[0]["closest"] == "good"
    assert "did you mean 'good'?" in warned[0]["message"]


def test_queries_load_the_families_they_would_miss(
    tmp_path: Path, eps: EntryPointInstaller
) -> None:
    _install(eps, "f")
    eps.add(
        "victor-sk",
        {"victor_core.skills": {"sk": "sk_mod"}},
        modules={
            "sk_mod": "from victor_core import hookimpl\n@hookimpl\ndef victor_skills():\n    return []\n"
        },
    )
    pm = _pm(tmp_path, eps)
    assert "good" in {i.plugin_name for i in pm.hook.victor_tools.get_hookimpls()}
    assert not pm.is_family_loaded("skills")
    assert pm.get_plugin("sk") is not None and pm.is_family_loaded("skills")
    assert pm.has_plugin("good")

    pm2 = _pm(tmp_path, eps)
    assert {"good", "bad", "sk"} <= {n for n, _ in pm2.list_name_plugin()}
    pm3 = _pm(tmp_path, eps)
    assert len(pm3.get_plugins()) >= 3
    pm4 = _pm(tmp_path, eps)
    good = pm4.get_plugin("good")
    sub = pm4.subset_hook_caller("victor_tools", [good])
    assert [i.plugin_name for i in sub.get_hookimpls()] == ["bad"]


def test_strict_failure_leaves_the_family_retryable(
    tmp_path: Path, eps: EntryPointInstaller
) -> None:
    eps.add("victor-good-g", {"victor_core.tools": {"good": "good_g"}}, modules={"good_g": GOOD})
    eps.add(
        "victor-broken-g",
        {"victor_core.tools": {"zbroken": "broken_g"}},
        modules={"broken_g": "raise ImportError('no foo')\n"},
    )
    pm = _pm(tmp_path, eps, strict_plugins=True)
    with pytest.raises(PluginLoadError):
        pm.load_family("tools")
    assert not pm.is_family_loaded("tools")
    assert pm._name2plugin.get("good") is None  # rolled back
    (eps.site / "broken_g.py").write_text(GOOD.replace('"good"', '"fixed"'), encoding="utf-8")
    pm.load_family("tools")
    names = sorted(t.name for r in pm.hook.victor_tools() for t in r)
    assert names == ["fixed", "good"]


def test_pluggy_validation_error_becomes_ours(pm: PluginManager) -> None:
    class WrongArgs:
        @hookimpl
        def victor_tools(self, nonsense: int) -> list[Any]:
            return []

    plugin = WrongArgs()
    with pytest.raises(PluginValidationError) as info:
        pm.register(plugin, name="wrong")
    assert isinstance(info.value, pluggy.PluginValidationError)
    assert info.value.plugin is plugin and "nonsense" in str(info.value)
    assert not pm.is_registered(plugin)


def test_raw_hookimpls_sees_what_pluggy_keeps(pm: PluginManager) -> None:
    class One:
        @hookimpl
        def victor_tools(self) -> list[Any]:
            return []

    pm.register(One(), name="one")
    assert raw_hookimpls(pm.hook.victor_tools) == pm.hook.victor_tools.get_hookimpls()


def test_bad_distribution_name(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="got 'bad name'") as info:
        make_distribution(tmp_path, "bad name", {})
    assert info.value.argument == "name"


def test_cli_run_reports_a_raising_hook_in_one_line(victor: Any, tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_distribution(
        site,
        "victor-cli-bad",
        {"victor_core.tools": {"clibad": "cli_bad"}},
        modules={"cli_bad": BAD},
    )
    (tmp_path / "work").mkdir()
    out = victor(
        "run", "find TODO comments", "--path", str(tmp_path / "work"), site=site, tmp_path=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if "plugin_call_failed" in line]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["plugin"] == "clibad" and record["hook"] == "victor_tools"


def test_cli_plugins_list_shows_a_plugin_that_exits_at_import(victor: Any, tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_distribution(
        site,
        "victor-cli-exit",
        {"victor_core.tools": {"cliexit": "cli_exit"}},
        modules={"cli_exit": "import sys\nsys.exit(7)\n"},
    )
    out = victor("plugins", "list", "--load", "--json", site=site, tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    entry = next(p for p in doc["plugins"] if p["name"] == "cliexit")
    assert entry["error"] == "SystemExit: 7" and entry["loaded"] is False


def test_cli_disable_unknown_name_warns_once(victor: Any, tmp_path: Path) -> None:
    site = tmp_path / "site"
    make_distribution(
        site,
        "victor-cli-good",
        {"victor_core.tools": {"cligood": "cli_good"}},
        modules={"cli_good": GOOD},
    )
    out = victor("--disable", "cligod", "plugins", "list", "--json", site=site, tmp_path=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if "unknown_disabled_plugin" in line]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["plugin"] == "cligod" and record["closest"] == "cligood"


def test_the_discovery_index_is_one_file_per_interpreter_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from victor_core.plugins._manager import default_index_name

    first = default_index_name()
    assert first == default_index_name()  # stable
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "other-venv"))
    second = default_index_name()
    assert second != first
    assert first.startswith("plugin-index-") and first.endswith(".json")
    settings = Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
    PluginManager(settings).list_plugins()
    assert (tmp_path / "cache" / second).is_file()
