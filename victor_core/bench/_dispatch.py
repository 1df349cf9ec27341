"""Dispatch benchmark: a hook call after load, against plain pluggy, with and without metrics.

Setup: ``PLUGINS`` plugin distributions with real entry points (as in the
start-up benchmark, without the import-time work) on a temporary folder: ten
implement ``victor_tools`` and one implements ``victor_personas``. The same
plugin modules are registered in:

- victor-core's :class:`~victor_core.plugins.PluginManager`, loaded through its
  lazy path by a first dispatch, without metrics;
- the same with :func:`victor_core.metrics.instrument` (what an orchestrator with
  ``hook_metrics_enabled=True`` has);
- a plain ``pluggy.PluginManager("victor_core")`` with the same hookspecs.

Each measurement calls the hook ``iterations`` times in a loop; rounds
alternate between the managers, and each figure is the best round per call
(as :mod:`timeit` advises: slower rounds measure other processes, not the code).
The medians are in ``details["median_ns"]``. The
metric primitives (counter increment, timer context, histogram observation)
are timed the same way.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Hook calls per measurement.
DEFAULT_ITERATIONS = 20_000
ROUNDS = 9
PLUGINS = 10

_TOOLS = '''"""Synthetic tools plugin {index}, written by victor bench dispatch."""

from victor_core import hookimpl

TOOLS = []


@hookimpl
def victor_tools():
    return TOOLS
'''

_PERSONAS = '''"""Synthetic personas plugin, written by victor bench dispatch."""

from victor_core import hookimpl

PERSONAS = []


@hookimpl
def victor_personas():
    return PERSONAS
'''


def _per_call_ns(func: Callable[[], Any], calls: int) -> float:
    loop = range(calls)
    start = time.perf_counter()
    for _ in loop:
        func()
    return (time.perf_counter() - start) / calls * 1e9


def _write_site(site: Path) -> list[str]:
    from victor_core.bench._startup import _write_dist

    modules = []
    for index in range(PLUGINS):
        module = f"victor_bench_dispatch_{index}"
        (site / f"{module}.py").write_text(_TOOLS.format(index=index), encoding="utf-8")
        _write_dist(
            site, f"victor-bench-dispatch-{index}", {"victor_core.tools": {f"d{index}": module}}
        )
        modules.append(module)
    (site / "victor_bench_dispatch_personas.py").write_text(_PERSONAS, encoding="utf-8")
    _write_dist(
        site,
        "victor-bench-dispatch-personas",
        {"victor_core.personas": {"dp": "victor_bench_dispatch_personas"}},
    )
    modules.append("victor_bench_dispatch_personas")
    return modules


def run(iterations: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Measure dispatch and metric costs (see the module docstring)."""
    root = Path(tempfile.mkdtemp(prefix="victor-bench-dispatch-"))
    site = root / "site"
    site.mkdir()
    sys.path.insert(0, str(site))
    try:
        return _run(root, site, max(1, iterations), progress)
    finally:
        sys.path.remove(str(site))
        for name in [m for m in sys.modules if m.startswith("victor_bench_dispatch_")]:
            del sys.modules[name]
        shutil.rmtree(root, ignore_errors=True)


def _managers(root: Path, site: Path, modules: list[str]) -> dict[str, Any]:
    import importlib

    import pluggy

    from victor_core import hookspecs
    from victor_core.metrics._hooks import instrument
    from victor_core.metrics._registry import MetricsRegistry
    from victor_core.plugins._manager import PluginManager
    from victor_core.settings import Settings

    def ours(tag: str) -> Any:
        settings = Settings(cache_dir=root / f"cache-{tag}", data_dir=root / f"data-{tag}")
        manager = PluginManager(settings, builtins=False, paths=[str(site)])
        # The first dispatch loads each family through the lazy path.
        manager.hook.victor_tools()
        manager.hook.victor_personas()
        return manager

    plain = pluggy.PluginManager("victor_core")
    for module in hookspecs.FAMILIES.values():
        plain.add_hookspecs(module)
    for name in modules:
        plain.register(importlib.import_module(name), name=name)
    metered = ours("metrics")
    registry = MetricsRegistry()
    instrument(metered, registry)
    return {"plain": plain, "ours": ours("plain"), "metrics": metered, "registry": registry}


