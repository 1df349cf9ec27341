"""ToolExecutor: single and parallel execution, bounds, timeouts, errors, cancellation."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from victor_core._markers import hookimpl
from victor_core.exceptions import ChainError, SettingsError, ToolNotFoundError, ToolParameterError
from victor_core.execution._executor import ToolExecutor
from victor_core.execution._tools import ToolRegistry
from victor_core.models import Plan, PlanStep, Tool, ToolResult
from victor_core.plugins import PluginManager
from victor_core.settings import Settings


def make_pm(*plugins: Any) -> PluginManager:
    pm = PluginManager(Settings(), discover=False, builtins=False)
    for plugin in plugins:
        pm.register(plugin)
    return pm


class Gauge:
    """Counts how many calls run at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.lock = threading.Lock()

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


def make_executor(
    *tools: Tool, pm: Any = None, metrics: Any = None, **settings: Any
) -> ToolExecutor:
    return ToolExecutor(
        Settings(**settings), ToolRegistry(tools=tools), plugin_manager=pm, metrics=metrics
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def sleeper(gauge: Gauge, name: str = "sleep") -> Tool:
    async def func(delay: float = 0.005, tag: str = "") -> str:
        gauge.enter()
        try:
            await asyncio.sleep(delay)
        finally:
            gauge.leave()
        return f"{name}:{tag}"

    return Tool(name=name, description="sleeps", func=func)


async def echo(text: str) -> str:
    return text


def shout(text: str) -> str:
    return text.upper()


def boom(text: str = "") -> str:
    raise RuntimeError("disk on fire")


ECHO = Tool(name="echo", description="echo", func=echo)


def count_params(**params: Any) -> int:
    return len(params)


SHOUT_OPEN = Tool(
    name="open",
    description="takes any keyword",
    func=count_params,
    parameters={"type": "object", "properties": {}, "additionalProperties": True},
)
SHOUT = Tool(name="shout", description="upper-case", func=shout)
BOOM = Tool(name="boom", description="fails", func=boom)


# -- execute -------------------------------------------------------------------------


def test_execute_async_and_sync_tools() -> None:
    executor = make_executor(ECHO, SHOUT)
    first = run(executor.execute("echo", text="hi"))
    second = run(executor.execute("shout", text="hi"))
    executor.close()
    assert first == ToolResult(name="echo", ok=True, value="hi", duration_s=first.duration_s)
    assert second.ok
    assert second.value == "HI"
    assert second.error is None
    assert second.duration_s >= 0


def test_sync_tool_runs_on_a_worker_thread() -> None:
    def where() -> str:
        return threading.current_thread().name

    executor = make_executor(Tool(name="where", description="thread", func=where))
    result = run(executor.execute("where"))
    executor.close()
    assert result.value.startswith("victor-tool")


def test_tool_that_raises_gives_a_failed_result() -> None:
    executor = make_executor(BOOM)
    result = run(executor.execute("boom"))
    executor.close()
    assert not result.ok
    assert result.value is None
    assert result.error == "RuntimeError: disk on fire"
    assert result.error_type == "RuntimeError"


def test_unknown_tool_and_bad_parameters_raise_before_running() -> None:
    executor = make_executor(ECHO)
    with pytest.raises(ToolNotFoundError, match="unknown tool 'ecko'; did you mean 'echo'"):
        run(executor.execute("ecko", text="x"))
    with pytest.raises(ToolParameterError, match=r"tool 'echo'.*'txt'.*accepts: text \(required\)"):
        run(executor.execute("echo", txt="x"))


def test_tool_parameter_called_name_is_allowed() -> None:
    def greet(name: str) -> str:
        return f"hello {name}"

    executor = make_executor(Tool(name="greet", description="greets", func=greet))
    result = run(executor.execute("greet", name="ada"))
    executor.close()
    assert result.value == "hello ada"


def test_sync_function_returning_a_coroutine_is_awaited() -> None:
    executor = make_executor(Tool(name="lazy", description="lazy", func=lambda: echo("later")))
    result = run(executor.execute("lazy"))
    executor.close()
    assert result.value == "later"


# -- timeouts ------------------------------------------------------------------------


def test_async_tool_timeout_from_settings() -> None:
    async def hang() -> None:
        await asyncio.sleep(30)

    executor = make_executor(
        Tool(name="hang", description="hangs", func=hang), tool_execution_timeout=0.02
    )
    result = run(executor.execute("hang"))
    assert not result.ok
    assert result.error_type == "ToolTimeoutError"
    assert "'hang' timed out after 0.02 s" in (result.error or "")


def test_tool_timeout_overrides_setting() -> None:
    async def hang() -> None:
        await asyncio.sleep(30)

    tool = Tool(name="hang", description="hangs", func=hang, timeout=0.01)
    result = run(make_executor(tool, tool_execution_timeout=60).execute("hang"))
    assert result.error_type == "ToolTimeoutError"
    assert "0.01 s" in (result.error or "")


def test_blocking_tool_timeout() -> None:
    release = threading.Event()

    def block() -> None:
        release.wait(5)

    executor = make_executor(Tool(name="block", description="blocks", func=block, timeout=0.02))
    result = run(executor.execute("block"))
    release.set()
    executor.close()
    assert result.error_type == "ToolTimeoutError"


def test_timeout_error_raised_by_the_tool_is_a_failure_not_a_timeout() -> None:
    async def own_timeout() -> None:
        raise TimeoutError("upstream timed out")

    executor = make_executor(Tool(name="t", description="t", func=own_timeout))
    result = run(executor.execute("t"))
    assert result.error_type == "TimeoutError"
    assert result.error == "TimeoutError: upstream timed out"


# -- execute_parallel --------------------------------------------------------------------


def test_results_in_input_order() -> None:
    async def wait(delay: float) -> float:
        await asyncio.sleep(delay)
        return delay

    executor = make_executor(Tool(name="wait", description="waits", func=wait))
    delays = [0.03, 0.0, 0.02, 0.01]
    results = run(executor.execute_parallel([("wait", {"delay": d}) for d in delays]))
    assert [r.value for r in results] == delays
    assert all(r.name == "wait" for r in results)


def test_guide_form_names_and_one_shared_parameters_dict() -> None:
    def read_file(file: str) -> str:
        return f"read {file}"

    def analyze_code(file: str, depth: int = 1) -> str:
        return f"analyzed {file}"

    def run_tests() -> str:
        return "passed"

    executor = make_executor(
        Tool(name="read_file", description="r", func=read_file),
        Tool(name="analyze_code", description="a", func=analyze_code),
        Tool(name="run_tests", description="t", func=run_tests),
    )
    results = run(
        executor.execute_parallel(
            tools=["read_file", "analyze_code", "run_tests"],
            parameters={"file": "main.py"},
            max_workers=3,
        )
    )
    executor.close()
    assert [r.value for r in results] == ["read main.py", "analyzed main.py", "passed"]


def test_item_forms_tool_objects_pairs_and_dicts() -> None:
    executor = make_executor(ECHO)
    results = run(
        executor.execute_parallel(
            [
                "echo",
                ECHO,
                ("echo", {"text": "pair"}),
                {"name": "echo", "params": {"text": "dict"}},
            ],
            parameters={"text": "shared"},
        )
    )
    assert [r.value for r in results] == ["shared", "shared", "pair", "dict"]


def test_unknown_tools_and_bad_parameters_fail_their_item_only() -> None:
    ran: list[str] = []

    def mark(text: str) -> str:
        ran.append(text)
        return text

    executor = make_executor(Tool(name="mark", description="m", func=mark))
    results = run(
        executor.execute_parallel(
            [("mark", {"text": "a"}), "nope", ("mark", {"txt": "b"}), ("mark", {"text": "c"})]
        )
    )
    executor.close()
    assert [r.ok for r in results] == [True, False, False, True]
    assert sorted(ran) == ["a", "c"]
    assert results[1].name == "nope"
    assert results[1].error_type == "ToolNotFoundError"
    assert "unknown tool 'nope'" in (results[1].error or "")
    assert results[2].error_type == "ToolParameterError"
    assert "it accepts: text (required)" in (results[2].error or "")


def test_malformed_items_and_bad_max_workers_raise() -> None:
    executor = make_executor(ECHO)
    with pytest.raises(ToolParameterError, match="'name' key"):
        run(executor.execute_parallel([{"tool": "echo"}]))
    with pytest.raises(ToolParameterError, match="tool names, Tool objects"):
        run(executor.execute_parallel([42]))
    with pytest.raises(SettingsError, match="max_workers"):
        run(executor.execute_parallel(["echo"], max_workers=0))
    assert run(executor.execute_parallel([])) == []


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_never_more_than_max_workers_at_once(workers: int) -> None:
    gauge = Gauge()
    executor = make_executor(sleeper(gauge))
    results = run(executor.execute_parallel(["sleep"] * 10, max_workers=workers))
    assert all(r.ok for r in results)
    assert gauge.peak == workers


def test_bound_defaults_to_max_parallel_workers() -> None:
    gauge = Gauge()
    executor = make_executor(sleeper(gauge), max_parallel_workers=4)
    run(executor.execute_parallel(["sleep"] * 12))
    assert gauge.peak == 4


def test_below_threshold_runs_sequentially() -> None:
    gauge = Gauge()
    executor = make_executor(sleeper(gauge), parallel_threshold=4)
    run(executor.execute_parallel(["sleep"] * 3))
    assert gauge.peak == 1
    run(executor.execute_parallel(["sleep"] * 4))
    assert gauge.peak == 4


def test_parallel_disabled_runs_sequentially() -> None:
    gauge = Gauge()
    executor = make_executor(sleeper(gauge), parallel_execution_enabled=False)
    run(executor.execute_parallel(["sleep"] * 5))
    assert gauge.peak == 1


def test_blocking_tools_run_concurrently_on_bounded_threads() -> None:
    gauge = Gauge()
    barrier = threading.Barrier(3, timeout=5)

    def blocking() -> str:
        gauge.enter()
        try:
            barrier.wait()  # only passes if three calls run at the same time
            time.sleep(0.001)
        finally:
            gauge.leave()
        return threading.current_thread().name

    executor = make_executor(Tool(name="blocking", description="b", func=blocking))
    results = run(executor.execute_parallel(["blocking"] * 6, max_workers=3))
    executor.close()
    assert all(r.ok for r in results), [r.error for r in results]
    assert gauge.peak == 3
    assert all(r.value.startswith("victor-tool") for r in results)


def test_failure_and_timeout_never_lose_the_other_results() -> None:
    async def hang(text: str = "") -> None:
        await asyncio.sleep(30)

    gauge = Gauge()
    executor = make_executor(
        sleeper(gauge), BOOM, Tool(name="hang", description="h", func=hang, timeout=0.02)
    )
    results = run(executor.execute_parallel(["sleep", "boom", "hang", "sleep"], max_workers=4))
    executor.close()
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[1].error_type == "RuntimeError"
    assert results[2].error_type == "ToolTimeoutError"


def test_cancelling_the_caller_cancels_every_running_tool() -> None:
    started = 0
    cancelled = 0

    async def forever() -> None:
        nonlocal started, cancelled
        started += 1
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled += 1
            raise

    executor = make_executor(Tool(name="forever", description="f", func=forever))

    async def main() -> None:
        task = asyncio.ensure_future(executor.execute_parallel(["forever"] * 6, max_workers=3))
        while started < 3:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert started == 3
    assert cancelled == 3


# -- hooks and metrics ------------------------------------------------------------------


def test_tool_result_hook_receives_every_result() -> None:
    seen: list[tuple[str, bool, dict[str, Any]]] = []

    class Observer:
        @hookimpl
        async def victor_tool_result(self, result: ToolResult, params: dict[str, Any]) -> None:
            seen.append((result.name, result.ok, params))

    executor = make_executor(ECHO, BOOM, pm=make_pm(Observer()))
    run(executor.execute("echo", text="a"))
    run(executor.execute_parallel(["echo", "boom"], parameters={"text": "b"}))
    executor.close()
    assert sorted(seen, key=repr) == sorted(
        [
            ("echo", True, {"text": "a"}),
            ("echo", True, {"text": "b"}),
            ("boom", False, {"text": "b"}),
        ],
        key=repr,
    )


def test_a_failing_observer_does_not_change_the_result() -> None:
    class Broken:
        @hookimpl
        def victor_tool_result(self, result: ToolResult, params: dict[str, Any]) -> None:
            raise ValueError("observer bug")

    result = run(make_executor(ECHO, pm=make_pm(Broken())).execute("echo", text="x"))
    assert result.ok
    assert result.value == "x"


def test_batch_observers_sync_and_async_see_every_result_in_order() -> None:
    sync_seen: list[str] = []
    async_seen: list[str] = []

    class Sync:
        @hookimpl
        def victor_tool_result(self, result: ToolResult, params: dict[str, Any]) -> None:
            sync_seen.append(f"{result.name}:{result.value}")

    class Async:
        @hookimpl
        async def victor_tool_result(self, result: ToolResult, params: dict[str, Any]) -> None:
            await asyncio.sleep(0)
            async_seen.append(f"{result.name}:{result.value}")

    executor = make_executor(ECHO, pm=make_pm(Sync(), Async()))
    items = [("echo", {"text": str(i)}) for i in range(20)]
    results = run(executor.execute_parallel(items, max_workers=4))
    executor.close()
    assert [r.value for r in results] == [str(i) for i in range(20)]
    assert sync_seen == [f"echo:{i}" for i in range(20)]
    assert sorted(async_seen) == sorted(sync_seen)


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_failing_batch_observer_is_logged_and_the_others_still_run(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[dict[str, Any]] = []

    class Logger:
        def warning(self, event: str, **fields: Any) -> None:
            warnings.append({"event": event, **fields})

    monkeypatch.setattr("victor_core._log.get_logger", lambda *a: Logger())
    seen: list[str] = []

    class Broken:
        if kind == "sync":

            @hookimpl
            def victor_tool_result(self, result: ToolResult, params: dict[str, Any]) -> None:
                if params.get("text") == "1":
                    raise ValueError("observer bug")
        else:

            @hookimpl
            async def victor_tool_result(self, result: ToolResult, params: dict[str, Any]) -> None:
                if params.get("text") == "1":
                    raise ValueError("observer bug")

    class Fine:
        @hookimpl(tryfirst=True)
        def victor_tool_result(self, result: ToolResult, params: dict[str, Any]) -> None:
            seen.append(params["text"])

    executor = make_executor(ECHO, pm=make_pm(Broken(), Fine()))
    results = run(executor.execute_parallel([("echo", {"text": str(i)}) for i in range(3)]))
    executor.close()
    assert [r.value for r in results] == ["0", "1", "2"]
    assert all(r.ok for r in results)
    assert seen == ["0", "1", "2"]
    assert [w["event"] for w in warnings] == ["tool_result_hook_failed"]
    assert "observer bug" in warnings[0]["error"]


def test_a_plain_pluggy_manager_gets_every_result_too() -> None:
    import pluggy

    from victor_core.hookspecs import tools as tool_specs

    seen: list[str] = []

    class Observer:
        @hookimpl
        async def victor_tool_result(self, result: ToolResult, params: dict[str, Any]) -> None:
            seen.append(params["text"])

    pm = pluggy.PluginManager("victor_core")
    pm.add_hookspecs(tool_specs)
    pm.register(Observer())
    executor = make_executor(ECHO, pm=pm)
    run(executor.execute_parallel([("echo", {"text": str(i)}) for i in range(3)]))
    run(executor.execute("echo", text="one"))
    executor.close()
    assert sorted(seen) == ["0", "1", "2", "one"]


def test_a_repeated_name_gets_its_own_parameters_and_its_own_failures() -> None:
    given: list[dict[str, Any]] = []

    class Observer:
        @hookimpl
        def victor_tool_result(self, result: ToolResult, params: dict[str, Any]) -> None:
            given.append(params)
            params["seen"] = True  # an observer that changes its dict changes no other

    executor = make_executor(SHOUT_OPEN, ECHO, pm=make_pm(Observer()))
    results = run(executor.execute_parallel(["open", "echo", "open", "echo", "open"]))
    executor.close()
    assert [r.ok for r in results] == [True, False, True, False, True]
    assert [r.error_type for r in results if not r.ok] == ["ToolParameterError"] * 2
    assert [r.value for r in results if r.ok] == [0, 0, 0]
    assert len(given) == 3 and len({id(p) for p in given}) == 3


def test_batch_metrics_count_with_victor_core_metrics() -> None:
    from victor_core.metrics import MetricsRegistry

    async def hang() -> None:
        await asyncio.sleep(30)

    metrics = MetricsRegistry()
    executor = make_executor(
        ECHO, BOOM, Tool(name="hang", description="h", func=hang, timeout=0.01), metrics=metrics
    )
    items = [("echo", {"text": "x"}), "boom", "hang", "boom", ("echo", {"text": "y"})]
    run(executor.execute_parallel(items))
    run(executor.execute("echo", text="z"))
    executor.close()
    counters = {
        name: metrics.create_counter(name, "").value
        for name in ("tool_executions_total", "tool_errors_total", "tool_timeouts_total")
    }
    assert counters == {
        "tool_executions_total": 6,
        "tool_errors_total": 3,
        "tool_timeouts_total": 1,
    }
    assert metrics.create_timer("tool_execution_time", "").count == 6


class FakeCounter:
    def __init__(self) -> None:
        self.value = 0

    def increment(self, amount: int = 1) -> None:
        self.value += amount


class FakeTimer:
    def __init__(self) -> None:
        self.count = 0
        self.seconds: list[float] = []

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.seconds.append(seconds)


class FakeMetrics:
    def __init__(self) -> None:
        self.items: dict[str, Any] = {}

    def create_counter(self, name: str, description: str) -> FakeCounter:
        return self.items.setdefault(name, FakeCounter())

    def create_timer(self, name: str, description: str) -> FakeTimer:
        return self.items.setdefault(name, FakeTimer())


def test_metrics_count_executions_errors_and_timeouts() -> None:
    async def hang() -> None:
        await asyncio.sleep(30)

    metrics = FakeMetrics()
    executor = make_executor(
        ECHO, BOOM, Tool(name="hang", description="h", func=hang, timeout=0.01), metrics=metrics
    )
    run(executor.execute_parallel([("echo", {"text": "x"}), "boom", "hang"]))
    executor.close()
    assert metrics.items["tool_executions_total"].value == 3
    assert metrics.items["tool_errors_total"].value == 2
    assert metrics.items["tool_timeouts_total"].value == 1
    assert metrics.items["tool_execution_time"].count == 3


def test_plugin_tools_load_on_first_execution() -> None:
    class Tools:
        @hookimpl
        def victor_tools(self) -> list[Tool]:
            return [ECHO]

    pm = make_pm(Tools())
    executor = ToolExecutor(Settings(), ToolRegistry(pm))
    assert run(executor.execute("echo", text="p")).value == "p"


# -- plans -----------------------------------------------------------------------------


def test_execute_plan_runs_waves_passes_inputs_and_skips_dependants_of_failures() -> None:
    order: list[str] = []

    async def run_step(step: PlanStep, inputs: dict[str, Any]) -> ToolResult:
        order.append(step.id)
        if step.action == "fail":
            return ToolResult(name=step.action, ok=False, error="RuntimeError: no")
        return ToolResult(name=step.action, ok=True, value=(step.id, dict(inputs)))

    plan = Plan(
        goal="g",
        steps=[
            PlanStep(id="c", action="x", depends_on=("a", "b")),
            PlanStep(id="a", action="x"),
            PlanStep(id="b", action="x"),
            PlanStep(id="bad", action="fail"),
            PlanStep(id="after_bad", action="x", depends_on="bad"),
        ],
    )
    executor = make_executor()
    result = run(executor.execute_plan(plan, run_step))
    assert result.waves == (("a", "b", "bad"), ("c", "after_bad"))
    assert set(order[:3]) == {"a", "b", "bad"}
    assert order[3:] == ["c"]
    assert result["c"].value == ("c", {"a": ("a", {}), "b": ("b", {})})
    assert result["c"].wave == 1
    assert result["bad"].status == "failed"
    assert result["after_bad"].status == "skipped"
    assert "'bad'" in (result["after_bad"].error or "")
    assert not result.ok
    assert [s.id for s in result.failed] == ["bad", "after_bad"]
    assert [s.id for s in result.steps] == ["c", "a", "b", "bad", "after_bad"]


def test_execute_plan_rejects_cycles() -> None:
    plan = Plan(
        goal="g",
        steps=[
            PlanStep(id="a", action="x", depends_on="b"),
            PlanStep(id="b", action="x", depends_on="a"),
        ],
    )

    async def run_step(step: PlanStep, inputs: dict[str, Any]) -> ToolResult:
        raise AssertionError("must not run")

    with pytest.raises(ChainError, match="cycle among steps 'a', 'b'"):
        run(make_executor().execute_plan(plan, run_step))


def test_call_runs_any_callable_with_a_timeout() -> None:
    async def slow() -> None:
        await asyncio.sleep(30)

    executor = make_executor()
    assert run(executor.call("s", shout, {"text": "a"})).value == "A"
    assert run(executor.call("s", slow, {}, timeout=0.01)).error_type == "ToolTimeoutError"
    executor.close()


def test_hung_blocking_tools_do_not_starve_the_next_ones() -> None:
    release = threading.Event()

    def hang() -> None:
        release.wait(5)

    executor = make_executor(
        Tool(name="hang", description="h", func=hang, timeout=0.02), SHOUT, max_parallel_workers=2
    )
    try:
        first = run(executor.execute_parallel(["hang", "hang"]))
        assert [r.error_type for r in first] == ["ToolTimeoutError"] * 2
        # Both workers of the first pool are still blocked; new work gets a fresh pool.
        second = run(
            executor.execute_parallel([("shout", {"text": "a"}), ("shout", {"text": "b"})])
        )
        assert [r.value for r in second] == ["A", "B"]
    finally:
        release.set()
        executor.close()


def test_a_single_name_is_one_tool() -> None:
    results = run(make_executor(SHOUT).execute_parallel("shout", {"text": "x"}))
    assert [r.value for r in results] == ["X"]


# -- a blocking tool that never returns cannot keep the process alive -------------------------

_HANG_SCRIPT = """
import asyncio, json, threading, time
from victor_core.execution._executor import ToolExecutor
from victor_core.execution._tools import ToolRegistry
from victor_core.models import Tool
from victor_core.settings import Settings

def forever() -> None:
    while True:
        time.sleep(3600)

async def main() -> None:
    registry = ToolRegistry(tools=[Tool(name="forever", description="never returns", func=forever)])
    executor = ToolExecutor(Settings(tool_execution_timeout=0.5), registry)
    result = await executor.execute("forever")
    names = [t.name for t in threading.enumerate() if t.name.startswith("victor-tool")]
    daemons = [t.daemon for t in threading.enumerate() if t.name.startswith("victor-tool")]
    print(json.dumps({"ok": result.ok, "error_type": result.error_type, "threads": names,
                      "daemons": daemons}), flush=True)

asyncio.run(main())
"""


def _run_until_exit(args: list[str], **kwargs: Any) -> Any:
    """Run a child process; kill it by pid and fail if it is still alive after 60 s."""
    import subprocess

    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"{args[:3]} did not exit: a hung tool kept the process alive")
    return proc.returncode, out, err


def test_a_hung_blocking_tool_times_out_and_the_process_still_exits(tmp_path: Any) -> None:
    import json
    import sys

    script = tmp_path / "hang.py"
    script.write_text(_HANG_SCRIPT)
    code, out, err = _run_until_exit([sys.executable, str(script)])
    assert code == 0, err
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["ok"] is False
    assert doc["error_type"] == "ToolTimeoutError"
    assert doc["threads"] and all(doc["daemons"])


def test_victor_run_with_a_hung_plugin_tool_exits(tmp_path: Any) -> None:
    import json
    import os
    import sys
    from pathlib import Path

    from victor_core.testing import make_distribution

    site = tmp_path / "site"
    site.mkdir()
    make_distribution(
        site,
        "victor-hang-tool",
        {"victor_core.tools": {"hang": "victor_hang_tool"}},
        modules={
            "victor_hang_tool": (
                "import time\n"
                "from victor_core import Tool, hookimpl\n"
                "def hang_forever() -> None:\n"
                "    while True:\n"
                "        time.sleep(3600)\n"
                "@hookimpl\n"
                "def victor_tools():\n"
                "    return [Tool(name='hang_forever', description='Hang forever, never return',"
                " func=hang_forever, tags=('blocking',))]\n"
            )
        },
    )
    workspace = tmp_path / "ws"
    workspace.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "VICTOR_TOOL_EXECUTION_TIMEOUT": "0.5",
        "VICTOR_CACHE_DIR": str(tmp_path / "cache"),
        "VICTOR_DATA_DIR": str(tmp_path / "data"),
    }
    victor = Path(sys.executable).with_name("victor")
    code, out, _err = _run_until_exit(
        [str(victor), "run", "hang forever", "--json", "--path", str(workspace)], env=env
    )
    doc = json.loads(out)
    steps = doc.get("steps") or []
    hung = [s for s in steps if s.get("action", s.get("id")) == "hang_forever"]
    assert hung, f"the plan did not run the hung tool: {doc}"
    assert hung[0]["status"] == "timeout", hung[0]
    assert code != 0


