"""The exception of victor-ray (part of victor-core's tree, below ``ToolError``)."""

from __future__ import annotations

from victor_core.exceptions import ToolError

__all__ = ["RayConnectionError"]


class RayConnectionError(ToolError):
    """Ray could not be started, reached or joined, so no tool could run there.

    Attributes:
        address: the ``ray_address`` asked for (``""``: a local instance).
        tool: the tool whose call needed the connection, when there was one.
    """

    def __init__(self, message: str, *, address: str, tool: str | None = None) -> None:
        super().__init__(message, tool=tool)
        self.address = address
