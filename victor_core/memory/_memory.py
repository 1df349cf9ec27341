"""Episodic and semantic memory, bounded and persistent.

An *episode* is one thing the agent did: a goal, the actions taken and the
outcome. A *fact* is a short text the agent knows, with where it came from.
Both live in a :class:`MemoryBackend` supplied by the ``memory`` hook family
(``victor_memory_backend``); the built-in backend is one SQLite file under
``settings.data_dir`` (:mod:`victor_core.memory._sqlite`).

The orchestrator exposes them as ``episodic_memory`` and ``semantic_memory``::

    episode = await orchestrator.episodic_memory.record(
        "fix the failing test", ["run_tests", "edit_file"], "tests pass", repo="api"
    )
    similar = await orchestrator.episodic_memory.search("failing test", limit=5)
    await orchestrator.semantic_memory.add_fact("The api repo uses pytest", source="readme")
    await orchestrator.episodic_memory.clear_old_episodes(days=30)
    report = await orchestrator.consolidate_memories()

Maximum sizes are hard caps enforced on every write: beyond
``episodic_memory_max_episodes`` the oldest recorded episodes are deleted;
beyond ``semantic_memory_max_facts`` the least used facts go first (uses are
additions of the same text and search hits), the least recently used among
equals. With ``enable_episodic_memory`` or ``enable_semantic_memory`` False
the matching calls do nothing and return None, 0 or an empty list (arguments
are still checked).
"""

from __future__ import annotations

# The memory's parts live in one module per concept; this module keeps the
# names importable from where they were first defined.
from victor_core.exceptions import MemoryArgumentError
from victor_core.memory._backend import MemoryBackend

# Not in __all__, still imported from here: the explicit re-export says so to mypy.
from victor_core.memory._checks import MAX_LIMIT as MAX_LIMIT  # noqa: PLC0414
from victor_core.memory._checks import _check_days as _check_days  # noqa: PLC0414
from victor_core.memory._episodic import Episode, EpisodicMemory
from victor_core.memory._manager import MemoryManager
from victor_core.memory._semantic import Fact, SemanticMemory, fact_key

__all__ = [
    "Episode",
    "EpisodicMemory",
    "Fact",
    "MemoryArgumentError",
    "MemoryBackend",
    "MemoryManager",
    "SemanticMemory",
    "fact_key",
]