# -- the backend seam ---------------------------------------------------------------------------


def test_unknown_executor_backend_is_a_clear_error() -> None:
    executor = ToolExecutor(
        Settings(executor_backend="nope"), ToolRegistry(tools=[ECHO]), plugin_manager=make_pm()
    )
    with pytest.raises(SettingsError) as info:
        run(executor.execute("echo", text="x"))
    message = str(info.value)
    assert "'nope'" in message and "'local'" in message
    assert info.value.field == "executor_backend"


class RecordingBackend:
    """A backend of a third party: runs calls inline and remembers them."""

    name = "recording"

    def __init__(self) -> None:
        from victor_core.execution._backend import LocalBackend

        self.local = LocalBackend(2)
        self.calls: list[str] = []
        self.closed = False

    async def run(self, call: Any) -> ToolResult:
        self.calls.append(call.name)
        return await self.local.run(call)

    async def run_batch(self, calls: Any, workers: int) -> list[ToolResult]:
        return [await self.run(call) for call in calls]

    def close(self) -> None:
        self.closed = True
        self.local.close()


def test_a_plugin_backend_is_chosen_by_name_through_the_hook() -> None:
    backend = RecordingBackend()
    asked: list[str] = []

    class Plugin:
        @hookimpl
        def victor_executor_backend(self, name: str, settings: Settings) -> Any:
            asked.append(name)
            return backend if name == "recording" else None

    executor = ToolExecutor(
        Settings(executor_backend="recording"),
        ToolRegistry(tools=[ECHO, BOOM]),
        plugin_manager=make_pm(Plugin()),
    )
    assert run(executor.execute("echo", text="a")).value == "a"
    results = run(executor.execute_parallel([("echo", {"text": "b"}), "boom", "missing"]))
    assert [r.ok for r in results] == [True, False, False]
    assert results[2].error_type == "ToolNotFoundError"
    assert backend.calls == ["echo", "echo", "boom"]
    assert asked == ["recording"]  # asked once, then kept
    executor.close()
    assert backend.closed