def _run(root: Path, site: Path, calls: int, progress: Callable[[str], None]) -> dict[str, Any]:
    progress(f"writing {PLUGINS + 1} plugin distributions")
    modules = _write_site(site)
    managers = _managers(root, site, modules)
    impls = {
        name: len(managers[name].hook.victor_tools.get_hookimpls())
        for name in ("plain", "ours", "metrics")
    }
    cases: dict[str, Callable[[], Any]] = {}
    for name in ("plain", "ours", "metrics"):
        cases[f"{name}_many"] = managers[name].hook.victor_tools
        cases[f"{name}_one"] = managers[name].hook.victor_personas
    from victor_core.metrics._registry import MetricsRegistry

    registry = MetricsRegistry()
    counter = registry.create_counter("bench_counter", "benchmark")
    timer = registry.create_timer("bench_timer", "benchmark")
    histogram = registry.create_histogram("bench_histogram", "benchmark")
    labelled = registry.create_counter("bench_labelled", "benchmark", labels=("hook",))

    def timer_context() -> None:
        with timer.time():
            pass

    def observe() -> None:
        histogram.observe(1.0)

    cases["counter_increment"] = counter.increment
    cases["labelled_increment"] = lambda: labelled.labels("h").increment()
    cases["timer_context"] = timer_context
    cases["histogram_observe"] = observe
    cases["empty_call"] = _nothing
    cases.update(_construction_cases(root, site))
    samples: dict[str, list[float]] = {name: [] for name in cases}
    names = list(cases)
    for round_no in range(ROUNDS):
        progress(f"round {round_no + 1}/{ROUNDS}")
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            # Registering a plugin costs a few hundred times a hook call.
            count = max(1, calls // 100) if name.startswith("unregister_") else calls
            samples[name].append(_per_call_ns(cases[name], count))
    ns = {name: min(values) for name, values in samples.items()}
    medians = {name: statistics.median(values) for name, values in samples.items()}
    hooks = managers["registry"].get("victor_hook_duration_seconds")
    recorded = hooks.labels("victor_personas").count if hooks is not None else 0
    ratios = {
        "ours_vs_pluggy": ns["ours_many"] / ns["plain_many"],
        "ours_vs_pluggy_one_impl": ns["ours_one"] / ns["plain_one"],
        "metrics_on_vs_off": ns["metrics_many"] / ns["ours_many"],
        "metrics_on_vs_off_one_impl": ns["metrics_one"] / ns["ours_one"],
        "construct_vs_pluggy": ns["construct_ours"] / ns["construct_plain"],
        "unregister_vs_pluggy": ns["unregister_ours"] / ns["unregister_plain"],
    }
    details = {
        "calls_per_measurement": calls,
        "rounds": ROUNDS,
        "implementations": {"victor_tools": impls, "victor_personas": 1},
        "dispatch_ns": {
            "plain_pluggy": ns["plain_many"],
            "victor_core": ns["ours_many"],
            "victor_core_with_metrics": ns["metrics_many"],
        },
        "dispatch_one_impl_ns": {
            "plain_pluggy": ns["plain_one"],
            "victor_core": ns["ours_one"],
            "victor_core_with_metrics": ns["metrics_one"],
        },
        "metrics_overhead_one_impl_ns": ns["metrics_one"] - ns["ours_one"],
        "construct_us": {
            "plain_pluggy": ns["construct_plain"] / 1e3,
            "victor_core": ns["construct_ours"] / 1e3,
        },
        "register_unregister_us": {
            "plain_pluggy": ns["unregister_plain"] / 1e3,
            "victor_core": ns["unregister_ours"] / 1e3,
        },
        "counter_increment_ns": ns["counter_increment"],
        "labelled_counter_increment_ns": ns["labelled_increment"],
        "timer_context_ns": ns["timer_context"],
        "histogram_observe_ns": ns["histogram_observe"],
        "empty_call_ns": ns["empty_call"],
        "hook_calls_recorded": recorded,
        "median_ns": medians,
    }
    return {
        "latency_ms": ns["ours_many"] / 1e6,
        "throughput": 1e9 / ns["ours_many"],
        "hit_rate": None,
        "ratios": ratios,
        "details": details,
    }


def _nothing() -> None:
    return None


def _construction_cases(root: Path, site: Path) -> dict[str, Callable[[], Any]]:
    """Building a manager, and registering then unregistering a plugin, against pluggy.

    ``construct_ours`` is ``PluginManager(settings)`` as the orchestrator builds it
    (lazy, discovering on ``site``); ``construct_plain`` a bare
    ``pluggy.PluginManager("victor_core")``, hookspecs not added. The unregister
    cases register one two-hook plugin and unregister it, on managers with every
    family's hookspecs.
    """
    import pluggy

    from victor_core import hookimpl, hookspecs
    from victor_core.plugins._manager import PluginManager
    from victor_core.settings import Settings

    settings = Settings(cache_dir=root / "cache-construct", data_dir=root / "data-construct")
    paths = [str(site)]

    class Plugin:
        @hookimpl
        def victor_tools(self) -> list[Any]:
            return []

        @hookimpl
        def victor_personas(self) -> list[Any]:
            return []

    plain = pluggy.PluginManager("victor_core")
    for module in hookspecs.FAMILIES.values():
        plain.add_hookspecs(module)
    ours = PluginManager(settings, discover=False, builtins=False)
    ours.load_all()

    def cycle(manager: pluggy.PluginManager) -> Callable[[], None]:
        plugin = Plugin()

        def run() -> None:
            manager.register(plugin)
            manager.unregister(plugin)

        return run

    return {
        "construct_plain": lambda: pluggy.PluginManager("victor_core"),
        "construct_ours": lambda: PluginManager(settings, builtins=False, paths=paths),
        "unregister_plain": cycle(plain),
        "unregister_ours": cycle(ours),
    }
