"""Hooks of the ``backends`` family (entry-point group ``victor_core.backends``).

A backend replaces one engine of victor-core by name: the shared cache level
(``cache_backend``) or the executor (``executor_backend``). The bundled
``victor-redis`` and ``victor-ray`` distributions answer ``"redis"`` and
``"ray"``; a third party ships another (Memcached, Dask) the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from victor_core._markers import hookspec

if TYPE_CHECKING:
    from victor_core.settings import Settings


@hookspec(firstresult=True)
def victor_cache_backend(name: str, settings: Settings) -> Any:  # type: ignore[empty-body]
    """Return the factory of the shared cache level called ``name``, or None.

    Called once per cache manager, the first time a cache is built, when
    ``settings.cache_backend`` is not ``"disk"`` (the built-in level). The
    first implementation that knows ``name`` wins; one that does not returns
    None. No implementation answering is an error naming the backend.

    Args:
        name: the value of ``settings.cache_backend``.
        settings: the orchestrator's settings (the backend reads its own, such as ``redis_url``).

    Returns:
        A factory of cache levels (see :mod:`victor_core.cache`), or None.
    """


@hookspec(firstresult=True)
def victor_executor_backend(name: str, settings: Settings) -> Any:  # type: ignore[empty-body]
    """Return the executor backend called ``name``, or None.

    Called once per orchestrator, the first time a tool runs, when
    ``settings.executor_backend`` is not ``"local"`` (the built-in thread and
    event-loop executor). The first implementation that knows ``name`` wins.
    No implementation answering is an error naming the backend.

    Args:
        name: the value of ``settings.executor_backend``.
        settings: the orchestrator's settings (the backend reads its own, such as ``ray_address``).

    Returns:
        An executor backend (see :mod:`victor_core.execution`), or None.
    """
