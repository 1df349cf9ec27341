"""MetricsRegistry, the metric kinds, Prometheus export and hook instrumentation."""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
from typing import Any

import pluggy
import pytest

from victor_core.exceptions import VictorError
from victor_core.metrics import (
    Counter,
    Gauge,
    Histogram,
    MetricsError,
    MetricsRegistry,
    Timer,
    instrument,
    to_prometheus,
)

# --- registry ----------------------------------------------------------------------


def test_guide_example() -> None:
    registry = MetricsRegistry()
    counter = registry.create_counter(
        name="tool_executions", description="Number of tool executions"
    )
    timer = registry.create_timer(name="execution_time", description="Tool execution time")
    with timer.time():
        pass
    counter.increment()
    assert counter.value == 1
    assert timer.count == 1


def test_get_or_create_returns_same_object() -> None:
    registry = MetricsRegistry()
    assert registry.create_counter("a", "x") is registry.create_counter("a")
    assert registry.create_timer("t") is registry.create_timer("t", "other text")
    assert registry.create_gauge("g") is registry.create_gauge("g")
    assert registry.create_histogram("h") is registry.create_histogram("h")
    assert len(registry) == 4
    assert "a" in registry
    assert registry.get("missing") is None


def test_same_name_other_kind_is_a_clear_error() -> None:
    registry = MetricsRegistry()
    registry.create_counter("requests", "n")
    with pytest.raises(MetricsError, match=r"'requests' is already registered as a counter"):
        registry.create_timer("requests")
    with pytest.raises(MetricsError, match="not a gauge"):
        registry.create_gauge("requests")


def test_same_name_other_labels_is_an_error() -> None:
    registry = MetricsRegistry()
    registry.create_counter("calls", labels=("hook",))
    with pytest.raises(MetricsError, match=r"labels \['hook'\], not \['plugin'\]"):
        registry.create_counter("calls", labels=("plugin",))


@pytest.mark.parametrize("name", ["", "9lives", "tool-executions", "a.b", "sp ace", None, 3])
def test_invalid_names_are_rejected(name: Any) -> None:
    with pytest.raises(MetricsError, match="metric name must match") as info:
        MetricsRegistry().create_counter(name)
    assert repr(name) in str(info.value)
    assert isinstance(info.value, VictorError)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("label", ["__x", "1a", "a-b", "le", "quantile"])
def test_invalid_label_names_are_rejected(label: str) -> None:
    with pytest.raises(MetricsError, match=repr(label)):
        MetricsRegistry().create_counter("ok_name", labels=(label,))


def test_repeated_label_name_is_rejected() -> None:
    with pytest.raises(MetricsError, match="repeats a label"):
        MetricsRegistry().create_counter("x", labels=("a", "a"))


def test_unregister_and_iteration_order() -> None:
    registry = MetricsRegistry()
    registry.create_counter("b")
    registry.create_counter("a")
    assert [m.name for m in registry] == ["a", "b"]
    registry.unregister("a")
    registry.unregister("missing")
    assert [m.name for m in registry] == ["b"]


# --- counters and gauges -----------------------------------------------------------


def test_counter_increments_and_refuses_to_go_down() -> None:
    counter = Counter("c")
    counter.increment()
    counter.increment(2.5)
    counter.inc()
    assert counter.value == 4.5
    with pytest.raises(MetricsError, match="can only go up"):
        counter.increment(-1)
    counter.reset()
    assert counter.value == 0


def test_counter_is_thread_safe() -> None:
    counter = Counter("c")

    def work() -> None:
        for _ in range(10_000):
            counter.increment()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.value == 80_000


def test_labels_by_name_and_position() -> None:
    counter = MetricsRegistry().create_counter("hits", labels=("cache", "level"))
    counter.labels(cache="response", level="l1").increment()
    counter.labels("response", "l1").increment()
    counter.labels("embedding", "l2").increment(3)
    assert counter.labels(cache="response", level="l1").value == 2
    assert counter.value == 5  # the sum over the series
    series = {tuple(lab.values()): m.value for lab, m in counter.series()}
    assert series == {("response", "l1"): 2, ("embedding", "l2"): 3}


