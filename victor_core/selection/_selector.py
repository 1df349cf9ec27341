"""Tool selection: the tools best suited to a query, best first, cached.

:class:`ToolSelector` ranks the registry's tools by the cosine similarity of
the query's embedding to each tool's name, description and tags, then
multiplies the scores by

- the persona's ``tool_preferences`` (by tool name or tag), from the context;
- a learned ("RL") weight per (task type, tool), from the success and failure
  of past executions (:meth:`ToolSelector.record_outcome`), persisted as JSON
  under ``data_dir``.

Three layers of caching, all optional (``cache_manager=None`` turns them off):

- selections in the ``tool_selection`` cache, keyed by the query (namespace
  ``query``) or by the query and the context that changes the ranking
  (namespace ``context``: persona, preferences, stage, recent messages);
- the learned weights of a task type in the same cache (namespace ``rl``);
- embeddings in the ``embedding`` cache, for embedders that are worth caching
  (an embedder with ``cache_embeddings = False``, like the built-in one,
  computes faster than a cache round trip).

A cached selection records a fingerprint of the tool set and embedder and
the generation of the learned weights it used; when either changes, the
entry is ignored and replaced.
"""

from __future__ import annotations

import heapq
import inspect
import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from victor_core import _log
from victor_core.exceptions import ArgumentTypeError, SettingsError
from victor_core.models import Persona, Tool
from victor_core.selection._embedding import Embedder, HashingEmbedder
from victor_core.selection._rankings import RLRanking, task_type_of

if TYPE_CHECKING:
    from victor_core.cache._manager import CacheManager
    from victor_core.execution._tools import ToolRegistry
    from victor_core.plugins import PluginManager
    from victor_core.settings import Settings

__all__ = ["RLRanking", "ToolSelector", "task_type_of"]

_RL_FILE = "tool_selection_rl.json"
_RECENT_MESSAGES = 3
_CONTEXT_WEIGHT = 0.5


class _Index:
    """The tools' vectors, ready for scoring; rebuilt when the tool set changes."""

    def __init__(self, tools: list[Tool], fingerprint: str) -> None:
        self.tools = tools
        self.fingerprint = fingerprint
        self.by_name = {tool.name: tool for tool in tools}
        # sparse: dimension -> [(tool index, weight)], with idf per dimension.
        self.postings: dict[int, list[tuple[int, float]]] = {}
        self.idf: dict[int, float] = {}
        # dense: one vector per tool.
        self.dense: list[list[float]] = []
        self.sparse = True


def _tool_text(tool: Tool) -> str:
    name = tool.name.replace("_", " ").replace("-", " ").replace(".", " ")
    # The name twice: it is the most telling part of a tool.
    return " ".join((name, name, tool.description, " ".join(tool.tags)))


