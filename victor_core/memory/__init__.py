"""Memory: episodic and semantic memory, consolidation and the SQLite backend."""

from __future__ import annotations

from victor_core.exceptions import MemoryArgumentError as MemoryArgumentError
from victor_core.memory._backend import MemoryBackend as MemoryBackend
from victor_core.memory._episodic import Episode as Episode
from victor_core.memory._episodic import EpisodicMemory as EpisodicMemory
from victor_core.memory._manager import MemoryManager as MemoryManager
from victor_core.memory._semantic import Fact as Fact
from victor_core.memory._semantic import SemanticMemory as SemanticMemory
from victor_core.memory._semantic import fact_key as fact_key

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
