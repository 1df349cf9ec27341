"""The ``cache`` benchmark group returns measured figures in the shared shape."""

from __future__ import annotations

import math

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
