"""The ``cache`` benchmark group returns measured figures in the shared shape."""

from __future__ import annotations

import math
from typing import Any

from victor_core.bench._cache import run


def test_cache_benchmark_shape() -> None:
    messages: list[str] = []
    result = run(1, messages.append)
    assert messages
    assert any("Zipf" in message for message in messages)
    for key in ("latency_ms", "throughput", "hit_rate"):
        assert isinstance(result[key], float)
        assert math.isfinite(result[key])
        assert result[key] > 0
    assert 0 < result["hit_rate"] <= 1
    details = result["details"]
    zipf = details["zipf"]
    # Behaviour, not timing: folding spellings can only help, never beat the ceiling.
    assert zipf["hit_rate_raw"] <= zipf["hit_rate_normalised"] <= zipf["hit_rate_ceiling"]
    assert details["invalidation"]["removed_1_percent"] == details["invalidation"]["keys"] // 100
    assert details["invalidation"]["removed_10_percent"] == details["invalidation"]["keys"] // 10
    assert details["mb_per_1000_entries"] > details["overhead_mb_per_1000_entries"] > 0
    assert set(result["ratios"]) >= {"uncached_over_cached_time", "memory_over_guide"}


def test_distributed_group_skips_redis_without_a_server(monkeypatch: Any) -> None:
    from victor_core.bench import run_benchmark

    monkeypatch.setenv("PATH", "")  # no redis-server binary
    result = run_benchmark("distributed", iterations=5)
    details = result["details"]
    assert details["redis"]["skipped"].startswith("no redis-server on PATH")
    assert details["l1_hit_us"] > 0
    assert details["disk_l2_hit_us"] > 0
    assert set(result["ratios"]) == {"disk_vs_l1"}
    assert "ray" in result


def test_distributed_group_merges_the_ray_section(monkeypatch: Any) -> None:
    import sys
    import types

    from victor_core.bench import run_benchmark

    fake = types.ModuleType("victor_core.bench._ray")
    calls: list[int] = []

    def ray_section(iterations: int) -> dict[str, Any]:
        calls.append(iterations)
        return {"first_call_s": 1.5}

    fake.ray_section = ray_section  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "victor_core.bench._ray", fake)
    monkeypatch.setenv("PATH", "")
    result = run_benchmark("distributed", iterations=7)
    assert result["ray"] == {"first_call_s": 1.5}
    assert calls == [7]
