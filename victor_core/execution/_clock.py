"""One timeout timer for the calls a task awaits one after another.

``asyncio.timeout()`` schedules a timer when a call starts and cancels it
when the call ends: for a batch of thousands of short tools that is most of
the executor's own cost. A :class:`WorkerClock` belongs to one task (a batch
worker) and keeps at most one timer, armed at the earliest deadline it has
been asked for. A call that starts while the timer is armed earlier than its
own deadline leaves it alone; when the timer fires before the running call's
deadline it is armed again for that deadline, and only a call whose deadline
has come is cancelled. So a worker running short calls under the same
timeout schedules about one timer per timeout period, not one per call.

A timed-out call ends exactly as under ``asyncio.timeout()`` (the task is
cancelled, the cancellation is taken back with ``Task.uncancel()`` and
becomes a timeout unless someone else cancelled the task too), so the
executor reports it the same way. Needs Python 3.11 (``Task.uncancel``);
see :data:`AVAILABLE`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

__all__ = ["AVAILABLE", "WorkerClock"]

#: Whether this Python has what the clock needs (``Task.cancelling``/``uncancel``).
AVAILABLE = sys.version_info >= (3, 11)


class WorkerClock:
    """Deadlines for the calls the current task runs in sequence (create it in that task).

    Use: ``enter(timeout)`` before awaiting a call, then exactly one
    ``leave(cancelled)`` after it (``cancelled``: the call ended with
    ``CancelledError``); ``leave`` returns True when that cancellation was
    the call's timeout. ``close()`` when the task is done with the clock.
    """

    __slots__ = ("_armed_at", "_cancelling", "_deadline", "_expiring", "_handle", "_loop", "_task")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task: Any = asyncio.current_task()  # created by a coroutine: never None
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = 0.0
        self._deadline: float | None = None
        self._expiring = False
        self._cancelling = 0

    def enter(self, timeout: float | None) -> None:
        """A call starts, allowed ``timeout`` seconds (None: no limit)."""
        self._expiring = False
        if timeout is None:
            self._deadline = None
            return
        deadline = self._loop.time() + timeout
        self._deadline = deadline
        self._cancelling = self._task.cancelling()
        handle = self._handle
        if handle is None or self._armed_at > deadline:
            if handle is not None:
                handle.cancel()
            self._arm(deadline)

    def leave(self, cancelled: bool) -> bool:
        """The call ended; True when it ended by its timeout (``cancelled`` by this clock)."""
        self._deadline = None
        if not self._expiring:
            return False
        self._expiring = False
        return self._task.uncancel() <= self._cancelling and cancelled

    def close(self) -> None:
        """Drop the timer (the task runs no more calls under this clock)."""
        self._deadline = None
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()

    def _arm(self, when: float) -> None:
        self._armed_at = when
        self._handle = self._loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        deadline = self._deadline
        if deadline is None:
            return  # between calls, or the call has no limit: re-armed by the next enter()
        if deadline <= self._armed_at:
            # Armed for this very deadline: the running call's time is up.
            self._expiring = True
            self._task.cancel()
        else:
            self._arm(deadline)
