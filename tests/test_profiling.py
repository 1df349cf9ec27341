"""The profile() context manager."""

from __future__ import annotations

import io
import pstats
import sys
from pathlib import Path

import pytest

from victor_core.metrics._profiling import profile


def busy() -> int:
    return sum(i * i for i in range(20_000))


def test_profile_writes_pstats_and_prints_top_functions(tmp_path: Path) -> None:
    out = io.StringIO()
    target = tmp_path / "sub" / "run.pstats"
    with profile(target, stream=out) as result:
        busy()
    assert result.path == target
    assert result.elapsed is not None
    assert result.elapsed >= 0
    stats = pstats.Stats(str(target))
    assert any(func[2] == "busy" for func in stats.stats)  # type: ignore[attr-defined]
    text = out.getvalue()
    assert f"statistics written to {target}" in text
    assert "Ordered by: cumulative time" in text
    assert "busy" in text


def test_profile_default_path_and_quiet(tmp_path: Path) -> None:
    out = io.StringIO()
    with profile(top=0, stream=out) as result:
        busy()
    try:
        assert result.path.suffix == ".pstats"
        assert result.path.stat().st_size > 0
        assert out.getvalue() == ""
    finally:
        result.path.unlink()


def test_profile_saves_even_when_the_block_raises(tmp_path: Path) -> None:
    target = tmp_path / "fail.pstats"

    def run() -> None:
        with profile(target, stream=io.StringIO()):
            busy()
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        run()
    assert target.exists()


def test_profile_limits_printed_rows(tmp_path: Path) -> None:
    out = io.StringIO()
    with profile(tmp_path / "p.pstats", top=3, stream=out):
        busy()
    assert "due to restriction <3>" in out.getvalue()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"top": -1}, "top must be"), ({"sort": "bogus"}, "sort must be one of")],
)
def test_profile_rejects_bad_arguments(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message), profile(tmp_path / "x.pstats", **kwargs):
        pass


def _busy_in_a_thread(n: int) -> int:
    return sum(i * i for i in range(n))


def test_the_profile_sees_worker_threads(tmp_path: Path) -> None:
    import pstats
    from concurrent.futures import ThreadPoolExecutor

    out = io.StringIO()
    with (
        profile(tmp_path / "threads.pstats", stream=out, top=5) as result,
        ThreadPoolExecutor(2) as pool,
    ):
        assert list(pool.map(_busy_in_a_thread, [1000, 2000])) == [
            _busy_in_a_thread(1000),
            _busy_in_a_thread(2000),
        ]
    names = {func[2] for func in pstats.Stats(str(result.path)).stats}  # type: ignore[attr-defined]
    assert "_busy_in_a_thread" in names
    if sys.version_info < (3, 12):
        # Before 3.12 each thread needs a profiler of its own; from 3.12 on one sees them all.
        assert result.threads >= 1
    assert "threads" in out.getvalue()


def test_worker_statistics_are_merged(tmp_path: Path) -> None:
    import cProfile
    import pstats

    from victor_core.metrics._profiling import add_worker_stats, worker_profiling_enabled

    assert worker_profiling_enabled() is False
    elsewhere = cProfile.Profile()
    elsewhere.runcall(_busy_in_a_thread, 500)
    elsewhere.create_stats()
    add_worker_stats(elsewhere.stats)  # no profile running: ignored
    with profile(tmp_path / "workers.pstats", top=0) as result:
        assert worker_profiling_enabled() is True
        add_worker_stats(elsewhere.stats)
    names = {func[2] for func in pstats.Stats(str(result.path)).stats}  # type: ignore[attr-defined]
    assert "_busy_in_a_thread" in names
    assert result.workers == 1