def test_label_misuse_is_explained() -> None:
    counter = MetricsRegistry().create_counter("hits", labels=("cache",))
    with pytest.raises(MetricsError, match=r"use \.labels\(cache=\.\.\.\) first"):
        counter.increment()
    with pytest.raises(MetricsError, match=r"takes the labels \['cache'\]"):
        counter.labels(kind="x")
    with pytest.raises(MetricsError, match="takes 1 label values"):
        counter.labels("a", "b")
    with pytest.raises(MetricsError, match="not both"):
        counter.labels("a", cache="b")
    with pytest.raises(MetricsError, match="has no labels"):
        Counter("plain").labels("x")
    timer = MetricsRegistry().create_timer("t", labels=("hook",))
    with pytest.raises(MetricsError, match="labels"):
        timer.observe(1.0)
    with pytest.raises(MetricsError, match="labels"):
        timer.time()


def test_gauge_set_inc_dec_and_function() -> None:
    gauge = Gauge("g")
    gauge.set(3)
    gauge.inc(2)
    gauge.dec()
    assert gauge.value == 4.0
    gauge.set_function(lambda: 42)
    assert gauge.value == 42.0

    def broken() -> float:
        raise RuntimeError("probe down")

    gauge.set_function(broken)
    assert math.isnan(gauge.value)
    gauge.set_function(None)
    assert gauge.value == 4.0


# --- histograms and timers ---------------------------------------------------------


def test_histogram_buckets_and_stats() -> None:
    hist = Histogram("h", buckets=(1, 5, 10))
    for value in (0.5, 1, 2, 7, 100):
        hist.observe(value)
    assert hist.count == 5
    assert hist.sum == pytest.approx(110.5)
    assert hist.bucket_counts() == [(1.0, 2), (5.0, 3), (10.0, 4), (math.inf, 5)]
    stats = hist.stats()
    assert stats["min"] == 0.5
    assert stats["max"] == 100
    assert stats["mean"] == pytest.approx(22.1)
    assert stats["p50"] == 2


def test_histogram_percentiles_are_exact_within_the_window() -> None:
    hist = Histogram("h")
    for value in range(1, 1001):
        hist.observe(value)
    assert hist.percentile(0.5) == pytest.approx(500.5)
    assert hist.percentile(0.95) == pytest.approx(950.05)
    assert hist.percentile(0.99) == pytest.approx(990.01)
    assert hist.percentile(0) == 1
    assert hist.percentile(1) == 1000


def test_histogram_memory_is_bounded_by_the_window() -> None:
    hist = Histogram("h", window=100)
    for value in range(10_000):
        hist.observe(value)
    assert hist.count == 10_000
    assert len(hist._recent) == 100
    assert len(hist._pending) == 0
    # The percentiles follow the most recent observations.
    assert hist.percentile(0.5) == pytest.approx(9949.5)
    assert hist.stats()["min"] == 0


def test_histogram_stats_before_any_observation() -> None:
    hist = Histogram("h")
    stats = hist.stats()
    assert stats["count"] == 0
    assert stats["mean"] is None
    assert stats["p95"] is None
    assert hist.percentile(0.5) is None


def test_histogram_rejects_bad_arguments() -> None:
    with pytest.raises(MetricsError, match="increasing"):
        Histogram("h", buckets=(5, 1))
    with pytest.raises(MetricsError, match="increasing"):
        Histogram("h", buckets=())
    with pytest.raises(MetricsError, match="window"):
        Histogram("h", window=0)
    with pytest.raises(MetricsError, match="between 0 and 1"):
        Histogram("h").percentile(1.5)


def test_histogram_drops_non_numbers_instead_of_breaking() -> None:
    hist = Histogram("h")
    hist.observe(1.0)
    hist.observe("oops")  # type: ignore[arg-type]
    assert hist.count == 1


def test_histogram_is_thread_safe() -> None:
    hist = Histogram("h", buckets=(0.5,))

    def work() -> None:
        for _ in range(5_000):
            hist.observe(1.0)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert hist.count == 40_000
    assert hist.bucket_counts()[-1] == (math.inf, 40_000)


def test_histogram_reset() -> None:
    hist = Histogram("h")
    hist.observe(3)
    hist.reset()
    assert hist.count == 0
    assert hist.stats()["p50"] is None


def test_timer_context_records_seconds() -> None:
    timer = Timer("t")
    with timer.time() as timing:
        pass
    assert timer.count == 1
    assert timing.elapsed is not None
    assert timing.elapsed >= 0
    assert timer.total == pytest.approx(timing.elapsed)
    stats = timer.stats()
    assert stats["mean_ms"] == pytest.approx(stats["mean"] * 1000)
    assert timer.mean == pytest.approx(timing.elapsed)


def test_timer_records_even_when_the_block_raises() -> None:
    timer = Timer("t")
    with pytest.raises(KeyError), timer.time():
        raise KeyError("x")
    assert timer.count == 1


