"""Memory: episodic and semantic memory, consolidation and the SQLite backend."""

from __future__ import annotations

from victor_core.memory._memory import Episode as Episode
from victor_core.memory._memory import EpisodicMemory as EpisodicMemory
from victor_core.memory._memory import Fact as Fact
from victor_core.memory._memory import MemoryArgumentError as MemoryArgumentError
from victor_core.memory._memory import MemoryBackend as MemoryBackend
from victor_core.memory._memory import MemoryManager as MemoryManager
from victor_core.memory._memory import SemanticMemory as SemanticMemory
from victor_core.memory._memory import fact_key as fact_key

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
