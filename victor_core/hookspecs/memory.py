"""Hooks of the ``memory`` family (entry-point group ``victor_core.memory``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from victor_core._markers import hookspec

if TYPE_CHECKING:
    from victor_core.settings import Settings


@hookspec(firstresult=True)
def victor_memory_backend(settings: Settings) -> Any:  # type: ignore[empty-body]
    """Return the storage backend of episodic and semantic memory.

    Called once per memory manager, the first time memory is used (not when
    both memories are disabled). The first implementation returning a
    backend wins; the built-in SQLite backend (plugin ``sqlite-memory``,
    ``data_dir/memory.sqlite3``) is marked ``trylast``, so it answers last
    whatever the registration order.

    Args:
        settings: the orchestrator's settings (``data_dir``, limits).

    Returns:
        An object implementing :class:`victor_core.memory.MemoryBackend`, or None.
    """


@hookspec
def victor_episode_stored(episode: Any) -> None:
    """Observe an episode after it was stored (event).

    Called after every stored episode (``record`` and each of ``record_many``);
    return values are ignored, and an implementation that raises is logged
    without failing the call that stored the episode.

    Args:
        episode: the stored :class:`victor_core.memory.Episode`.
    """


@hookspec
def victor_consolidation_strategies() -> list[Any]:  # type: ignore[empty-body]
    """Return extra consolidation strategies.

    Called by ``consolidate_memories()``. A strategy is a callable (or
    coroutine function) ``strategy(episodes, facts) -> list[str]`` receiving
    every stored :class:`~victor_core.memory.Episode` and
    :class:`~victor_core.memory.Fact` and returning texts of facts to add
    (texts already known are skipped, so a strategy may return the same text
    every run). Strategies run after repeated episodes became facts and
    before near-duplicates are merged; one that raises is logged and listed
    in the report's ``errors``.

    Returns:
        A list of strategy callables.
    """
