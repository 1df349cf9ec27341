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
