"""Shared fixtures. The ``victor_*`` fixtures come from the victor_core.testing plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from victor_core.plugins import PluginManager
from victor_core.settings import Settings

# Loaded explicitly so the fixtures exist even when victor-core runs from a
# source tree without its entry points installed.
pytest_plugins = ["victor_core.testing"] if "VICTOR_NO_TESTING_PLUGIN" in os.environ else []


class FakeClock:
    """A clock tests move by hand: ``clock.now += 60``."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """A :class:`FakeClock` for injectable ``clock=`` arguments."""
    return FakeClock()


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Undo any logging configuration a test made (the command line configures it)."""
    yield
    import structlog

    from victor_core import _log

    structlog.reset_defaults()
    _log.level = 30  # what -v lowered: nobody listens to info any more
    _log.configure_on_first_use(None)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on temporary directories."""
    return Settings(cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")


@pytest.fixture
def pm(settings: Settings) -> PluginManager:
    """A plugin manager that discovers nothing: only what a test registers."""
    return PluginManager(settings, discover=False)


@pytest.fixture
def victor() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m victor_core.cli ARGS`` with ``site`` on the path, in ``tmp_path``."""

    def run(*args: str, site: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PYTHONPATH": str(site),
            "VICTOR_CACHE_DIR": str(tmp_path / "cache"),
            "VICTOR_DATA_DIR": str(tmp_path / "data"),
        }
        return subprocess.run(
            [sys.executable, "-m", "victor_core.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    return run
