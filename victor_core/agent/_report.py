"""The report of a turn written the persona's way, and the JSON form of its values."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from victor_core.models import Persona, StepResult

__all__ = ["describe", "jsonable", "word_roots", "write_report"]


def write_report(
    persona: Persona, goal: str, steps: Sequence[StepResult], *, memories: int = 0
) -> str:
    """The report of a turn, written the persona's way.

    Steps come in order of the persona's preference (its favourite tools
    first), then plan order. ``concise``: a line per step and its top three
    highlights; ``bullet``: a bullet per step with five; ``detailed``: a
    section per step with ten, and the step's duration. Highlights that
    share words with the goal come first ("long functions" puts the long
    ones before the complex ones).
    """
    prefs = persona.tool_preferences
    ordered = sorted(
        enumerate(steps), key=lambda item: (-float(prefs.get(item[1].action, 1.0)), item[0])
    )
    ok = sum(1 for s in steps if s.ok)
    head = f"{goal.strip()}: {ok} of {len(steps)} steps succeeded ({persona.name})"
    lines = [head]
    wanted = word_roots(goal)
    for _, step in ordered:
        summary, highlights = describe(step)
        highlights.sort(key=lambda h: -len(word_roots(h) & wanted))
        lines.extend(_step_lines(persona.style, step, summary, highlights))
    if memories and persona.style == "detailed":
        lines.append("")
        lines.append(f"Recalled {memories} related memories from earlier runs.")
    return "\n".join(lines)


def _step_lines(style: str, step: StepResult, summary: str, highlights: list[str]) -> list[str]:
    """The report's lines for one step in the persona's ``style``."""
    if style == "concise":
        mark = "" if step.ok else f" [{step.status}]"
        return [f"- {step.action}{mark}: {summary}", *(f"    {h}" for h in highlights[:3])]
    if style == "bullet":
        return [
            f"* {step.action} ({step.status}): {summary}",
            *(f"    - {h}" for h in highlights[:5]),
        ]
    return [
        "",
        f"## {step.action} ({step.status}, {step.duration_s * 1000.0:.0f} ms)",
        summary,
        *(f"  - {h}" for h in highlights[:10]),
    ]


_REPORT_WORD = re.compile(r"[a-z]{4,}")
_COMMON = frozenset({"find", "show", "list", "with", "that", "this", "what", "from", "have"})


def word_roots(text: str) -> set[str]:
    """The first four letters of the longer words of ``text`` (so "TODOs" meets "TODO:")."""
    return {w[:4] for w in _REPORT_WORD.findall(text.lower()) if w not in _COMMON}


def describe(step: StepResult) -> tuple[str, list[str]]:
    """A step's one-line summary and its highlights."""
    if not step.ok:
        return (step.error or step.status), []
    value = step.value
    if isinstance(value, Mapping):
        summary = value.get("summary")
        highlights = value.get("highlights")
        if isinstance(summary, str):
            items = [str(h) for h in highlights] if isinstance(highlights, list) else []
            return summary, items
        return "returned " + ", ".join(map(str, list(value)[:6])), []
    if isinstance(value, (list, tuple)):
        return f"{len(value)} items", [str(v)[:120] for v in value[:5]]
    text = "done" if value is None else str(value)
    return (text if len(text) <= 200 else text[:197] + "..."), []


_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """``value`` made JSON-serialisable (paths as text, other objects by name or repr)."""
    kind = type(value)
    if kind in _PLAIN:  # the common case first: no ABC checks
        return value
    if kind is dict:
        return {str(k): jsonable(v) for k, v in value.items()}
    if kind is list:
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Path):
        return str(value)
    name = getattr(value, "name", None)
    return name if isinstance(name, str) else repr(value)