def test_timer_as_decorator_sync_and_async() -> None:
    timer = Timer("t")

    @timer
    def add(a: int, b: int) -> int:
        return a + b

    @timer.time()
    def sub(a: int, b: int) -> int:
        return a - b

    @timer
    async def slow() -> str:
        await asyncio.sleep(0.01)
        return "done"

    assert add(1, 2) == 3
    assert sub(3, 1) == 2
    assert add.__name__ == "add"
    assert asyncio.run(slow()) == "done"
    assert timer.count == 3
    # The async call was timed until its coroutine finished, not just created.
    assert timer.stats()["max"] >= 0.005


def test_timer_context_works_with_async_with() -> None:
    timer = Timer("t")

    async def main() -> None:
        async with timer.time() as timing:
            await asyncio.sleep(0.01)
        assert timing.elapsed is not None

    asyncio.run(main())
    assert timer.count == 1
    assert timer.stats()["max"] >= 0.005


def test_timer_mean_is_none_before_use() -> None:
    assert Timer("t").mean is None


# --- export ------------------------------------------------------------------------


def _registry() -> MetricsRegistry:
    registry = MetricsRegistry()
    registry.create_counter("tool_executions", "Number of tool executions").increment(3)
    registry.create_counter("tool_errors_total", "Errors").increment()
    registry.create_gauge("queue_depth", 'Depth "now"\nand\\later').set(2)
    hits = registry.create_counter("hits", "Hits", labels=("cache",))
    hits.labels(cache='we"ird\\').increment()
    timer = registry.create_timer("execution_time", "Tool execution time", buckets=(0.1, 1))
    timer.observe(0.05)
    timer.observe(0.5)
    timer.observe(5)
    return registry


def test_prometheus_text() -> None:
    text = _registry().to_prometheus()
    assert text.endswith("\n")
    assert "# HELP tool_executions_total Number of tool executions\n" in text
    assert "# TYPE tool_executions_total counter\ntool_executions_total 3\n" in text
    assert "# TYPE tool_errors_total counter\ntool_errors_total 1\n" in text
    assert '# HELP queue_depth Depth "now"\\nand\\\\later\n' in text
    assert "queue_depth 2.0\n" in text
    assert 'hits_total{cache="we\\"ird\\\\"} 1\n' in text
    assert "# TYPE execution_time histogram\n" in text
    assert 'execution_time_bucket{le="0.1"} 1\n' in text
    assert 'execution_time_bucket{le="1.0"} 2\n' in text
    assert 'execution_time_bucket{le="+Inf"} 3\n' in text
    assert "execution_time_sum 5.55\n" in text
    assert "execution_time_count 3\n" in text
    assert "# EOF" not in text


_SAMPLE = re.compile(
    r'[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? '
    r"(-?[0-9.e+-]+|NaN|[+-]Inf)"
)


def test_prometheus_text_every_line_is_well_formed() -> None:
    registry = _registry()
    registry.create_gauge("broken").set_function(lambda: 1 / 0)
    for line in registry.to_prometheus().splitlines():
        if line.startswith("#"):
            assert re.match(r"# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* ", line), line
        else:
            assert _SAMPLE.fullmatch(line), line


def test_openmetrics_text() -> None:
    text = to_prometheus(_registry(), openmetrics=True)
    assert text.endswith("# EOF\n")
    assert "# TYPE tool_executions counter\ntool_executions_total 3\n" in text


def test_snapshot_is_json_ready() -> None:
    snap = _registry().snapshot()
    json.dumps(snap)
    assert snap["tool_executions"] == {
        "kind": "counter",
        "description": "Number of tool executions",
        "value": 3,
    }
    timer = snap["execution_time"]
    assert timer["kind"] == "timer"
    assert timer["count"] == 3
    assert timer["buckets"]["+Inf"] == 3
    assert snap["hits"]["series"] == [{"labels": {"cache": 'we"ird\\'}, "value": 1}]


# --- hook instrumentation ----------------------------------------------------------

hookspec = pluggy.HookspecMarker("demo")
hookimpl = pluggy.HookimplMarker("demo")


class Spec:
    @hookspec
    def demo_one(self, x: int) -> int:  # type: ignore[empty-body]
        """One implementation."""

    @hookspec
    def demo_many(self, x: int) -> list[int]:  # type: ignore[empty-body]
        """Several implementations."""

    @hookspec
    def demo_async(self) -> Any:
        """An async implementation."""


class First:
    @hookimpl
    def demo_one(self, x: int) -> int:
        return x + 1

    @hookimpl
    def demo_many(self, x: int) -> int:
        return x

    @hookimpl
    async def demo_async(self) -> str:
        await asyncio.sleep(0.01)
        return "ok"


