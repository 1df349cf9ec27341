"""victor-notify-log: a channel of the ``notify`` family writing JSON lines.

Each notification becomes one line of ``settings.data_dir / "notify" /
"events.jsonl"``: ``{"time": ..., "event": ..., "payload": ...}``.
:func:`read_events` reads them back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from victor_core import Settings

__all__ = ["events_path", "read_events"]


def events_path(settings: Settings) -> Path:
    """Where the events of ``settings`` are written."""
    return Path(settings.data_dir) / "notify" / "events.jsonl"


def read_events(settings: Settings) -> list[dict[str, Any]]:
    """Every event written so far, oldest first; a torn or corrupt line is skipped."""
    try:
        text = events_path(settings).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    events = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            events.append(item)
    return events
