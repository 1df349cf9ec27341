"""collect_metrics, process gauges and the threshold monitor."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from structlog.testing import capture_logs

from victor_core.health._monitor import (
    Monitor,
    MonitorConfig,
    MonitoringError,
    check_thresholds,
    collect_metrics,
    process_gauges,
    process_stats,
)
from victor_core.metrics import MetricsRegistry
from victor_core.settings import Settings


class FakePlugin:
    def __init__(self, name: str, loaded: bool, error: str | None = None) -> None:
        self.name = name
        self.loaded = loaded
        self.error = error


class FakeManager:
    def list_plugins(self) -> list[FakePlugin]:
        return [
            FakePlugin("a", True),
            FakePlugin("b", False),
            FakePlugin("c", False, "ImportError: boom"),
        ]


def test_fresh_registry_reports_process_figures() -> None:
    doc = collect_metrics(MetricsRegistry())
    assert doc["avg_latency"] == 0.0
    assert doc["p95_latency"] == 0.0
    assert doc["error_rate"] == 0.0
    assert doc["requests"] == 0
    assert doc["memory_usage"] > 1  # MB: a Python process is never that small
    assert doc["cpu_time"] > 0
    assert doc["uptime"] >= 0
    assert doc["hooks"] == {}
    json.dumps(doc)


def test_latency_and_error_rate_over_operations() -> None:
    registry = MetricsRegistry()
    timer = registry.create_timer("tool_execution_time")
    for seconds in (0.1, 0.2, 0.3, 0.4):
        timer.observe(seconds)
    registry.create_counter("tool_errors_total").increment()
    registry.create_counter("tool_executions_total").increment(4)
    # Hook figures are sub-operations: they count in "hooks", not in the latency.
    registry.create_timer("victor_hook_duration_seconds", labels=("hook",)).labels("h").observe(9)
    doc = collect_metrics(registry)
    assert doc["avg_latency"] == pytest.approx(250.0)
    assert doc["p50_latency"] == pytest.approx(250.0)
    assert doc["p95_latency"] == pytest.approx(385.0)
    assert doc["requests"] == 4
    assert doc["errors"] == 1
    assert doc["error_rate"] == pytest.approx(0.25)
    assert doc["operations"]["tool_execution_time"]["calls"] == 4
    assert doc["hooks"]["h"]["calls"] == 1
    assert doc["hooks"]["h"]["avg_ms"] == pytest.approx(9000.0)


def test_agent_turns_are_the_requests_when_there_are_any() -> None:
    registry = MetricsRegistry()
    registry.create_timer("tool_execution_time").observe(0.01)
    registry.create_counter("tool_errors_total").increment(1)
    turns = registry.create_timer("victor_agent_run_seconds")
    turns.observe(1.0)
    turns.observe(3.0)
    registry.create_counter("victor_agent_failed_runs_total").increment()
    stages = registry.create_timer("victor_agent_stage_seconds", labels=("stage",))
    stages.labels(stage="selection").observe(0.5)
    doc = collect_metrics(registry)
    assert doc["latency_source"] == "victor_agent_run_seconds"
    assert doc["requests"] == 2
    assert doc["avg_latency"] == pytest.approx(2000.0)
    assert doc["error_rate"] == pytest.approx(0.5)
    # Every timer still shows on its own.
    assert set(doc["operations"]) == {
        "tool_execution_time",
        "victor_agent_run_seconds",
        "victor_agent_stage_seconds{stage=selection}",
    }


def test_own_metrics_fall_back_to_every_unlabelled_timer() -> None:
    registry = MetricsRegistry()
    registry.create_timer("execution_time").observe(0.2)
    registry.create_timer("other_time").observe(0.4)
    registry.create_counter("failed_calls").increment()
    registry.create_counter("calls").increment(5)
    doc = collect_metrics(registry)
    assert doc["requests"] == 2
    assert doc["avg_latency"] == pytest.approx(300.0)
    assert doc["errors"] == 1
    assert doc["latency_source"] == "execution_time, other_time"


def test_plugins_and_cache_figures() -> None:
    stats = {"hit_rate": 0.5, "hits": 1, "misses": 1}
    doc = collect_metrics(MetricsRegistry(), plugin_manager=FakeManager(), cache_stats=stats)
    assert doc["plugins_discovered"] == 3
    assert doc["plugins_loaded"] == 1
    assert doc["plugins_failed"] == 1
    assert doc["cache"] == stats
    assert doc["cache_hit_rate"] == 0.5


def test_hook_and_plugin_figures_from_instrumentation(settings: Settings) -> None:
    import pluggy

    from victor_core.metrics import instrument

    spec = pluggy.HookspecMarker("m")
    impl = pluggy.HookimplMarker("m")

    class Spec:
        @spec
        def m_hook(self) -> None: ...

    class Plugin:
        @impl
        def m_hook(self) -> int:
            return 1

    pm = pluggy.PluginManager("m")
    pm.add_hookspecs(Spec)
    pm.register(Plugin(), name="plug")
    registry = MetricsRegistry()
    instrument(pm, registry)
    pm.hook.m_hook()
    doc = collect_metrics(registry)
    assert doc["hooks"]["m_hook"]["calls"] == 1
    assert doc["hooks"]["m_hook"]["errors"] == 0
    assert doc["hookimpls"]["m_hook/plug"]["calls"] == 1
    assert doc["requests"] == 0


def test_process_gauges_in_a_fresh_registry() -> None:
    registry = process_gauges(plugin_manager=FakeManager())
    snap = registry.snapshot()
    assert snap["process_resident_memory_bytes"]["value"] > 1_000_000
    assert snap["process_cpu_seconds_total"]["value"] > 0
    assert snap["victor_plugins_discovered"]["value"] == 3
    assert snap["victor_plugins_loaded"]["value"] == 1
    text = registry.to_prometheus()
    assert "# TYPE process_resident_memory_bytes gauge" in text
    assert "victor_plugins_loaded 1.0" in text
    # Registering twice reuses the gauges.
    assert process_gauges(registry) is registry


class FixedProbe:
    def __init__(self, rss: int | None) -> None:
        self.rss = rss

    def rss_bytes(self) -> int | None:
        return self.rss

    def cpu_seconds(self) -> float:
        return 2.5

    def start_time(self) -> float:
        return 1000.0

    def machine_cpu_fraction(self) -> float | None:
        return None


def test_process_figures_come_from_the_probe() -> None:
    stats = process_stats(FixedProbe(512 * 1024 * 1024))
    assert stats["memory_usage"] == 512.0
    assert stats["cpu_time"] == 2.5
    assert stats["uptime"] > 0
    assert math.isnan(process_stats(FixedProbe(None))["memory_usage"])
    registry = process_gauges(probe=FixedProbe(2048))
    assert registry.get("process_resident_memory_bytes").value == 2048.0
    assert registry.get("process_cpu_seconds_total").kind == "counter"
    assert registry.get("process_cpu_seconds_total").value == 2.5
    assert registry.get("process_start_time_seconds").value == 1000.0
    text = registry.to_prometheus()
    assert "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 2.5" in text


def test_check_thresholds() -> None:
    settings = MonitorConfig(latency_warning_ms=100.0, error_rate_threshold=0.05)
    quiet = {"avg_latency": 50.0, "error_rate": 0.0, "memory_usage": 100.0}
    assert check_thresholds(quiet, settings) == []
    loud = {"avg_latency": 150.0, "error_rate": 0.2, "memory_usage": 900.0}
    events = dict(check_thresholds(loud, settings))
    assert events["high_latency"] == {"avg_latency_ms": 150.0, "threshold_ms": 100.0}
    assert events["high_error_rate"] == {"error_rate": 0.2, "threshold": 0.05}
    assert set(events) == {"high_latency", "high_error_rate"}  # memory is the watchdog's
    assert check_thresholds({}, settings) == []


def test_monitor_check_logs_structured_warnings() -> None:
    settings = MonitorConfig(latency_warning_ms=100.0)

    async def get_metrics() -> dict[str, Any]:
        return {"avg_latency": 500.0, "error_rate": 0.5, "memory_usage": 1.0}

    monitor = Monitor(settings, get_metrics)
    with capture_logs() as logs:
        warnings = asyncio.run(monitor.check())
    assert [event for event, _ in warnings] == ["high_latency", "high_error_rate"]
    assert logs[0] == {
        "event": "high_latency",
        "log_level": "warning",
        "avg_latency_ms": 500.0,
        "threshold_ms": 100.0,
    }
    assert monitor.checks == 1


def test_monitor_judges_the_interval_since_the_last_check() -> None:
    settings = MonitorConfig(latency_warning_ms=100.0)
    samples = iter(
        [
            {"requests": 10, "errors": 5, "total_latency_ms": 5000.0, "avg_latency": 500.0},
            {"requests": 20, "errors": 5, "total_latency_ms": 5500.0, "avg_latency": 275.0},
            {"requests": 20, "errors": 5, "total_latency_ms": 5500.0, "avg_latency": 275.0},
        ]
    )
    monitor = Monitor(settings, lambda: next(samples))
    with capture_logs():
        first = asyncio.run(monitor.check())
        second = asyncio.run(monitor.check())
        third = asyncio.run(monitor.check())
    assert [e for e, _ in first] == ["high_latency"]
    assert second == []  # 10 new requests at 50 ms each, no new errors
    assert third == []  # nothing happened


def test_monitor_runs_in_the_background_and_stops() -> None:
    settings = MonitorConfig(interval=0.1, latency_warning_ms=1.0)
    calls = 0

    def get_metrics() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("probe failed")
        return {"avg_latency": 10.0}

    async def main() -> Monitor:
        monitor = Monitor(settings, get_metrics)
        monitor.start()
        monitor.start()  # idempotent
        assert monitor.running
        await asyncio.sleep(0.35)
        await monitor.stop()
        await monitor.stop()
        assert not monitor.running
        return monitor

    with capture_logs() as logs:
        monitor = asyncio.run(main())
    events = [entry["event"] for entry in logs]
    assert events[0] == "monitoring_check_failed"
    assert "probe failed" in logs[0]["error"]
    assert "high_latency" in events
    assert monitor.checks >= 1


def test_monitor_start_needs_a_running_loop() -> None:
    monitor = Monitor(MonitorConfig(), dict)
    with pytest.raises(MonitoringError, match="running asyncio event loop"):
        monitor.start()
    asyncio.run(monitor.stop())  # stopping a monitor that never ran is fine
