"""Fixtures: the demo MCP server's configuration, settings in a temporary directory."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from victor_core import Settings

DEMO = Path(__file__).with_name("demo_server.py")


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Undo the logging configuration ``main()`` makes, for the tests that run after."""
    yield
    import structlog
    from victor_core import _log

    structlog.reset_defaults()
    _log.level = 30  # what -v lowered: nobody listens to info any more
    _log.configure_on_first_use(None)


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VICTOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("VICTOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VICTOR_MCP_SERVERS", raising=False)


@pytest.fixture
def pid_file(tmp_path: Path) -> Path:
    """The file each start of the demo server appends its pid to."""
    return tmp_path / "demo.pids"


@pytest.fixture
def demo(pid_file: Path) -> dict[str, Any]:
    """The ``mcp_servers`` entry of the demo server (stdio)."""
    return {"command": sys.executable, "args": [str(DEMO)], "env": {"DEMO_PID_FILE": str(pid_file)}}


@pytest.fixture
def pids(pid_file: Path) -> Callable[[], list[int]]:
    """The pids of every start of the demo server so far."""

    def read() -> list[int]:
        if not pid_file.exists():
            return []
        return [int(line) for line in pid_file.read_text().split()]

    return read


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(servers: dict[str, Any], **values: Any) -> Settings:
        return Settings(
            mcp_servers=servers,
            cache_dir=tmp_path / "cache",
            data_dir=tmp_path / "data",
            **values,
        )

    return make
