"""victor-notify-log: a channel of the ``notify`` family writing JSON lines.

Each notification becomes one line of ``settings.data_dir / "notify" /
"events.jsonl"``: ``{"time": ..., "event": ..., "payload": ...}``.
:func:`read_events` reads them back.

The file is bounded: when a line would take it past :data:`MAX_BYTES`, it is
renamed ``events.jsonl.1`` (replacing the previous one) and a new file is
started, so the channel never keeps more than about twice ``MAX_BYTES``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from victor_core import Settings

__all__ = ["MAX_BYTES", "events_path", "read_events", "rotated_path"]

#: The size at which the events file is rotated (1 MiB).
MAX_BYTES = 1024 * 1024


def events_path(settings: Settings) -> Path:
    """Where the events of ``settings`` are written."""
    return Path(settings.data_dir) / "notify" / "events.jsonl"


def rotated_path(settings: Settings) -> Path:
    """Where the older events of ``settings`` are kept after a rotation."""
    return events_path(settings).with_name("events.jsonl.1")


def read_events(settings: Settings) -> list[dict[str, Any]]:
    """The events kept (the rotated file's, then the current one's), oldest first.

    A torn or corrupt line is skipped.
    """
    text = ""
    for path in (rotated_path(settings), events_path(settings)):
        try:
            text += path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
    events = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            events.append(item)
    return events
