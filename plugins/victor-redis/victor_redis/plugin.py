"""The hook of the ``backends`` family: the Redis cache level, by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from victor_core import hookimpl
from victor_redis import BACKEND_NAME

if TYPE_CHECKING:
    from victor_core import Settings
    from victor_core.cache import LevelFactory


@hookimpl
def victor_cache_backend(name: str, settings: Settings) -> LevelFactory | None:
    """A factory of Redis levels on ``settings.redis_url`` when ``name`` is ``"redis"``."""
    if name != BACKEND_NAME:
        return None
    from victor_redis.level import RedisLevels

    return RedisLevels(settings.redis_url)
