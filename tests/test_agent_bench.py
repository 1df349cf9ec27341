"""The ``agent`` and ``streaming`` benchmark groups return measured, well-formed figures."""

from __future__ import annotations

import pytest

from victor_core.bench import run_benchmark


def test_agent_group() -> None:
    result = run_benchmark("agent", 4)
    assert result["latency_ms"] > 0
    assert result["throughput"] > 0
    details = result["details"]
    assert details["warm_turns"] == 4
    assert set(details["stages_cold_ms"]) == set(details["stages_warm_ms"])
    assert "selection" in details["stages_warm_ms"]
    assert result["ratios"]["cold_over_warm"] > 0
    if details["plugins"] == "bundled":
        assert result["hit_rate"] == 1.0


def test_streaming_group() -> None:
    pytest.importorskip("victor_openai_provider")
    result = run_benchmark("streaming", 3)
    assert result["hit_rate"] is None
    details = result["details"]
    assert details["first_chunk_ms"] < details["full_stream_ms"]
    assert details["connections_opened_reused"] <= 1
    assert details["connections_opened_new"] == 3
    assert 0 < result["ratios"]["first_chunk_over_full_stream"] < 1


def test_agent_loop_script() -> None:
    from victor_core.bench._agent_loop import script

    user = [{"role": "user", "content": "noop8 3"}]
    calls = script(user, [])
    assert [c.name for c in calls] == ["noop"] * 8
    assert [c.name for c in script([{"role": "user", "content": "sleep1 0"}], [])] == ["sleep100"]
    answered = [*user, {"role": "tool", "tool_call_id": "x", "content": "0"}]
    assert isinstance(script(answered, []), str)


def test_agent_loop_group(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("victor_openai_provider")
    from victor_core.bench import _agent_loop

    peers = {
        "openai-plain": _agent_loop.PEERS["openai-plain"],
        "absent": (("victor_bench_absent_peer",), "victor-bench-absent-peer"),
    }
    monkeypatch.setattr(_agent_loop, "PEERS", peers)
    result = run_benchmark("agent_loop", 3)
    victor = result["details"]["victor-core"]
    assert result["latency_ms"] == victor["overhead_ms"]
    assert victor["eight_over_one"] > 0
    assert victor["one_tool_ms"] >= 100  # each run waits for a 100 ms tool
    assert victor["first_token_ms"] > 0
    assert victor["startup_ms"] > 0
    assert victor["rss_mb"] > 0
    reported = result["details"]["peers"]
    assert set(reported) == {"openai-plain", "absent"}
    assert reported["absent"] == {
        "skipped": "victor_bench_absent_peer not installed (pip install victor-bench-absent-peer)"
    }
    plain = reported["openai-plain"]
    # The plain openai loop is compared on its own, never as the fastest framework.
    assert result["details"]["fastest_peer"] == {}
    assert "overhead_over_fastest_peer" not in result["ratios"]
    if "skipped" in plain:
        assert "overhead_over_plain_loop" not in result["ratios"]
    else:
        assert plain["one_tool_ms"] >= 100
        assert set(plain["versions"]) == {"openai"}
        assert result["ratios"]["overhead_over_plain_loop"] > 0
        assert result["ratios"]["startup_over_plain_loop"] > 0


def test_agent_loop_peer_skipped_when_not_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    from victor_core.bench import _agent_loop
    from victor_core.testing import ScriptedServer

    monkeypatch.setitem(_agent_loop.PEERS, "absent", (("json", "victor_bench_absent"), "x y"))
    with ScriptedServer(_agent_loop.script) as server:
        got = _agent_loop._peer(server, "absent", 3, lambda _: None)
    assert got == {"skipped": "victor_bench_absent not installed (pip install x y)"}
    assert server.timings == []  # nothing was started


def test_agent_loop_peer_failure_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from victor_core.bench import _agent_loop
    from victor_core.testing import ScriptedServer

    monkeypatch.setitem(_agent_loop.PEERS, "broken", (("json",), "json"))
    monkeypatch.setitem(_agent_loop._PEER_SCRIPTS, "broken", "raise SystemExit('no model here')")
    with ScriptedServer(_agent_loop.script) as server:
        got = _agent_loop._peer(server, "broken", 3, lambda _: None)
    assert got == {"error": "agent_loop: broken exited with 1: no model here"}


def test_agent_loop_peer_without_figures_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from victor_core.bench import _agent_loop
    from victor_core.testing import ScriptedServer

    monkeypatch.setitem(_agent_loop.PEERS, "silent", (("json",), "json"))
    monkeypatch.setitem(_agent_loop._PEER_SCRIPTS, "silent", "print('not json')")
    with ScriptedServer(_agent_loop.script) as server:
        got = _agent_loop._peer(server, "silent", 3, lambda _: None)
    assert set(got) == {"error"}
    assert "Expecting value" in got["error"]
