"""Hooks of the ``personas`` family (entry-point group ``victor_core.personas``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from victor_core._markers import hookspec

if TYPE_CHECKING:
    from victor_core.models import Persona


@hookspec
def victor_personas() -> list[Persona]:  # type: ignore[empty-body]
    """Return the personas this plugin provides.

    Called once, the first time a persona is looked up (``victor run
    --persona``, :meth:`AgentOrchestrator.run`). Every implementation's list
    is collected.

    Returns:
        A list of :class:`victor_core.Persona` (or an awaitable of one).
    """
