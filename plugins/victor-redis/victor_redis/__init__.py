"""victor-redis: Redis as the shared cache level (L2) of victor-core.

Chosen with ``cache_backend = "redis"`` and ``redis_url``. The level lives in
:mod:`victor_redis.level` (which imports redis-py); this package and its
hook module import nothing heavy, so a run that keeps the disk level never
loads redis.
"""

from __future__ import annotations

__all__ = ["BACKEND_NAME"]

#: The ``cache_backend`` value this plugin answers to.
BACKEND_NAME = "redis"
