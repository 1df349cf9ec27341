"""victor-ray against a real local Ray instance: the local executor's behaviour, on Ray."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from victor_ray import RayConnectionError
from victor_ray import plugin as ray_plugin
from victor_ray._connection import _probe
from victor_ray.backend import RayBackend
from victor_ray.testing import RayInstance, Rendezvous

from victor_core import AgentOrchestrator, Plan, PlanStep, Settings, Tool
from victor_core.exceptions import ToolError, VictorError
from victor_core.execution import ExecutorBackend, ToolCall
from victor_core.testing import make_distribution


def _summary(results: list[Any]) -> list[tuple[Any, ...]]:
    return [(r.name, r.ok, r.value, r.error, r.error_type) for r in results]


def _eventually(check: Any, seconds: float = 30.0) -> bool:
    # A generous bound for a busy machine; the benchmarks measure the real times.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return bool(check())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the hook -----------------------------------------------------------------------------


def test_the_hook_answers_ray_only(tmp_path: Path) -> None:
    settings = Settings(cache_dir=tmp_path, ray_address="10.0.0.5:6379", max_parallel_workers=4)
    backend = ray_plugin.victor_executor_backend(name="ray", settings=settings)
    assert isinstance(backend, RayBackend)
    assert isinstance(backend, ExecutorBackend)
    assert (backend.name, backend.address, backend.threads) == ("ray", "10.0.0.5:6379", 4)
    assert ray_plugin.victor_executor_backend(name="dask", settings=settings) is None


@pytest.mark.parametrize("actors", [0, -1, 1.5, True])
def test_actors_must_be_a_positive_int(actors: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=r"actors must be an int of at least 1"):
        RayBackend(actors=actors)


def test_choosing_ray_imports_nothing_until_a_tool_runs(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from victor_core import AgentOrchestrator, Settings
        import victor_ray.plugin
        orch = AgentOrchestrator(Settings(cache_dir={str(tmp_path)!r}, data_dir={str(tmp_path)!r},
                                          executor_backend="ray"))
        names = [p.name for p in orch.plugin_manager.list_plugins()]
        print("ray" in sys.modules, "victor_ray.backend" in sys.modules, "ray" in names)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True"]


def test_the_orchestrator_finds_the_backend_through_the_entry_point(
    ray_orchestrator: AgentOrchestrator,
) -> None:
    async def main() -> Any:
        await ray_orchestrator.execute_tool("add", a=1)
        return ray_orchestrator.executor.backend

    assert isinstance(asyncio.run(main()), RayBackend)


# -- the local executor's results, order and errors ---------------------------------------


def test_one_tool_gives_the_local_result(orchestrator: AgentOrchestrator) -> None:
    async def main() -> list[Any]:
        return [
            await orchestrator.execute_tool("add", a=2, b=3),
            await orchestrator.execute_tool("shout", text="hi"),
            await orchestrator.execute_tool("fail", message="no"),
            await orchestrator.execute_tool("afail"),
        ]

    assert _summary(asyncio.run(main())) == [
        ("add", True, 5, None, None),
        ("shout", True, "HI", None, None),
        ("fail", False, None, "ValueError: no", "ValueError"),
        ("afail", False, None, "KeyError: 'missing key'", "KeyError"),
    ]


def test_a_batch_gives_the_local_results_in_order(orchestrator: AgentOrchestrator) -> None:
    async def main() -> list[Any]:
        return await orchestrator.execute_tools_parallel(
            [
                ("add", {"a": 1}),
                "fail",
                {"name": "shout", "params": {"text": "b"}},
                "no_such_tool",
                ("add", {"a": 10, "b": 5}),
                "afail",
            ],
            max_workers=4,
        )

    results = _summary(asyncio.run(main()))
    assert results[:3] == [
        ("add", True, 2, None, None),
        ("fail", False, None, "ValueError: bad input", "ValueError"),
        ("shout", True, "B", None, None),
    ]
    assert results[3][:2] == ("no_such_tool", False)
    assert results[3][4] == "ToolNotFoundError"
    assert results[4:] == [
        ("add", True, 15, None, None),
        ("afail", False, None, "KeyError: 'missing key'", "KeyError"),
    ]


def test_ray_runs_the_tools_in_its_workers(ray_orchestrator: AgentOrchestrator) -> None:
    async def main() -> list[Any]:
        return await ray_orchestrator.execute_tools_parallel(["pid", "pid"])

    pids = {r.value for r in asyncio.run(main())}
    assert pids
    assert os.getpid() not in pids
    assert all(isinstance(p, int) for p in pids)


def test_both_backends_answer_the_same(ray_ready: RayInstance, make_orchestrator: Any) -> None:
    async def run(backend: str) -> list[Any]:
        orch = make_orchestrator(backend)
        return _summary(
            await orch.execute_tools_parallel(
                ["add", "fail", "shout", "afail", "lock"], {"a": 3, "text": "x"}
            )
        )

    local, ray = asyncio.run(run("local")), asyncio.run(run("ray"))
    assert local[:4] == ray[:4]
    # A value that does not pickle cannot leave the worker: that call fails, alone.
    assert local[4][1] is True
    assert ray[4][:2] == ("lock", False)
    assert "cannot be sent back from the Ray worker" in ray[4][3]


# -- timeouts, crashes and what cannot travel ----------------------------------------------


def test_a_hung_blocking_tool_times_out_and_its_worker_is_killed(
    ray_orchestrator: AgentOrchestrator, tmp_path: Path
) -> None:
    pid_file = tmp_path / "hang.pid"

    async def main() -> list[Any]:
        return await ray_orchestrator.execute_tools_parallel(
            [("hang", {"pid_file": str(pid_file)}), ("add", {"a": 1})]
        )

    hung, other = asyncio.run(main())
    assert (hung.ok, hung.error_type) == (False, "ToolTimeoutError")
    assert hung.error == "tool 'hang' timed out after 3 s (its timeout or tool_execution_timeout)"
    assert (other.ok, other.value) == (True, 2)
    worker = int(pid_file.read_text())
    assert _eventually(lambda: not _alive(worker)), "the hung tool's worker was not killed"
    after = asyncio.run(ray_orchestrator.execute_tool("pid"))
    assert after.ok
    assert after.value != worker


def test_a_hung_async_tool_is_cancelled(orchestrator: AgentOrchestrator) -> None:
    async def main() -> list[Any]:
        return await orchestrator.execute_tools_parallel(["ahang", ("add", {"a": 4})])

    hung, other = asyncio.run(main())
    assert (hung.ok, hung.error_type) == (False, "ToolTimeoutError")
    assert (other.ok, other.value) == (True, 5)


def test_an_unresponsive_actor_is_given_up_after_the_grace(
    ray_ready: RayInstance, test_tools: dict[str, Tool]
) -> None:
    backend = RayBackend(grace=0.0, actors=1)

    async def main() -> Any:
        # No grace: the driver's deadline comes first, so it cancels and retires.
        return await backend.run(ToolCall("ahang", test_tools["ahang"].func, {}, 0.2))

    try:
        result = asyncio.run(main())
        assert (result.ok, result.error_type) == (False, "ToolTimeoutError")
        assert backend._hosts == []
        assert backend._retired == []
        again = asyncio.run(backend.run(ToolCall("add", test_tools["add"].func, {"a": 1}, 5.0)))
        assert (again.ok, again.value) == (True, 2)
    finally:
        backend.close()


def test_a_crashing_tool_fails_alone_and_the_worker_is_replaced(
    ray_orchestrator: AgentOrchestrator,
) -> None:
    async def main() -> Any:
        crashed = await ray_orchestrator.execute_tool("crash")
        return crashed, await ray_orchestrator.execute_tool("add", a=1)

    crashed, after = asyncio.run(main())
    assert (crashed.ok, crashed.error_type) == (False, "ActorDiedError")
    assert "tool 'crash': the Ray worker running it died" in crashed.error
    assert (after.ok, after.value) == (True, 2)


def test_a_module_the_workers_cannot_import_is_named(
    ray_orchestrator: AgentOrchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On this process's sys.path only, added after Ray started: the workers lack it.
    name = f"driver_only_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("def double(x: int) -> int:\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = __import__(name)
    ray_orchestrator.tools.register(Tool(name="double", description="x2", func=module.double))

    async def main() -> Any:
        return await ray_orchestrator.execute_tools_parallel(
            [("double", {"x": 2}), ("add", {"a": 1})]
        )

    try:
        double, other = asyncio.run(main())
    finally:
        sys.modules.pop(name, None)
    assert (double.ok, double.error_type) == (False, "ModuleNotFoundError")
    assert "tool 'double' cannot run on the Ray worker" in double.error
    assert f"module {name!r} is not importable there" in double.error
    assert (other.ok, other.value) == (True, 2)
    # The same tool runs at home.
    local = AgentOrchestrator(
        Settings(cache_dir=tmp_path / "c", data_dir=tmp_path / "d", executor_backend="local")
    )
    local.tools.register(Tool(name="double", description="x2", func=module.double))
    assert asyncio.run(local.execute_tool("double", x=2)).value == 4


def test_parameters_that_do_not_pickle_fail_that_call(
    ray_orchestrator: AgentOrchestrator,
) -> None:
    import threading

    async def main() -> Any:
        return await ray_orchestrator.execute_tools_parallel(
            [("add", {"a": 1, "b": threading.Lock()}), ("add", {"a": 1})]
        )

    bad, good = asyncio.run(main())
    assert bad.ok is False
    assert "tool 'add' cannot be sent to the Ray workers" in bad.error
    assert (good.ok, good.value) == (True, 2)


# -- concurrency and plans -----------------------------------------------------------------


def test_parallel_tools_run_at_the_same_time(ray_orchestrator: AgentOrchestrator) -> None:
    # Eight tools meet at a rendezvous of eight: run one after another, the
    # first would wait alone and fail; together, all arrive.
    name = f"meet-{uuid.uuid4().hex[:8]}"
    handle = Rendezvous.start(name, 8)
    try:
        items = [
            ("gather_here" if i % 2 else "agather_here", {"rendezvous": name}) for i in range(8)
        ]
        results = asyncio.run(ray_orchestrator.execute_tools_parallel(items, max_workers=8))
    finally:
        Rendezvous.stop(handle)
    assert [r.ok for r in results] == [True] * 8, [r.error for r in results]
    assert sorted(r.value for r in results) == list(range(1, 9))


def test_plan_waves_run_on_ray(ray_orchestrator: AgentOrchestrator) -> None:
    name = f"wave-{uuid.uuid4().hex[:8]}"
    handle = Rendezvous.start(name, 3)
    plan = Plan(
        goal="three at once, then their sum",
        steps=[
            PlanStep(id="a", action="gather_here", params={"rendezvous": name}),
            PlanStep(id="b", action="agather_here", params={"rendezvous": name}),
            PlanStep(id="c", action="gather_here", params={"rendezvous": name}),
            PlanStep(id="sum", action="total", depends_on=("a", "b", "c")),
        ],
    )
    try:
        result = asyncio.run(ray_orchestrator.execute_task(plan))
    finally:
        Rendezvous.stop(handle)
    assert result.ok, result.failed
    assert result.waves == (("a", "b", "c"), ("sum",))
    assert result.value == 1 + 2 + 3


# -- plugins, connection -------------------------------------------------------------------


def test_a_plugins_tools_run_on_ray_from_a_fresh_process(
    ray_ready: RayInstance, tmp_path: Path
) -> None:
    assert ray_ready.site is not None
    make_distribution(
        ray_ready.site,
        "victor-pid-tools",
        {"victor_core.tools": {"pid-tools": "victor_pid_tools"}},
        modules={
            "victor_pid_tools": textwrap.dedent(
                """
                import os
                from victor_core import Tool, hookimpl

                def worker_pid() -> int:
                    return os.getpid()

                @hookimpl
                def victor_tools():
                    return [Tool(name="worker_pid", description="pid", func=worker_pid)]
                """
            )
        },
    )
    code = textwrap.dedent(
        f"""
        import asyncio, json, os
        from victor_core import AgentOrchestrator, Settings

        async def main():
            settings = Settings(cache_dir={str(tmp_path / "c")!r}, data_dir={str(tmp_path / "d")!r},
                                executor_backend="ray", ray_address={ray_ready.address!r})
            async with AgentOrchestrator(settings) as orch:
                result = await orch.execute_tool("worker_pid")
                print(json.dumps([result.ok, result.value, result.error, os.getpid()]))

        asyncio.run(main())
        """
    )
    # Installed in the site folder of the instance: importable by this
    # driver and by every worker, as a package installed on every node.
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=ray_ready.env(),
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    ok, value, error, driver = json.loads(out.stdout.strip().splitlines()[-1])
    assert ok, error
    assert isinstance(value, int)
    assert value != driver


def test_an_unreachable_address_raises_a_clear_error(tmp_path: Path) -> None:
    port = _free_port()
    code = textwrap.dedent(
        f"""
        import asyncio
        from victor_core import AgentOrchestrator, Settings, Tool
        from victor_core.exceptions import ToolError

        def one() -> int:
            return 1

        async def main():
            settings = Settings(cache_dir={str(tmp_path / "c")!r}, data_dir={str(tmp_path / "d")!r},
                                executor_backend="ray", ray_address="127.0.0.1:{port}")
            async with AgentOrchestrator(settings) as orch:
                orch.tools.register(Tool(name="one", description="1", func=one))
                try:
                    await orch.execute_tool("one")
                except ToolError as exc:
                    print(type(exc).__name__, exc.address, exc.tool)
                    print(exc)

        asyncio.run(main())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    first, message = out.stdout.strip().splitlines()[-2:]
    assert first == f"RayConnectionError 127.0.0.1:{port} one"
    assert message.startswith(
        f"ray_address '127.0.0.1:{port}': cannot reach Ray at 127.0.0.1:{port}"
    )


