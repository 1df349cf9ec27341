"""Cache keys: readable key builders, vector packing and glob matching over keys.

Keys are human-readable strings, so that ``invalidate("*auth*")`` can find
them: an excerpt of the text they stand for, then a digest that makes them
unique. Every cache level matches glob patterns the same way,
:func:`matching_keys` (:mod:`fnmatch` semantics, case-sensitive): a backend
narrows its search with :func:`glob_prefix` and filters with :func:`matching_keys`,
so a pattern removes from the shared level exactly what it removes from memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from victor_core.exceptions import CacheError, UnencodableValueError

__all__ = [
    "NAMESPACES",
    "decode_vector",
    "embedding_key",
    "encode_vector",
    "fold_key",
    "glob_prefix",
    "matching_keys",
    "response_key",
    "tool_selection_key",
]

#: Namespaces of the tool-selection cache and the setting that switches each.
NAMESPACES = {
    "query": "tool_selection_cache_query",
    "context": "tool_selection_cache_context",
    "rl": "tool_selection_cache_rl",
}

_GLOB_CHARS = "*?["


def fold_key(key: str) -> str:
    """Fold case and runs of whitespace: ``"  Find  FILES "`` -> ``"find files"``."""
    return " ".join(key.lower().split())


def glob_prefix(pattern: str) -> str:
    """The literal text every key matching ``pattern`` starts with (may be empty).

    ``"query:auth*"`` -> ``"query:auth"``; ``"*auth*"`` -> ``""``.
    """
    cut = min((i for i in (pattern.find(c) for c in _GLOB_CHARS) if i >= 0), default=len(pattern))
    return pattern[:cut]


def matching_keys(pattern: str, keys: Iterable[str]) -> set[str]:
    """The keys matching the glob ``pattern``, with :mod:`fnmatch` semantics, case-sensitive.

    ``*`` matches any run, ``?`` one character, ``[seq]`` / ``[!seq]`` a set; a
    ``[`` without its closing ``]`` is a literal ``[`` (as in :mod:`fnmatch`).
    The common shapes - ``"*text*"``, ``"text*"``, ``"*text"``, ``"text"`` -
    use string methods, several times faster than a regular expression over
    tens of thousands of keys.
    """
    if "?" not in pattern and "[" not in pattern:
        parts = pattern.split("*")
        if len(parts) == 1:
            if isinstance(keys, (set, frozenset, dict)):
                return {pattern} if pattern in keys else set()
            return {k for k in keys if k == pattern}
        if len(parts) == 2:
            head, tail = parts
            if not head:
                return {k for k in keys if k.endswith(tail)}
            if not tail:
                return {k for k in keys if k.startswith(head)}
        if len(parts) == 3 and not parts[0] and not parts[2]:
            text = parts[1]
            return {k for k in keys if text in k}
    import fnmatch
    import re

    match = re.compile(fnmatch.translate(pattern)).match
    return {k for k in keys if match(k)}


# Longest excerpt of free text kept readable in a key (the digest makes it unique).
_EXCERPT = 48


def _canonical_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    to_dict = getattr(value, "to_dict", None) or getattr(value, "model_dump", None)
    if callable(to_dict):
        return to_dict()
    raise UnencodableValueError(
        f"{type(value).__name__} is not JSON-serialisable: use JSON data, bytes, or an "
        f"object with to_dict() (got {value!r:.80})"
    )


def _digest(document: Any) -> str:
    """sha256 (hex) of the canonical JSON form of ``document``."""
    import hashlib
    import json

    try:
        text = json.dumps(
            document,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=_canonical_default,
        )
    except (TypeError, ValueError) as exc:
        raise UnencodableValueError(f"cannot build a cache key: {exc}") from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _excerpt(text: str) -> str:
    folded = " ".join(text.split())
    return folded if len(folded) <= _EXCERPT else folded[:_EXCERPT] + "…"


def tool_selection_key(query: str, *, namespace: str = "query", context: Any = None) -> str:
    """The readable key of a tool selection: ``"<namespace>:<query>[#<context digest>]"``.

    The query is folded (case, whitespace) so that equivalent queries share an
    entry; a context (recent messages, stage...) adds a digest of its canonical JSON.

    Args:
        query: the user's query.
        namespace: ``"query"``, ``"context"`` or ``"rl"`` (learned rankings).
        context: JSON-like data the selection depends on (``None``: none).

    Raises:
        CacheError: unknown namespace, non-string query, or context not JSON-like.
    """
    if namespace not in NAMESPACES:
        raise CacheError(
            f"unknown tool-selection namespace {namespace!r}; accepted: "
            + ", ".join(repr(n) for n in NAMESPACES),
            cache="tool_selection",
        )
    if not isinstance(query, str):
        raise CacheError(
            f"query must be a string (got {type(query).__name__})", cache="tool_selection"
        )
    key = f"{namespace}:{fold_key(query)}"
    if context is not None:
        key += "#" + _digest(context)[:32]
    return key


def response_key(provider: str, model: str, messages: Any, parameters: Any = None) -> str:
    """The readable key of a provider response: ``"<provider>/<model>:<excerpt>#<sha256>"``.

    The excerpt is the start of the last message's content (for glob
    invalidation); the sha256 covers the canonical JSON of messages and
    parameters, so any change to either is a different key.

    Raises:
        CacheError: messages or parameters are not JSON-like.
    """
    last = ""
    if isinstance(messages, (list, tuple)) and messages:
        tail = messages[-1]
        content = tail.get("content") if isinstance(tail, dict) else tail
        last = content if isinstance(content, str) else ""
    elif isinstance(messages, str):
        last = messages
    digest = _digest({"messages": messages, "parameters": parameters or {}})
    return f"{provider}/{model}:{_excerpt(last)}#{digest}"


def embedding_key(model: str, text: str) -> str:
    """The readable key of an embedding: ``"<model>:<excerpt>#<sha256 of text>"``.

    Raises:
        CacheError: ``text`` is not a string.
    """
    if not isinstance(text, str):
        raise CacheError(f"text must be a string (got {type(text).__name__})", cache="embedding")
    import hashlib

    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return f"{model}:{_excerpt(text)}#{digest}"


def encode_vector(vector: Any) -> bytes:
    """Pack a vector of floats as little-endian float32 bytes (4 bytes per component).

    Raises:
        CacheError: a component is not a number.
    """
    import array
    import sys

    try:
        packed = array.array("f", vector)
    except TypeError as exc:
        raise CacheError(f"vector components must be numbers ({exc})", cache="embedding") from None
    if sys.byteorder == "big":  # pragma: no cover - stored little-endian everywhere
        packed.byteswap()
    return packed.tobytes()


def decode_vector(data: bytes) -> list[float]:
    """Inverse of :func:`encode_vector`.

    Raises:
        CacheError: ``data`` is not bytes of a length divisible by 4.
    """
    import array
    import sys

    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) % 4:
        size = len(data) if isinstance(data, (bytes, bytearray, memoryview)) else "?"
        raise CacheError(
            "an encoded vector must be bytes whose length is a multiple of 4"
            f" (got {type(data).__name__} of length {size})",
            cache="embedding",
        )
    packed = array.array("f")
    packed.frombytes(bytes(data))
    if sys.byteorder == "big":  # pragma: no cover
        packed.byteswap()
    return packed.tolist()
