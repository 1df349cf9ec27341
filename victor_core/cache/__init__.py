"""Caches: the two-level :class:`TieredCache`, its shared level, keys and the cache manager.

The shared level (L2) sits behind the small protocol :class:`CacheLevel`; the
built-in one is the diskcache store, and a backend plugin returns a
:data:`LevelFactory` from the ``victor_cache_backend`` hook (see docs/caching.md).
"""

from __future__ import annotations

from victor_core.cache._level import CacheLevel as CacheLevel
from victor_core.cache._level import InvalidationCallback as InvalidationCallback
from victor_core.cache._level import LevelFactory as LevelFactory
from victor_core.cache._level import UndecodableEntry as UndecodableEntry
from victor_core.cache._manager import CACHE_TYPES as CACHE_TYPES
from victor_core.cache._manager import CacheManager as CacheManager
from victor_core.cache._tiered import TieredCache as TieredCache
from victor_core.cache.keys import NAMESPACES as NAMESPACES
from victor_core.cache.keys import decode_vector as decode_vector
from victor_core.cache.keys import embedding_key as embedding_key
from victor_core.cache.keys import encode_vector as encode_vector
from victor_core.cache.keys import fold_key as fold_key
from victor_core.cache.keys import glob_prefix as glob_prefix
from victor_core.cache.keys import matching_keys as matching_keys
from victor_core.cache.keys import response_key as response_key
from victor_core.cache.keys import tool_selection_key as tool_selection_key

__all__ = [
    "CACHE_TYPES",
    "NAMESPACES",
    "CacheLevel",
    "CacheManager",
    "InvalidationCallback",
    "LevelFactory",
    "TieredCache",
    "UndecodableEntry",
    "decode_vector",
    "embedding_key",
    "encode_vector",
    "fold_key",
    "glob_prefix",
    "matching_keys",
    "response_key",
    "tool_selection_key",
]