def test_a_second_cluster_in_one_process_is_refused(ray_ready: RayInstance, tmp_path: Path) -> None:
    orch = AgentOrchestrator(
        Settings(
            cache_dir=tmp_path / "c",
            data_dir=tmp_path / "d",
            executor_backend="ray",
            ray_address=f"127.0.0.1:{_free_port()}",
        )
    )
    orch.tools.register(Tool(name="one", description="1", func=lambda: 1))
    with pytest.raises(
        RayConnectionError, match=r"already connected to the Ray cluster at"
    ) as info:
        asyncio.run(orch.execute_tool("one"))
    assert isinstance(info.value, ToolError)
    assert isinstance(info.value, VictorError)
    # The session's own address is the same cluster.
    same = RayBackend(address=ray_ready.address)
    try:
        result = asyncio.run(same.run(ToolCall("one", lambda: 1, {}, 5.0)))
        assert (result.ok, result.value) == (True, 1)
    finally:
        same.close()
        asyncio.run(orch.aclose())


@pytest.mark.parametrize("address", ["nonsense", "ray://head", "10.0.0.1:port"])
def test_an_address_that_is_not_one_is_named(address: str) -> None:
    with pytest.raises(RayConnectionError, match=r"is not a Ray address") as info:
        _probe(address, "one")
    assert info.value.address == address
    assert repr(address) in str(info.value)