def test_a_hook_answer_that_is_not_a_backend_is_rejected() -> None:
    class Plugin:
        @hookimpl
        def victor_executor_backend(self, name: str, settings: Settings) -> Any:
            return object()

    executor = ToolExecutor(
        Settings(executor_backend="odd"),
        ToolRegistry(tools=[ECHO]),
        plugin_manager=make_pm(Plugin()),
    )
    with pytest.raises(SettingsError, match="not an executor backend"):
        run(executor.execute("echo", text="x"))


def test_plan_steps_run_through_the_backend() -> None:
    backend = RecordingBackend()
    executor = ToolExecutor(Settings(), ToolRegistry(tools=[ECHO]), backend=backend)
    plan = Plan(
        goal="g",
        steps=[
            PlanStep(id="a", action="echo", params={"text": "1"}),
            PlanStep(id="b", action="echo", params={"text": "2"}, depends_on=("a",)),
        ],
    )
    result = run(executor.run_plan(plan))
    assert [s.status for s in result.steps] == ["ok", "ok"]
    assert backend.calls == ["echo", "echo"]


def test_the_one_keyword_check() -> None:
    from victor_core.models import accepts_keyword, keyword_names

    def closed(path: str, *, depth: int = 1) -> None: ...

    def open_(**kwargs: Any) -> None: ...

    assert keyword_names(closed) == (frozenset({"path", "depth"}), False)
    assert accepts_keyword(closed, "depth") and not accepts_keyword(closed, "inputs")
    assert accepts_keyword(open_, "anything")
    tool = Tool(name="t", description="d", func=closed)
    assert accepts_keyword(tool, "path") and not accepts_keyword(tool, "inputs")
    assert accepts_keyword({"properties": {"x": {}}}, "x")
    assert not accepts_keyword({"properties": {"x": {}}}, "y")


