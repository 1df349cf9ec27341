"""The pytest fixture ``redis_server``: a throwaway ``redis-server`` per test session.

:class:`~victor_redis.server.RedisServer` starts Debian's (or any)
``redis-server`` on a free port of 127.0.0.1, without persistence
(``--save "" --appendonly no``), its directory under the session's temporary
one, and stops it by its pid. Import the fixture into a ``conftest.py``. It
skips with a reason when the binary is not on PATH, and fails instead when
``VICTOR_REQUIRE_SERVERS=1`` (as CI sets it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from victor_redis.server import RedisServer, servers_required

__all__ = ["RedisServer", "redis_server", "servers_required"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: Any) -> Iterator[RedisServer]:
    """A throwaway redis-server for the test session (skipped without the binary)."""
    try:
        server = RedisServer(tmp_path_factory.mktemp("redis"))
    except FileNotFoundError as exc:
        if servers_required():
            pytest.fail(f"VICTOR_REQUIRE_SERVERS=1 but {exc}")
        pytest.skip(f"{exc}; install redis-server to run the Redis tests")
    try:
        server.start()
    except RuntimeError as exc:
        if servers_required():
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()
