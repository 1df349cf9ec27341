"""The cached catalogue of each server's tools: names, descriptions, JSON Schemas.

Listing victor tools must not start servers, so what a server offers is kept
in a JSON file under the victor cache directory, one per server, named after
a hash of the server's configuration (a changed command, URL or environment
is another file). JSON only: a catalogue read back can never execute code.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["CatalogueTool", "config_hash", "load_catalogue", "save_catalogue"]

_FORMAT = 1

#: One tool as the server described it: ``{"name", "description", "input_schema"}``.
CatalogueTool = dict[str, Any]


def config_hash(config: Mapping[str, Any]) -> str:
    """A stable hash of one server's (normalised) configuration."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def catalogue_path(cache_dir: Path, server: str, config: Mapping[str, Any]) -> Path:
    """Where the catalogue of ``server`` with ``config`` lives."""
    return Path(cache_dir) / "mcp" / f"{server}-{config_hash(config)}.json"


def _valid_tool(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("name"), str)
        and isinstance(item.get("description"), str)
        and isinstance(item.get("input_schema"), dict)
    )


def load_catalogue(
    cache_dir: Path, server: str, config: Mapping[str, Any]
) -> list[CatalogueTool] | None:
    """The cached tools of ``server``, or None when none are cached (or the file is unreadable)."""
    path = catalogue_path(cache_dir, server, config)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(document, dict)
        or document.get("format") != _FORMAT
        or document.get("config_hash") != config_hash(config)
        or not isinstance(document.get("tools"), list)
        or not all(_valid_tool(item) for item in document["tools"])
    ):
        return None
    return list(document["tools"])


def save_catalogue(
    cache_dir: Path, server: str, config: Mapping[str, Any], tools: list[CatalogueTool]
) -> bool:
    """Write the catalogue atomically; False (nothing written) when the directory is unusable."""
    path = catalogue_path(cache_dir, server, config)
    document = {
        "format": _FORMAT,
        "server": server,
        "config_hash": config_hash(config),
        "tools": tools,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(document, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        return False
    return True
