"""Tool selection: ranking, embedding and RL rankings."""

from __future__ import annotations

from victor_core.selection._embedding import CONCEPTS as CONCEPTS
from victor_core.selection._embedding import STOP_WORDS as STOP_WORDS
from victor_core.selection._embedding import Embedder as Embedder
from victor_core.selection._embedding import HashingEmbedder as HashingEmbedder
from victor_core.selection._embedding import cosine as cosine
from victor_core.selection._embedding import stem as stem
from victor_core.selection._embedding import tokenize as tokenize
from victor_core.selection._rankings import RLRanking as RLRanking
from victor_core.selection._rankings import task_type_of as task_type_of
from victor_core.selection._selector import ToolSelector as ToolSelector

__all__ = [
    "CONCEPTS",
    "STOP_WORDS",
    "Embedder",
    "HashingEmbedder",
    "RLRanking",
    "ToolSelector",
    "cosine",
    "stem",
    "task_type_of",
    "tokenize",
]