def test_a_closed_thread_pool_refuses_work() -> None:
    import asyncio

    from victor_core.exceptions import PoolClosedError
    from victor_core.execution._backend import DaemonPool

    pool = DaemonPool(1)
    pool.close()

    async def submit() -> None:
        pool.submit(lambda: None)

    with pytest.raises(PoolClosedError, match="the tool thread pool is closed") as info:
        asyncio.run(submit())
    assert isinstance(info.value, RuntimeError)
    assert info.value.pool == "tool threads"


# -- timeouts of calls a batch worker runs in turn ------------------------------------


def _sleepy(name: str, timeout: float | None) -> Tool:
    async def func(delay: float = 0.0) -> float:
        await asyncio.sleep(delay)
        return delay

    return Tool(name=name, description="sleeps", func=func, timeout=timeout)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_worker_times_out_each_call_at_its_own_deadline(workers: int) -> None:
    executor = make_executor(_sleepy("long", 5.0), _sleepy("short", 0.05), _sleepy("mid", 0.3))
    items = [
        ("long", {"delay": 0.0}),  # arms the worker's timer 5 s ahead
        ("short", {"delay": 2.0}),  # an earlier deadline: must fail at 0.05 s, not 5 s
        ("short", {"delay": 0.0}),  # arms the timer 0.05 s ahead
        ("mid", {"delay": 0.15}),  # runs past that but within its own 0.3 s: succeeds
        ("mid", {"delay": 2.0}),  # fails at 0.3 s
        ("long", {"delay": 0.01}),
    ] * workers
    results = run(executor.execute_parallel(items, max_workers=workers))
    executor.close()
    expected = [True, False, True, True, False, True] * workers
    assert [r.ok for r in results] == expected
    failed = [r for r in results if not r.ok]
    assert {r.error_type for r in failed} == {"ToolTimeoutError"}
    assert [r.name for r in failed] == ["short", "mid"] * workers
    assert "timed out after 0.05 s" in (failed[0].error or "")


