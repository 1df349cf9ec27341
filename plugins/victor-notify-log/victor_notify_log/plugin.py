"""The ``log`` channel: implements the hooks of the family victor-notify defines."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import victor_notify_log
from victor_core import hookimpl
from victor_notify_log import events_path, rotated_path

if TYPE_CHECKING:
    from victor_core import Settings


@hookimpl
def victor_notify_channels() -> list[str]:
    """This plugin's one channel."""
    return ["log"]


@hookimpl
def victor_notify(event: str, payload: Mapping[str, Any], settings: Settings) -> str | None:
    """Append the event as one JSON line; return the file's path.

    The file is rotated first when the line would take it past
    ``victor_notify_log.MAX_BYTES``. A notification must never fail the agent:
    an unwritable directory is logged as a warning and the event is dropped
    (None is returned).
    """
    path = events_path(settings)
    line = json.dumps(
        {"time": time.time(), "event": event, "payload": dict(payload)},
        default=str,
        sort_keys=True,
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _rotate_if_full(path, rotated_path(settings), len(line.encode("utf-8")) + 1)
        # One write of one line in append mode: lines from several processes
        # do not interleave.
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    except OSError as exc:
        import structlog

        structlog.get_logger("victor_notify_log").warning(
            "notify_log_failed", path=str(path), error=str(exc)
        )
        return None
    return str(path)


def _rotate_if_full(path: Path, rotated: Path, adding: int) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size and size + adding > victor_notify_log.MAX_BYTES:
        # Atomic: a process appending at the same moment writes its line to
        # one file or the other, never into a torn one.
        os.replace(path, rotated)