def test_close_kills_the_backends_actors(
    ray_ready: RayInstance, test_tools: dict[str, Tool]
) -> None:
    backend = RayBackend()
    result = asyncio.run(backend.run(ToolCall("pid", test_tools["pid"].func, {}, 10.0)))
    assert result.ok
    backend.close()
    assert _eventually(lambda: not _alive(result.value))


def test_joining_uses_the_cluster_ray_start_recorded_only_if_it_answers(
    ray_ready: RayInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one private helper of Ray victor-ray reads (in victor_ray._connection).
    from ray._private import services
    from victor_ray._connection import _local_cluster

    stale = f"127.0.0.1:{_free_port()}"
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: stale)
    assert _local_cluster() is None
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: ray_ready.address)
    assert _local_cluster() == ray_ready.address
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    assert _local_cluster() is None


def test_a_process_starts_its_own_light_instance_and_again_after_a_shutdown(
    ray_ready: RayInstance, tmp_path: Path
) -> None:
    # A fresh process with an empty ray_address starts a local instance (no
    # `ray start` cluster is recorded in its Ray folder); after ray.shutdown()
    # the backend connects afresh instead of letting Ray start a default one.
    code = textwrap.dedent(
        f"""
        import asyncio, json, os
        import ray
        from victor_core import AgentOrchestrator, Settings, Tool

        def pid() -> int:
            return os.getpid()

        async def main():
            settings = Settings(cache_dir={str(tmp_path / "c")!r}, data_dir={str(tmp_path / "d")!r},
                                executor_backend="ray")
            async with AgentOrchestrator(settings) as orch:
                orch.tools.register(Tool(name="pid", description="pid", func=pid))
                first = await orch.execute_tool("pid")
                resources = ray.cluster_resources()
                light = (resources.get("CPU") == os.cpu_count(),
                         resources.get("object_store_memory") == 96 * 1024 * 1024)
                ray.shutdown()
                second = await orch.execute_tool("pid")
                print(json.dumps([first.ok, second.ok, first.value != second.value, *light]))

        asyncio.run(main())
        """
    )
    env = ray_ready.env()
    # Ray's folder for this process, where nothing is recorded; short, as Ray's
    # socket paths must fit in 107 bytes.
    ray_folder = tempfile.mkdtemp(prefix="victor-ray-")
    env["RAY_TMPDIR"] = ray_folder
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
            check=False,
        )
    finally:
        shutil.rmtree(ray_folder, ignore_errors=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [True, True, True, True, True]
