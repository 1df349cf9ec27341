"""Learned ("RL") tool weights per task type, from the outcomes of past executions.

:class:`RLRanking` counts the successes and failures of each (task type, tool)
pair and turns them into a weight that :class:`~victor_core.selection.ToolSelector`
multiplies a tool's similarity by; the counts persist as JSON under ``data_dir``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from victor_core.selection._embedding import STOP_WORDS, stem, tokenize

__all__ = ["RLRanking", "task_type_of"]


def task_type_of(query: str, context: Mapping[str, Any] | None = None) -> str:
    """The task type learned weights are kept under.

    ``context["task_type"]`` when given, else the stem of the query's first
    meaningful word (``"Run the unit tests"`` -> ``"run"``), else ``"general"``.
    """
    if context:
        given = context.get("task_type")
        if isinstance(given, str) and given:
            return given
    for word in tokenize(query):
        if word not in STOP_WORDS and not word.isdigit():
            return stem(word)
    return "general"


class RLRanking:
    """Success statistics per (task type, tool), and the weights learned from them.

    The weight of a tool for a task type is ``1 + 0.5 * (2 * p - 1) * c`` where
    ``p = (successes + 1) / (runs + 2)`` (the success rate with a uniform
    prior) and ``c = runs / (runs + 5)`` (confidence): between 0.5 and 1.5,
    and 1.0 for a tool never run.

    Args:
        path: JSON file the statistics persist to (None: in memory only).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stats: dict[str, dict[str, list[int]]] = {}
        # Outcomes recorded per task type: read on every cached selection, so kept apart.
        self._generations: dict[str, int] = {}
        if path is not None:
            self._load(path)
        for task, tools in self._stats.items():
            self._generations[task] = sum(wins + losses for wins, losses in tools.values())

    def _load(self, path: Path) -> None:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            _warn("tool_selection_rl_unreadable", path=str(path), error=str(exc))
            return
        stats = raw.get("stats") if isinstance(raw, dict) else None
        if not isinstance(stats, dict):
            _warn("tool_selection_rl_unreadable", path=str(path), error="no 'stats' table")
            return
        for task, tools in stats.items():
            if not isinstance(tools, dict):
                continue
            clean = {
                str(tool): [int(pair[0]), int(pair[1])]
                for tool, pair in tools.items()
                if isinstance(pair, list)
                and len(pair) == 2
                and all(isinstance(n, int) for n in pair)
            }
            if clean:
                self._stats[str(task)] = clean

    def record(self, task_type: str, tool: str, ok: bool) -> None:
        """Count one run of ``tool`` for ``task_type`` and persist the statistics."""
        with self._lock:
            pair = self._stats.setdefault(task_type, {}).setdefault(tool, [0, 0])
            pair[0 if ok else 1] += 1
            self._generations[task_type] = self._generations.get(task_type, 0) + 1
            snapshot = json.dumps({"version": 1, "stats": self._stats}, sort_keys=True)
        if self.path is not None:
            self._save(snapshot)

    def _save(self, text: str) -> None:
        path = self.path
        if path is None:
            return
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            _warn("tool_selection_rl_unwritable", path=str(path), error=str(exc))
            with contextlib.suppress(OSError):
                tmp.unlink()

    def stats(self, task_type: str | None = None) -> dict[str, Any]:
        """A copy of the statistics: ``{task: {tool: [wins, losses]}}`` (one task if given)."""
        with self._lock:
            if task_type is not None:
                return {tool: list(p) for tool, p in self._stats.get(task_type, {}).items()}
            return {t: {k: list(p) for k, p in v.items()} for t, v in self._stats.items()}

    def generation(self, task_type: str) -> int:
        """How many outcomes were recorded for ``task_type`` (changes with every record)."""
        return self._generations.get(task_type, 0)

    def weights(self, task_type: str) -> dict[str, float]:
        """Tool -> learned weight for ``task_type`` (tools never run are absent: weight 1)."""
        with self._lock:
            tools = dict(self._stats.get(task_type, {}))
        out: dict[str, float] = {}
        for tool, (wins, losses) in tools.items():
            runs = wins + losses
            rate = (wins + 1) / (runs + 2)
            confidence = runs / (runs + 5)
            out[tool] = 1.0 + 0.5 * (2 * rate - 1) * confidence
        return out


def _warn(event: str, **fields: Any) -> None:
    from victor_core._log import get_logger

    get_logger().warning(event, **fields)
