"""Caches: the two-level :class:`TieredCache`, its levels, keys and the cache manager."""

from __future__ import annotations

from victor_core.cache._manager import CACHE_TYPES as CACHE_TYPES
from victor_core.cache._manager import NAMESPACES as NAMESPACES
from victor_core.cache._manager import CacheManager as CacheManager
from victor_core.cache._manager import decode_vector as decode_vector
from victor_core.cache._manager import embedding_key as embedding_key
from victor_core.cache._manager import encode_vector as encode_vector
from victor_core.cache._manager import response_key as response_key
from victor_core.cache._manager import tool_selection_key as tool_selection_key
from victor_core.cache._tiered import TieredCache as TieredCache
from victor_core.cache._tiered import UndecodableEntry as UndecodableEntry
from victor_core.cache._tiered import fold_key as fold_key

__all__ = [
    "CACHE_TYPES",
    "NAMESPACES",
    "CacheManager",
    "TieredCache",
    "UndecodableEntry",
    "decode_vector",
    "embedding_key",
    "encode_vector",
    "fold_key",
    "response_key",
    "tool_selection_key",
]
