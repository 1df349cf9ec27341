"""The profile() context manager."""

from __future__ import annotations

import io
import pstats
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
