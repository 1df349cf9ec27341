"""Hooks of the ``providers`` family (entry-point group ``victor_core.providers``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from victor_core._markers import hookspec

if TYPE_CHECKING:
    from victor_core.settings import Settings


@hookspec
def victor_providers() -> list[Any]:  # type: ignore[empty-body]
    """Return the model providers this plugin offers.

    Called once, the first time a chat needs a provider (``settings.provider``
    not empty). Every implementation's list is collected; a provider is looked
    up by its ``name``.

    Returns:
        A list of objects implementing :class:`victor_core.providers.Provider`.
    """


@hookspec(firstresult=True)
def victor_embedder(settings: Settings) -> Any:  # type: ignore[empty-body]
    """Return the text embedder used by tool selection and memory consolidation.

    Called once, the first time text must be embedded. The first
    implementation returning an embedder wins; the built-in hashed n-gram
    embedder answers last.

    Args:
        settings: the orchestrator's settings.

    Returns:
        An object implementing :class:`victor_core.selection._embedding.Embedder`, or None.
    """
