"""A turn's bookkeeping: memory recall and record, run metrics, cache counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from victor_core.agent._report import jsonable
from victor_core.exceptions import VictorError

if TYPE_CHECKING:
    from victor_core.agent._model import ModelOutcome
    from victor_core.agent._results import StepSummary
    from victor_core.agent._services import AgentServices

__all__ = ["cache_counts", "cache_delta", "observe", "recall", "record", "record_doc", "warn"]


async def recall(services: AgentServices, goal: str, errors: list[str]) -> list[dict[str, Any]]:
    """Related episodes and facts; memory trouble is reported, never fatal."""
    settings = services.settings
    if not (settings.enable_episodic_memory or settings.enable_semantic_memory):
        return []
    memory = services.memory()
    found: list[dict[str, Any]] = []
    try:
        if settings.enable_episodic_memory:
            for episode in await memory.episodic.search(goal, 3):
                found.append({"kind": "episode", **jsonable(episode.to_dict())})
        if settings.enable_semantic_memory:
            for fact in await memory.semantic.search(goal, 3):
                found.append({"kind": "fact", **jsonable(fact.to_dict())})
    except (VictorError, OSError) as exc:
        errors.append(f"memory recall: {exc}")
        warn("agent_recall_failed", error=str(exc))
    return found


def record_doc(
    steps: Sequence[StepSummary], report: str, outcome: ModelOutcome | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The episode's actions and outcome for a turn."""
    actions: list[dict[str, Any]] = [
        {"step": s.id, "action": s.action, "status": s.status} for s in steps
    ]
    if outcome is not None:
        actions = [
            {
                "action": c.name,
                "arguments": jsonable(c.arguments),
                "status": "ok" if c.ok else "failed",
                "error": c.error,
                "turn": c.turn,
            }
            for c in outcome.tool_calls
        ]
    ok = outcome.status == "completed" if outcome else all(s.status == "ok" for s in steps)
    return actions, {"ok": ok, "summary": report.splitlines()[0] if report else ""}


async def record(
    services: AgentServices,
    goal: str,
    *,
    persona: str,
    path: str,
    doc: tuple[list[dict[str, Any]], dict[str, Any]],
    errors: list[str],
) -> None:
    """Store the turn as an episode; memory trouble is reported, never fatal."""
    actions, outcome = doc
    try:
        await services.memory().episodic.record(
            goal, actions=actions, outcome=outcome, persona=persona, path=path
        )
    except (VictorError, OSError) as exc:
        errors.append(f"memory record: {exc}")
        warn("agent_record_failed", error=str(exc))


def observe(
    services: AgentServices, timings: Mapping[str, float], total_ms: float, *, ok: bool
) -> None:
    """Count the run and time it and its stages (when ``metrics_enabled``)."""
    if not services.settings.metrics_enabled:
        return
    registry = services.metrics()
    registry.create_counter("victor_agent_runs_total", "Agent turns run.").increment()
    if not ok:
        registry.create_counter(
            "victor_agent_failed_runs_total", "Agent turns with a failed step."
        ).increment()
    registry.create_timer("victor_agent_run_seconds", "Duration of agent turns.").observe(
        total_ms / 1000.0
    )
    stages = registry.create_timer(
        "victor_agent_stage_seconds",
        "Duration of each stage of agent turns.",
        labels=("stage",),
    )
    for stage, ms in timings.items():
        stages.labels(stage=stage).observe(ms / 1000.0)


def cache_counts(services: AgentServices) -> dict[str, tuple[int, int]]:
    """Hits and misses of each cache so far, from the cache metrics.

    Read from the metrics registry rather than the caches so that counting
    opens no cache the turn does not use.
    """
    from victor_core.cache._manager import CACHE_TYPES

    registry = services.metrics()
    counts: dict[str, tuple[int, int]] = {}
    for cache_type in CACHE_TYPES:
        hits = registry.get(f"victor_cache_{cache_type}_hits_total")
        misses = registry.get(f"victor_cache_{cache_type}_misses_total")
        counts[cache_type] = (
            int(hits.value) if hits is not None else 0,
            int(misses.value) if misses is not None else 0,
        )
    return counts


def cache_delta(services: AgentServices, before: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
    """Hits and misses of each cache since ``before``."""
    after = cache_counts(services)
    out: dict[str, Any] = {}
    for cache_type, (hits, misses) in after.items():
        h0, m0 = before.get(cache_type, (0, 0))
        out[cache_type] = {"hits": hits - h0, "misses": misses - m0}
    return out


def warn(event: str, **fields: Any) -> None:
    """Log a warning ``event``."""
    from victor_core._log import get_logger

    get_logger().warning(event, **fields)
