"""Hooks of the ``memory`` family (entry-point group ``victor_core.memory``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from victor_core._markers import hookspec

if TYPE_CHECKING:
    from victor_core.settings import Settings


@hookspec(firstresult=True)
def victor_memory_backend(settings: Settings) -> Any:  # type: ignore[empty-body]
    """Return the storage backend of episodic and semantic memory.

    Called once, the first time memory is used. The first implementation
    returning a backend wins; the built-in SQLite backend answers last.

    Args:
        settings: the orchestrator's settings (``data_dir``, limits).

    Returns:
        An object implementing :class:`victor_core.memory.MemoryBackend`, or None.
    """


@hookspec
def victor_episode_stored(episode: Any) -> None:
    """Observe an episode after it was stored (event).

    Called after every ``episodic_memory.record(...)``; return values are ignored.

    Args:
        episode: the stored :class:`victor_core.memory.Episode`.
    """


@hookspec
def victor_consolidation_strategies() -> list[Any]:  # type: ignore[empty-body]
    """Return extra consolidation strategies.

    Called by ``consolidate_memories()``. A strategy is a callable
    ``strategy(episodes, facts) -> list[str]`` returning texts of facts to
    add; every implementation's strategies run after the built-in ones.

    Returns:
        A list of strategy callables.
    """
