"""The value format every cache level stores, and the checks of a cache's arguments.

A value is JSON text or raw bytes behind one format byte, so no level ever
unpickles what it reads back (a planted pickle cannot run).
"""

from __future__ import annotations

from typing import Any

from victor_core.cache._level import UndecodableEntry
from victor_core.exceptions import CacheError, UnencodableValueError

_JSON = b"\x01"
_BYTES = b"\x02"


def _encode(value: Any) -> bytes:
    """Frame ``value`` for the disk level: JSON text or raw bytes behind a format byte."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _BYTES + bytes(value)
    import json

    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise UnencodableValueError(
            "cache values must be JSON-serialisable (dict, list, str, int, float, bool, None)"
            f" or bytes (got {type(value).__name__}: {exc})"
        ) from None
    return _JSON + text.encode("utf-8")


def _decode(blob: bytes) -> Any:
    """Inverse of :func:`_encode`; raises :class:`UndecodableEntry` on anything else."""
    head = blob[:1]
    if head == _BYTES:
        return blob[1:]
    if head == _JSON:
        import json

        try:
            return json.loads(blob[1:].decode("utf-8"))
        except ValueError as exc:  # UnicodeDecodeError is a ValueError too
            raise UndecodableEntry(f"invalid JSON entry: {exc}") from None
    raise UndecodableEntry(f"unknown entry format byte {head!r}")


def _rates(hits: int, misses: int) -> tuple[float, float]:
    total = hits + misses
    if not total:
        return 0.0, 0.0
    return hits / total, misses / total


def check_fraction(fraction: Any, *, cache: str | None = None) -> None:
    """Raise :class:`CacheError` unless ``fraction`` is a number from 0 to 1 (for ``shrink``)."""
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not (0.0 <= fraction <= 1.0)
    ):
        raise CacheError(
            f"fraction must be a number between 0 and 1 (got {fraction!r})", cache=cache
        )


def _check_sizes(name: Any, max_size: Any, timeout: Any) -> None:
    """Raise :class:`CacheError` unless the name, ``max_size`` and ``timeout`` are usable."""
    if not isinstance(name, str) or not name:
        raise CacheError(f"cache name must be a non-empty string (got {name!r})")
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
        raise CacheError(
            f"max_size of cache {name!r} must be an int of at least 1 (got {max_size!r})",
            cache=name,
        )
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise CacheError(
            f"timeout of cache {name!r} must be a positive number (got {timeout!r})",
            cache=name,
        )