class Second:
    @hookimpl
    def demo_many(self, x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return -x

    @hookimpl(wrapper=True)
    def demo_one(self, x: int) -> Any:
        return (yield)


def _pm() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("demo")
    pm.add_hookspecs(Spec)
    pm.register(First(), name="first")
    return pm


def test_instrument_counts_and_times_hooks_and_plugins() -> None:
    pm = _pm()
    pm.register(Second(), name="second")
    registry = MetricsRegistry()
    undo = instrument(pm, registry)
    assert pm.hook.demo_one(x=1) == [2]
    assert sorted(pm.hook.demo_many(x=2)) == [-2, 2]
    pm.hook.demo_many(x=3)
    with pytest.raises(ValueError, match="negative"):
        pm.hook.demo_many(x=-1)

    hooks = registry.get("victor_hook_duration_seconds")
    assert hooks.labels(hook="demo_one").count == 1
    assert hooks.labels(hook="demo_many").count == 3
    errors = registry.get("victor_hook_errors_total")
    assert errors.labels(hook="demo_many").value == 1
    impls = registry.get("victor_hookimpl_duration_seconds")
    # pluggy calls the last registered first; its error stops the call.
    assert impls.labels(hook="demo_many", plugin="second").count == 3
    assert impls.labels(hook="demo_many", plugin="first").count == 2
    assert impls.labels(hook="demo_one", plugin="first").count == 1
    # The wrapper is not timed alone.
    assert ("demo_one", "second") not in {tuple(lab.values()) for lab, _ in impls.series()}

    undo()
    pm.hook.demo_many(x=5)
    assert hooks.labels(hook="demo_many").count == 3
    assert impls.labels(hook="demo_many", plugin="first").count == 2
    assert all(
        not getattr(i.function, "__wrapped__", None) for i in pm.hook.demo_many.get_hookimpls()
    )


def test_instrument_lone_implementation_is_credited_without_a_wrapper() -> None:
    pm = _pm()
    registry = MetricsRegistry()
    instrument(pm, registry)
    for _ in range(600):  # more than one fold batch
        pm.hook.demo_one(x=1)
    (impl,) = pm.hook.demo_one.get_hookimpls()
    assert not hasattr(impl.function, "__wrapped__")
    impls = registry.get("victor_hookimpl_duration_seconds")
    assert impls.labels(hook="demo_one", plugin="first").count == 600
    # A second implementation arriving later gets its own series from then on.
    pm.register(Second(), name="second")
    pm.hook.demo_many(x=1)

    class Third:
        @hookimpl
        def demo_one(self, x: int) -> int:
            return x

    pm.register(Third(), name="third")
    pm.hook.demo_one(x=1)
    assert impls.labels(hook="demo_one", plugin="first").count == 601
    assert impls.labels(hook="demo_one", plugin="third").count == 1
    assert registry.get("victor_hook_duration_seconds").labels(hook="demo_one").count == 601


def test_instrument_times_async_implementations_until_done() -> None:
    pm = _pm()
    registry = MetricsRegistry()
    instrument(pm, registry)

    async def main() -> list[str]:
        return [await c for c in pm.hook.demo_async()]

    assert asyncio.run(main()) == ["ok"]
    impl = registry.get("victor_hookimpl_duration_seconds").labels("demo_async", "first")
    assert impl.count == 1
    assert impl.stats()["max"] >= 0.005


def test_instrument_per_hook_only() -> None:
    pm = _pm()
    registry = MetricsRegistry()
    instrument(pm, registry, per_plugin=False)
    pm.hook.demo_one(x=1)
    assert registry.get("victor_hook_duration_seconds").labels(hook="demo_one").count == 1
    assert registry.get("victor_hookimpl_duration_seconds").series() == []


def test_instrument_disabled_installs_nothing() -> None:
    pm = _pm()
    before = pm._inner_hookexec
    registry = MetricsRegistry(enabled=False)
    undo = instrument(pm, registry)
    assert pm._inner_hookexec is before
    assert len(registry) == 0
    pm.hook.demo_one(x=1)
    undo()
    assert pm._inner_hookexec is before


def test_instrument_on_victor_plugin_manager(settings: Any) -> None:
    from victor_core import hookimpl as victor_hookimpl
    from victor_core.models import Tool
    from victor_core.plugins import PluginManager

    pm = PluginManager(settings, discover=False, builtins=False)

    class Tools:
        @victor_hookimpl
        def victor_tools(self) -> list[Tool]:
            return [Tool(name="t", description="d", func=lambda: 1)]

    pm.register(Tools(), name="inline-tools")
    registry = MetricsRegistry()
    undo = instrument(pm, registry)
    assert len(pm.hook.victor_tools()) == 1
    assert asyncio.run(pm.ahook.victor_tools())
    hooks = registry.get("victor_hook_duration_seconds")
    assert hooks.labels(hook="victor_tools").count == 2
    undo()


@pytest.mark.parametrize("public_api", [False, True])
def test_both_monitors_count_time_and_undo(
    public_api: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    pm = _pm()
    pm.register(Second(), name="second")
    installed: list[Any] = []
    original = pm.add_hookcall_monitoring

    def spy(before: Any, after: Any) -> Any:
        installed.append((before, after))
        return original(before, after)

    monkeypatch.setattr(pm, "add_hookcall_monitoring", spy)
    plain = pm._inner_hookexec
    registry = MetricsRegistry()
    undo = instrument(pm, registry, public_api=public_api)
    assert len(installed) == (1 if public_api else 0)
    assert sorted(pm.hook.demo_many(x=2)) == [-2, 2]
    with pytest.raises(ValueError, match="negative"):
        pm.hook.demo_many(x=-1)
    assert pm.hook.demo_one(x=1) == [2]
    hooks = registry.get("victor_hook_duration_seconds")
    assert hooks.labels(hook="demo_many").count == 2
    assert hooks.labels(hook="demo_one").count == 1
    assert registry.get("victor_hook_errors_total").labels(hook="demo_many").value == 1
    impls = registry.get("victor_hookimpl_duration_seconds")
    assert impls.labels(hook="demo_many", plugin="second").count == 2
    undo()
    assert pm._inner_hookexec is plain  # pluggy's own dispatch is back
    pm.hook.demo_many(x=3)
    assert hooks.labels(hook="demo_many").count == 2


def test_the_public_monitor_serves_a_manager_without_the_private_attribute() -> None:
    class Manager:
        def __init__(self) -> None:
            self.tracers: list[Any] = []

        def add_hookcall_monitoring(self, before: Any, after: Any) -> Any:
            self.tracers.append((before, after))
            return self.tracers.clear

    manager = Manager()
    registry = MetricsRegistry()
    undo = instrument(manager, registry)  # type: ignore[arg-type]
    ((before, after),) = manager.tracers
    kwargs = {"x": 1}
    before("demo", [], kwargs)
    after(pluggy.Result(None, ValueError("boom")), "demo", [], kwargs)
    assert registry.get("victor_hook_duration_seconds").labels(hook="demo").count == 1
    assert registry.get("victor_hook_errors_total").labels(hook="demo").value == 1
    undo()
    assert manager.tracers == []


def test_pluggy_inner_hookexec_keeps_its_shape() -> None:
    # The direct monitor replaces PluginManager._inner_hookexec, whose call
    # add_hookcall_monitoring wraps too: fail loudly if a pluggy release renames
    # it or changes its arguments.
    import inspect

    pm = _pm()
    assert list(inspect.signature(pm._inner_hookexec).parameters) == [
        "hook_name",
        "hook_impls",
        "caller_kwargs",
        "firstresult",
    ]


def test_pluggy_still_calls_hookimpl_function() -> None:
    # Per-implementation timing wraps HookImpl.function, the one pluggy detail
    # the instrumentation relies on beyond its public API: fail loudly if a
    # pluggy release stops reading it at call time.
    pm = _pm()
    (impl,) = pm.hook.demo_one.get_hookimpls()
    calls: list[int] = []
    original = impl.function

    def replaced(*args: Any) -> Any:
        calls.append(1)
        return original(*args)

    impl.function = replaced  # type: ignore[misc]
    try:
        assert pm.hook.demo_one(x=1) == [2]
    finally:
        impl.function = original  # type: ignore[misc]
    assert calls == [1]


def test_nested_hook_calls_are_timed_apart() -> None:
    class Outer:
        @hookimpl
        def demo_many(self, x: int) -> int:
            return pm.hook.demo_one(x=x)[0]

    pm = _pm()
    pm.register(Outer(), name="outer")
    registry = MetricsRegistry()
    undo = instrument(pm, registry)
    pm.hook.demo_many(x=5)
    hooks = registry.get("victor_hook_duration_seconds")
    outer = hooks.labels(hook="demo_many")
    inner = hooks.labels(hook="demo_one")
    assert (outer.count, inner.count) == (1, 1)
    assert outer.sum >= inner.sum
    undo()
