"""Hooks of the ``skills`` family (entry-point group ``victor_core.skills``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from victor_core._markers import hookspec

if TYPE_CHECKING:
    from victor_core.models import Skill


@hookspec
def victor_skills() -> list[Skill]:  # type: ignore[empty-body]
    """Return the skills this plugin provides.

    Called once, the first time the orchestrator needs its skill registry (to
    plan or run a skill chain). Every implementation's list is collected.

    Returns:
        A list of :class:`victor_core.Skill` (or an awaitable of one).
    """