def test_a_tool_s_own_timeout_error_is_its_error_not_a_timeout() -> None:
    async def raises() -> None:
        raise TimeoutError("upstream took too long")

    executor = make_executor(Tool(name="own", description="d", func=raises, timeout=5.0))
    results = run(executor.execute_parallel(["own", "own"], max_workers=2))
    executor.close()
    assert [r.error_type for r in results] == ["TimeoutError", "TimeoutError"]
    assert all("upstream took too long" in (r.error or "") for r in results)


def test_a_tool_that_swallows_its_timeout_keeps_its_value_and_the_worker_goes_on() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            return "kept"
        return "slept"

    executor = make_executor(
        Tool(name="stubborn", description="d", func=stubborn, timeout=0.02), ECHO
    )
    items = ["stubborn", ("echo", {"text": "after"})]
    results = run(executor.execute_parallel(items, max_workers=1))
    executor.close()
    assert [r.value for r in results] == ["kept", "after"]
    assert all(r.ok for r in results)


def test_a_batch_cancelled_from_outside_is_not_reported_as_timeouts() -> None:
    executor = make_executor(_sleepy("slow", 5.0))

    async def main() -> None:
        task = asyncio.ensure_future(
            executor.execute_parallel([("slow", {"delay": 5.0})] * 4, max_workers=2)
        )
        await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    executor.close()