class ToolSelector:
    """Ranks the registry's tools for a query.

    Args:
        registry: the tools to choose from.
        settings: ``tool_selection_max_tools``, the ``tool_selection_cache_*``
            switches and ``data_dir`` are read from it.
        embedder: an :class:`~victor_core.embedding.Embedder`; default: the
            ``victor_embedder`` hook's answer, else :class:`~victor_core.embedding.HashingEmbedder`.
        plugin_manager: asked for an embedder (``victor_embedder``) when none is given.
        cache_manager: a :class:`~victor_core.caches.CacheManager` (None: no caching).
        data_dir: where learned weights persist (default ``settings.data_dir``;
            ``False``: not persisted).
    """

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        settings: Settings,
        embedder: Embedder | None = None,
        plugin_manager: PluginManager | None = None,
        cache_manager: CacheManager | None = None,
        data_dir: Path | str | bool | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.plugin_manager = plugin_manager
        self.cache_manager = cache_manager
        self._embedder = embedder
        self._index: _Index | None = None
        self._index_version = -1
        self._lock = threading.RLock()
        self._warned_unloaded = False
        if data_dir is False:
            path = None
        else:
            base = Path(settings.data_dir if data_dir in (None, True) else data_dir)  # type: ignore[arg-type]
            path = base / _RL_FILE
        self.rl = RLRanking(path)

    # -- the embedder -------------------------------------------------------------------

    @property
    def embedder(self) -> Any:
        """The embedder in use (resolved on first use)."""
        if self._embedder is None:
            self._embedder = self._embedder_from_hook_sync() or HashingEmbedder()
        return self._embedder

    def _embedder_from_hook_sync(self) -> Any:
        if self.plugin_manager is None:
            return None
        result = self.plugin_manager.hook.victor_embedder(settings=self.settings)
        if inspect.isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            _warn("embedder_hook_is_async", hint="use aselect_tools() to resolve it")
            return None
        return result

    async def _resolve_embedder(self) -> None:
        if self._embedder is None and self.plugin_manager is not None:
            found = await self.plugin_manager.ahook.victor_embedder(settings=self.settings)
            self._embedder = found or HashingEmbedder()

    # -- public API ---------------------------------------------------------------------

    async def aselect_tools(
        self, query: str, context: Mapping[str, Any] | None = None, max_tools: int | None = None
    ) -> list[Tool]:
        """Awaitable :meth:`select_tools` that first loads plugin tools and the embedder."""
        await self.registry.ensure_loaded()
        await self._resolve_embedder()
        return self.select_tools(query, context=context, max_tools=max_tools)

    def select_tools(
        self, query: str, context: Mapping[str, Any] | None = None, max_tools: int | None = None
    ) -> list[Tool]:
        """The tools best suited to ``query``, best first.

        Args:
            query: what the user wants, in words.
            context: optional ``persona`` (a :class:`~victor_core.Persona` or its
                ``tool_preferences``), ``tool_preferences`` (name or tag -> weight),
                ``stage`` (a word), ``messages`` (recent messages: strings or
                ``{"content": ...}`` dicts; the last few count, at half weight)
                and ``task_type`` (for learned weights). Other keys are ignored.
            max_tools: most tools returned (default ``tool_selection_max_tools``).

        Returns:
            At most ``max_tools`` tools with a positive score (possibly none).

        Raises:
            SettingsError: ``max_tools`` is not a positive int.
            ArgumentTypeError: ``query`` is not a string.
        """
        limit = self._limit(max_tools)
        self._check_query(query)
        index = self._current_index()
        ctx = _normalize_context(context)
        cache = self._cache("tool_selection")
        key = None
        if cache is not None:
            key = self._selection_key(query, ctx)
            entry = cache.get(key) if key is not None else None
            hit = self._from_entry(entry, index, limit)
            if hit is not None:
                _log.info("tools_selected", tools=[t.name for t in hit], cached=True)
                return hit
        task_type = task_type_of(query, ctx)
        names, complete = self._rank(index, query, ctx, task_type, limit)
        if _log.level <= 20:
            self._log_selection(index, query, ctx, task_type, names)
        if cache is not None and key is not None:
            cache.set(
                key,
                {
                    "fp": index.fingerprint,
                    "task": task_type,
                    "gen": self.rl.generation(task_type),
                    "complete": complete,
                    "tools": names,
                },
            )
        return [index.by_name[name] for name in names]

    def _check_query(self, query: Any) -> None:
        if not isinstance(query, str):
            raise ArgumentTypeError(
                f"query must be a string (got {type(query).__name__})",
                argument="query",
                value=query,
            )
        if not self.registry.loaded and not self._warned_unloaded:
            # Plugin tools load asynchronously; only aselect_tools() can wait for them.
            self._warned_unloaded = True
            _warn("tool_registry_not_loaded", hint="await aselect_tools() to load plugin tools")

    def _log_selection(
        self, index: Any, query: str, ctx: Any, task_type: str, names: list[str]
    ) -> None:
        # Only with ``victor -v``: the scores are computed once more, for the log.
        scores = {
            index.tools[i].name: round(score, 3)
            for i, score in self._scores(index, query, ctx, task_type).items()
        }
        _log.info(
            "tools_selected",
            tools=[(name, scores.get(name)) for name in names],
            task_type=task_type,
            cached=False,
        )

    def rank(
        self, query: str, context: Mapping[str, Any] | None = None
    ) -> list[tuple[Tool, float]]:
        """Every tool with a positive score and its score, best first (never cached)."""
        index = self._current_index()
        ctx = _normalize_context(context)
        scores = self._scores(index, query, ctx, task_type_of(query, ctx))
        order = sorted(scores.items(), key=lambda item: (-item[1], index.tools[item[0]].name))
        return [(index.tools[i], score) for i, score in order]

    def record_outcome(
        self, query: str, result: Any, context: Mapping[str, Any] | None = None
    ) -> None:
        """Learn from a tool's result (anything with ``name`` and ``ok``) for ``query``.

        Cached selections and weights of that task type go stale at once.
        """
        name = getattr(result, "name", None) or getattr(result, "action", None)
        if not isinstance(name, str):
            raise ArgumentTypeError(
                "result must have a str name (or action) and ok, like a ToolResult "
                f"(got {result!r})",
                argument="result",
                value=result,
            )
        task_type = task_type_of(query, _normalize_context(context))
        self.rl.record(task_type, name, bool(getattr(result, "ok", False)))

    def invalidate(self) -> None:
        """Forget the index (the next selection re-reads the registry)."""
        with self._lock:
            self._index = None
            self._index_version = -1

    # -- machinery ----------------------------------------------------------------------

    def _limit(self, max_tools: int | None) -> int:
        if max_tools is None:
            return int(self.settings.tool_selection_max_tools)
        if isinstance(max_tools, bool) or not isinstance(max_tools, int) or max_tools < 1:
            raise SettingsError(
                f"max_tools must be an int of at least 1 or None (got {max_tools!r})",
                field="max_tools",
                value=max_tools,
            )
        return max_tools

    def _cache(self, cache_type: str) -> Any:
        manager = self.cache_manager
        return None if manager is None else manager.get(cache_type)

    def _selection_key(self, query: str, ctx: dict[str, Any]) -> str | None:
        tool_selection_key = _caches().tool_selection_key
        key: str
        if ctx:
            if not self.settings.tool_selection_cache_context:
                return None
            key = tool_selection_key(query, namespace="context", context=ctx)
        elif not self.settings.tool_selection_cache_query:
            return None
        else:
            key = tool_selection_key(query, namespace="query")
        return key

    def _from_entry(self, entry: Any, index: _Index, limit: int) -> list[Tool] | None:
        if not isinstance(entry, dict) or entry.get("fp") != index.fingerprint:
            return None
        names = entry.get("tools")
        task = entry.get("task")
        if not isinstance(names, list) or not isinstance(task, str):
            return None
        if entry.get("gen") != self.rl.generation(task):
            return None
        if len(names) < limit and not entry.get("complete"):
            return None
        by_name = index.by_name
        try:
            return [by_name[name] for name in names[:limit]]
        except (KeyError, TypeError):
            return None

    def _current_index(self) -> _Index:
        index = self._index
        if index is not None and self._index_version == self.registry.version:
            return index
        with self._lock:
            if self._index is None or self._index_version != self.registry.version:
                version = self.registry.version
                self._index = self._build_index(self.registry.tools())
                self._index_version = version
            return self._index

    def _embed(self, texts: list[str]) -> list[Any]:
        """Vectors of ``texts`` (sparse dicts or dense lists), through the embedding cache."""
        embedder = self.embedder
        sparse = callable(getattr(embedder, "embed_sparse", None))
        cache = None
        if getattr(embedder, "cache_embeddings", True):
            cache = self._cache("embedding")
        if cache is None:
            return list(embedder.embed_sparse(texts) if sparse else embedder.embed(texts))
        from victor_core.cache._manager import decode_vector, embedding_key, encode_vector

        keys = [embedding_key(embedder.name, text) for text in texts]
        out: list[Any] = [None] * len(texts)
        missing: list[int] = []
        for i, key in enumerate(keys):
            blob = cache.get(key)
            if isinstance(blob, (bytes, bytearray)):
                vector = decode_vector(bytes(blob))
                out[i] = {j: v for j, v in enumerate(vector) if v} if sparse else vector
            else:
                missing.append(i)
        if missing:
            fresh = embedder.embed([texts[i] for i in missing])
            for i, vector in zip(missing, fresh, strict=False):
                cache.set(keys[i], encode_vector(vector))
                out[i] = {j: v for j, v in enumerate(vector) if v} if sparse else list(vector)
        return out

    def _build_index(self, tools: list[Tool]) -> _Index:
        import hashlib

        embedder = self.embedder
        texts = [_tool_text(tool) for tool in tools]
        digest = hashlib.blake2b(digest_size=12)
        digest.update(str(getattr(embedder, "name", type(embedder).__name__)).encode())
        for tool, text in zip(tools, texts, strict=False):
            digest.update(b"\0" + tool.name.encode() + b"\0" + text.encode())
        index = _Index(tools, digest.hexdigest())
        vectors = self._embed(texts) if texts else []
        if vectors and isinstance(vectors[0], dict):
            # TF-IDF over the tool set: a feature that every tool has tells them apart from nothing.
            df: dict[int, int] = {}
            for vector in vectors:
                for dim in vector:
                    df[dim] = df.get(dim, 0) + 1
            n = len(vectors)
            index.idf = {dim: math.log((n + 1) / (count + 1)) + 1.0 for dim, count in df.items()}
            for i, vector in enumerate(vectors):
                weighted = {dim: value * index.idf[dim] for dim, value in vector.items()}
                norm = math.sqrt(sum(v * v for v in weighted.values())) or 1.0
                for dim, value in weighted.items():
                    index.postings.setdefault(dim, []).append((i, value / norm))
        else:
            index.sparse = False
            for vector in vectors:
                norm = math.sqrt(sum(v * v for v in vector)) or 1.0
                index.dense.append([v / norm for v in vector])
        return index

    def _query_vector(self, index: _Index, query: str, ctx: dict[str, Any]) -> Any:
        texts = [query]
        extra = " ".join(filter(None, [ctx.get("stage", ""), *ctx.get("messages", ())]))
        if extra:
            texts.append(extra)
        vectors = self._embed(texts)
        if index.sparse:
            combined: dict[int, float] = {}
            for weight, vector in zip((1.0, _CONTEXT_WEIGHT), vectors, strict=False):
                for dim, value in vector.items():
                    idf = index.idf.get(dim)
                    if idf is not None:  # dimensions no tool has cannot score
                        combined[dim] = combined.get(dim, 0.0) + weight * value * idf
            return combined
        dense = list(vectors[0])
        if len(vectors) > 1:
            dense = [a + _CONTEXT_WEIGHT * b for a, b in zip(dense, vectors[1], strict=False)]
        return dense

    def _scores(
        self, index: _Index, query: str, ctx: dict[str, Any], task_type: str
    ) -> dict[int, float]:
        if not index.tools:
            return {}
        vector = self._query_vector(index, query, ctx)
        scores: dict[int, float] = {}
        if index.sparse:
            postings = index.postings
            norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
            for dim, value in vector.items():
                q = value / norm
                for i, w in postings[dim]:
                    scores[i] = scores.get(i, 0.0) + q * w
        else:
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            for i, tool_vector in enumerate(index.dense):
                scores[i] = sum(map(float.__mul__, vector, tool_vector)) / norm
        prefs = ctx.get("prefs")
        weights = self._rl_weights(task_type)
        if prefs or weights:
            for i in list(scores):
                tool = index.tools[i]
                factor = weights.get(tool.name, 1.0) if weights else 1.0
                if prefs:
                    factor *= prefs.get(tool.name, 1.0)
                    for tag in tool.tags:
                        factor *= prefs.get(tag, 1.0)
                scores[i] *= factor
        return {i: s for i, s in scores.items() if s > 0.0}

    def _rl_weights(self, task_type: str) -> dict[str, float]:
        generation = self.rl.generation(task_type)
        if generation == 0:
            return {}
        cache = self._cache("tool_selection") if self.settings.tool_selection_cache_rl else None
        key = None
        if cache is not None:
            key = _caches().tool_selection_key(task_type, namespace="rl")
            entry = cache.get(key)
            if isinstance(entry, dict) and entry.get("gen") == generation:
                weights = entry.get("weights")
                if isinstance(weights, dict):
                    return weights
        weights = self.rl.weights(task_type)
        if cache is not None and key is not None:
            cache.set(key, {"gen": generation, "weights": weights})
        return weights

    def _rank(
        self, index: _Index, query: str, ctx: dict[str, Any], task_type: str, limit: int
    ) -> tuple[list[str], bool]:
        scores = self._scores(index, query, ctx, task_type)
        tools = index.tools
        best = heapq.nsmallest(
            limit, scores.items(), key=lambda item: (-item[1], tools[item[0]].name)
        )
        return [tools[i].name for i, _ in best], len(scores) <= limit


