"""The hook of the ``backends`` family: the Ray executor, by name.

Nothing heavy is imported here: :class:`~victor_ray.backend.RayBackend`
connects to Ray at the first call it runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from victor_core import hookimpl
from victor_ray import BACKEND_NAME

if TYPE_CHECKING:
    from victor_core import Settings
    from victor_ray.backend import RayBackend

#: The ``executor_backend`` names this plugin answers (shown when a name is unknown).
EXECUTOR_BACKENDS = (BACKEND_NAME,)


@hookimpl
def victor_executor_backend(name: str, settings: Settings) -> RayBackend | None:
    """A :class:`~victor_ray.backend.RayBackend` on ``settings.ray_address`` for ``"ray"``."""
    if name != BACKEND_NAME:
        return None
    from victor_ray.backend import RayBackend

    return RayBackend(address=str(settings.ray_address), threads=int(settings.max_parallel_workers))
