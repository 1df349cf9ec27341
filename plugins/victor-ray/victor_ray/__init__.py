"""victor-ray: Ray as the executor backend of victor-core.

Chosen with ``executor_backend = "ray"`` and ``ray_address``. The backend
lives in :mod:`victor_ray.backend`; Ray itself is imported by
:mod:`victor_ray._connection` at the first tool call, never when this package
or its hook module is imported, so a run that keeps the local executor never
loads Ray.
"""

from __future__ import annotations

from victor_ray._errors import RayConnectionError

__all__ = ["BACKEND_NAME", "RayConnectionError"]

#: The ``executor_backend`` value this plugin answers to.
BACKEND_NAME = "ray"