def _normalize_context(context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The parts of ``context`` that change a ranking, as JSON-friendly data."""
    if not context:
        return {}
    if not isinstance(context, Mapping):
        raise ArgumentTypeError(
            f"context must be a mapping (got {type(context).__name__})",
            argument="context",
            value=context,
        )
    out: dict[str, Any] = {}
    prefs: dict[str, float] = {}
    persona = context.get("persona")
    if isinstance(persona, Persona):
        prefs.update(persona.tool_preferences)
    elif isinstance(persona, Mapping):
        prefs.update(persona)
    explicit = context.get("tool_preferences")
    if isinstance(explicit, Mapping):
        prefs.update(explicit)
    if prefs:
        out["prefs"] = {str(k): float(v) for k, v in sorted(prefs.items())}
    stage = context.get("stage")
    if isinstance(stage, str) and stage:
        out["stage"] = stage
    messages = context.get("messages") or context.get("recent_messages")
    if isinstance(messages, Sequence) and not isinstance(messages, str):
        texts = []
        for message in list(messages)[-_RECENT_MESSAGES:]:
            text = message.get("content") if isinstance(message, Mapping) else message
            if isinstance(text, str) and text:
                texts.append(text)
        if texts:
            out["messages"] = texts
    task_type = context.get("task_type")
    if isinstance(task_type, str) and task_type:
        out["task_type"] = task_type
    return out


_CACHES: Any = None


def _caches() -> Any:
    """``victor_core.caches``, imported on first use (it imports diskcache)."""
    global _CACHES
    if _CACHES is None:
        import victor_core.cache._manager as module

        _CACHES = module
    return _CACHES


def _warn(event: str, **fields: Any) -> None:
    from victor_core._log import get_logger

    get_logger().warning(event, **fields)
