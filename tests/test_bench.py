"""The benchmark framework, the start-up and dispatch groups, and ``victor bench``.

Shapes and sanity only: timing belongs in the benchmarks themselves.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import types
from typing import Any

import pytest

from victor_core import bench
from victor_core.bench import GROUPS, machine_info, run_benchmark, run_benchmarks
from victor_core.exceptions import BenchmarkError


def _finite_positive(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value) and value > 0


def _check_shape(result: dict[str, Any]) -> None:
    for key in ("latency_ms", "throughput", "hit_rate", "ratios", "details", "elapsed_s"):
        assert key in result
    assert _finite_positive(result["latency_ms"])
    assert _finite_positive(result["throughput"])
    assert result["ratios"]
    for name, value in result["ratios"].items():
        assert _finite_positive(value), name
    json.dumps(result)


@pytest.fixture
def fake_group(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("victor_core.bench._fake")
    module.DEFAULT_ITERATIONS = 3  # type: ignore[attr-defined]

    def run(iterations: int, progress: Any) -> dict[str, Any]:
        progress(f"fake {iterations}")
        return {
            "latency_ms": 2.0,
            "throughput": 500,
            "hit_rate": None,
            "ratios": {"x_vs_y": 1.5},
            "details": {"iterations_seen": iterations},
            "extra": "kept",
        }

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(GROUPS, "fake", module.__name__)
    return module


def test_groups_cover_the_design() -> None:
    for group in ("startup", "dispatch", "cache", "tool_selection", "parallel", "memory"):
        assert GROUPS[group] == f"victor_core.bench._{group}"


def test_unknown_group_names_the_accepted_ones() -> None:
    with pytest.raises(BenchmarkError, match="unknown benchmark group 'nope'") as info:
        run_benchmark("nope")
    assert "startup, dispatch" in str(info.value)
    assert info.value.group == "nope"
    assert isinstance(info.value, ValueError)
    with pytest.raises(BenchmarkError, match="unknown benchmark group"):
        run_benchmarks(["startup", "nope"])


@pytest.mark.parametrize("iterations", [0, -1, 1.5, True, "10"])
def test_bad_iterations(iterations: Any) -> None:
    with pytest.raises(BenchmarkError, match="iterations must be an int"):
        run_benchmark("dispatch", iterations)


def test_run_benchmark_normalises_and_uses_the_group_default(fake_group: Any) -> None:
    messages: list[str] = []
    result = run_benchmark("fake", progress=messages.append)
    assert messages == ["fake 3"]
    assert result["group"] == "fake"
    assert result["iterations"] == 3
    assert result["throughput"] == 500.0
    assert result["hit_rate"] is None
    assert result["extra"] == "kept"
    assert run_benchmark("fake", 7)["details"]["iterations_seen"] == 7


def test_group_with_missing_keys_is_an_error(fake_group: Any) -> None:
    fake_group.run = lambda iterations, progress: {"latency_ms": 1.0}
    with pytest.raises(BenchmarkError, match="returned no throughput, hit_rate"):
        run_benchmark("fake")
    fake_group.run = lambda iterations, progress: [1]
    with pytest.raises(BenchmarkError, match="not a dict"):
        run_benchmark("fake")


def test_missing_group_module_is_skipped_when_running_several(
    fake_group: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(GROUPS, "ghost", "victor_core.bench._no_such_module")
    with pytest.raises(BenchmarkError, match="not available in this installation"):
        run_benchmark("ghost")
    document = run_benchmarks(["fake", "ghost"])
    assert list(document["groups"]) == ["fake"]
    assert "_no_such_module" in document["skipped"]["ghost"]
    assert document["errors"] == {}


def test_failing_group_is_reported_and_the_others_run(fake_group: Any) -> None:
    def broken(iterations: int, progress: Any) -> dict[str, Any]:
        raise RuntimeError("disk full")

    document = run_benchmarks(["fake"])
    fake_group.run = broken
    document = run_benchmarks(["fake", "dispatch"], 5)
    assert document["errors"] == {"fake": "RuntimeError: disk full"}
    assert "dispatch" in document["groups"]


def test_machine_info() -> None:
    info = machine_info()
    assert info["python"].count(".") == 2
    assert info["cpu_count"] >= 1
    assert set(info["versions"]) >= {"victor-core", "pluggy", "attrs", "diskcache", "structlog"}
    assert info["versions"]["pluggy"]


def test_dispatch_group_shape() -> None:
    result = run_benchmark("dispatch", 20)
    _check_shape(result)
    details = result["details"]
    assert details["implementations"]["victor_tools"] == {"plain": 10, "ours": 10, "metrics": 10}
    assert _finite_positive(details["counter_increment_ns"])
    assert _finite_positive(details["timer_context_ns"])
    assert details["hook_calls_recorded"] > 0
    assert set(result["ratios"]) >= {"ours_vs_pluggy", "metrics_on_vs_off_one_impl"}
    assert not any(m.startswith("victor_bench_dispatch_") for m in sys.modules)


def test_startup_group_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    from victor_core.bench import _startup

    monkeypatch.setattr(_startup, "PLUGINS", 6)
    monkeypatch.setattr(_startup, "PLUGIN_WORK", 10)
    monkeypatch.setattr(_startup, "MANY", 20)
    result = run_benchmark("startup", 1)
    _check_shape(result)
    details = result["details"]
    assert set(details["process_ms"]) == {
        "bare",
        "floor",
        "lazy",
        "eager",
        "first_dispatch",
        "discover_0",
        "discover_many",
        "cold_many",
    }
    # Behaviour, not timing: lazy start-up imports no plugin, eager imports all,
    # the first tools dispatch imports the tools family only, and warm discovery
    # reads the index.
    assert details["lazy_plugins_imported"] == 0
    assert details["eager_plugins_imported"] == 6
    assert details["first_dispatch_plugins_imported"] == 1
    assert details["warm_discovery_used_index"] is True
    assert "discovery_20_vs_0" in result["ratios"]


def test_startup_child_failure_is_a_benchmark_error(tmp_path: Any) -> None:
    from victor_core.bench._startup import _spawn

    with pytest.raises(BenchmarkError, match="ZeroDivisionError"):
        _spawn("1/0", {}, tmp_path)


def _victor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "victor_core.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_cli_bench_json_is_the_only_thing_on_stdout() -> None:
    proc = _victor("bench", "dispatch", "--json", "--iterations", "10")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    assert set(document) >= {"machine", "groups", "skipped", "errors", "elapsed_s"}
    _check_shape(document["groups"]["dispatch"])
    assert "dispatch: round 1/" in proc.stderr


def test_cli_bench_table_and_errors() -> None:
    proc = _victor("bench", "dispatch", "--iterations", "10")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split()[:4] == [
        "group",
        "latency_ms",
        "throughput/s",
        "hit_rate",
    ]
    assert "ours_vs_pluggy" in proc.stdout
    bad = _victor("bench", "nope")
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "victor: error: unknown benchmark group 'nope'; accepted groups: " + ", ".join(GROUPS)
    )
    assert bad.stdout == ""
    zero = _victor("bench", "dispatch", "--iterations", "0")
    assert zero.returncode == 2
    assert "iterations must be an int" in zero.stderr


def test_cli_metrics_formats(tmp_path: Any) -> None:
    env_args = ("--config", str(_config(tmp_path)))
    text = _victor(*env_args, "metrics", "--format", "prometheus")
    assert text.returncode == 0, text.stderr
    assert "# TYPE process_resident_memory_bytes gauge" in text.stdout
    assert "victor_plugins_discovered" in text.stdout
    om = _victor(*env_args, "metrics", "--format", "openmetrics")
    assert om.stdout.endswith("# EOF\n")
    doc = json.loads(_victor(*env_args, "metrics", "--format", "json").stdout)
    assert doc["memory_usage"] > 1
    assert doc["avg_latency"] == 0.0
    assert doc["metrics"]["process_cpu_seconds_total"]["kind"] == "counter"
    assert doc["metrics"]["process_cpu_seconds_total"]["value"] > 0
    table = _victor(*env_args, "metrics")
    assert "memory_usage" in table.stdout


def _config(tmp_path: Any) -> Any:
    path = tmp_path / "victor.toml"
    path.write_text(
        f'cache_dir = "{tmp_path / "cache"}"\ndata_dir = "{tmp_path / "data"}"\n', encoding="utf-8"
    )
    return path


def test_bench_package_imports_nothing_heavy() -> None:
    code = (
        "import sys, victor_core.bench;"
        "print(sorted(m for m in ('asyncio', 'sqlite3', 'diskcache', 'psutil') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert tuple(GROUPS) == bench.DEFAULT_GROUPS


def test_the_command_line_lists_every_group() -> None:
    from victor_core.bench import GROUPS
    from victor_core.cli._bench import GROUP_NAMES

    assert list(GROUP_NAMES) == list(GROUPS)


def test_startup_group_times_the_cli_against_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    from victor_core.bench import _startup

    monkeypatch.setattr(_startup, "PLUGINS", 6)
    monkeypatch.setattr(_startup, "PLUGIN_WORK", 10)
    monkeypatch.setattr(_startup, "MANY", 20)
    result = run_benchmark("startup", 1)
    ratios, details = result["ratios"], result["details"]
    for name in ("version", "plugins_list", "config", "hooks"):
        assert ratios[f"cli_{name}_vs_orchestrator"] > 0
        assert details["cli_process_ms"][f"cli_{name}"] > 0
    assert details["cli_process_ms"]["orchestrator"] > 0
    assert details["cli_plugins_list_target"] == _startup.CLI_TARGET
    assert isinstance(details["cli_plugins_list_within_target"], bool)


def test_startup_cli_failure_is_a_benchmark_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from victor_core.bench import _startup

    monkeypatch.setattr(_startup, "PLUGINS", 1)
    monkeypatch.setattr(_startup, "PLUGIN_WORK", 1)
    monkeypatch.setattr(_startup, "MANY", 1)
    monkeypatch.setattr(_startup, "CLI_COMMANDS", {"bogus": ("plugins", "show", "no-such")})
    with pytest.raises(BenchmarkError, match=r"victor plugins show no-such exited with \[2\]"):
        _startup.run(1, lambda _message: None)


def test_parallel_group_reports_executor_against_gather() -> None:
    result = run_benchmark("parallel", 1)
    _check_shape(result)
    details = result["details"]
    for key in ("executor_us_per_task", "gather_us_per_task", "execute_tool_us_per_call"):
        assert details[key] > 0, key
    assert result["ratios"]["executor_vs_gather"] == pytest.approx(
        details["executor_us_per_task"] / details["gather_us_per_task"]
    )


def test_memory_rss_children_report_each_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    from victor_core.bench import _memory

    bare = _memory._rss("bare")
    assert set(bare) == {"bare_mb"} and bare["bare_mb"] > 0
    ready = _memory._rss("orchestrator")
    assert set(ready) == {"kind", "idle_mb", "active_mb"}, ready
    # The bare child runs no import of its own: nothing to measure but the interpreter.
    assert "import sys;" in _memory._BARE_SCRIPT and _memory._BARE_SCRIPT.count("import") == 1

    monkeypatch.setattr(_memory, "_ORCHESTRATOR_SCRIPT", "raise SystemExit('no orchestrator')")
    assert _memory._rss("orchestrator") == {"error": "no orchestrator"}
