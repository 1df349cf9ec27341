"""Helpers for the background asyncio tasks (maintenance, monitors)."""

from __future__ import annotations

import contextlib
from typing import Any


async def cancel_task(task: Any) -> None:
    """Cancel ``task`` (an :class:`asyncio.Task` or None) and wait until it has ended."""
    import asyncio

    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
