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


def test_agent_loop_group() -> None:
    pytest.importorskip("victor_openai_provider")
    result = run_benchmark("agent_loop", 3)
    victor = result["details"]["victor-core"]
    assert result["latency_ms"] == victor["overhead_ms"]
    assert victor["eight_over_one"] > 0
    assert victor["one_tool_ms"] >= 100  # each run waits for a 100 ms tool
    assert victor["first_token_ms"] > 0
    assert victor["startup_ms"] > 0
    assert victor["rss_mb"] > 0
    for peer, figures in result["details"]["peers"].items():
        assert isinstance(figures, str) or figures["one_tool_ms"] >= 100, peer
