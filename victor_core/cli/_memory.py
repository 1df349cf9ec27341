"""``victor memory stats [--json]`` and ``victor memory prune --days N [--json]``."""

from __future__ import annotations

import argparse
import time
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``memory`` command group."""
    parser = subparsers.add_parser(
        "memory",
        help="inspect and prune episodic and semantic memory",
        description="Inspect and prune the persistent memory under data_dir.",
    )
    actions = parser.add_subparsers(dest="memory_command", metavar="ACTION")
    stats = actions.add_parser("stats", help="counts, limits and storage of memory")
    stats.add_argument("--json", action="store_true", help="print JSON on stdout")
    stats.set_defaults(func=_stats)
    prune = actions.add_parser("prune", help="delete episodes older than N days")
    prune.add_argument(
        "--days",
        type=float,
        required=True,
        metavar="N",
        help="age in days (0 or more; fractions allowed)",
    )
    prune.add_argument("--json", action="store_true", help="print JSON on stdout")
    prune.set_defaults(func=_prune)
    parser.set_defaults(func=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    import sys

    parser.print_help(sys.stderr)
    return 2


def _not_created(backend: Any) -> bool:
    """Whether ``backend`` is the built-in SQLite one and its file does not exist yet."""
    from victor_core.memory._sqlite import SqliteMemoryBackend

    return isinstance(backend, SqliteMemoryBackend) and not backend.path.exists()


def _stats(args: argparse.Namespace) -> int:
    import asyncio

    from victor_core.cli._common import make_orchestrator, print_json, print_table

    async def collect() -> dict[str, Any]:
        orchestrator = make_orchestrator(args)
        try:
            memory = orchestrator.memory
            settings = orchestrator.settings
            doc: dict[str, Any] = {
                "episodic_enabled": settings.enable_episodic_memory,
                "semantic_enabled": settings.enable_semantic_memory,
                "max_episodes": settings.episodic_memory_max_episodes,
                "max_facts": settings.semantic_memory_max_facts,
            }
            backend = await memory.get_backend()
            if _not_created(backend):
                # A report must not create the store it reports on.
                doc.update(backend="sqlite", path=str(backend.path), episodes=0, facts=0)
                doc.update(size_bytes=0, newest_episode_at=None)
                return doc
            doc.update(await backend.stats())
            newest = await memory.episodic.recent(1)
            doc["newest_episode_at"] = newest[0].created_at if newest else None
            return doc
        finally:
            await orchestrator.aclose()

    doc = _readable(asyncio.run(collect()), now=time.time())
    if args.json:
        print_json(doc)
    else:
        rows = [(key, _show(key, value)) for key, value in sorted(doc.items())]
        print_table(rows, ("setting", "value"))
    return 0


def _readable(doc: dict[str, Any], *, now: float) -> dict[str, Any]:
    """``newest_episode_at`` as an ISO 8601 date (UTC), with its age in seconds beside it."""
    at = doc.get("newest_episode_at")
    doc = dict(doc)
    if isinstance(at, (int, float)):
        doc["newest_episode_at"] = iso_date(at)
        doc["newest_episode_age_s"] = round(max(0.0, now - at), 3)
    return doc


def _show(key: str, value: Any) -> Any:
    """A table cell: sizes in B/KiB/MiB, ages as "3 min ago"."""
    if key == "size_bytes" and isinstance(value, int):
        return byte_size(value)
    if key == "newest_episode_age_s" and isinstance(value, (int, float)):
        return f"{duration(value)} ago"
    return value


def iso_date(epoch: float) -> str:
    """``2026-12-02T07:10:00Z``: seconds since the epoch as an ISO 8601 UTC date."""
    import datetime

    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def duration(seconds: float) -> str:
    """``"40 s"``, ``"3 min"``, ``"5 h"``, ``"2 days"``: the largest unit that fits."""
    for unit, size in (("day", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            count = int(seconds // size)
            return plural(count, unit) if unit == "day" else f"{count} {unit}"
    return f"{int(seconds)} s"


def byte_size(size: int) -> str:
    """``"512 B"``, ``"1.5 KiB"``, ``"12.0 MiB"``, ``"2.1 GiB"``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def plural(count: float, noun: str) -> str:
    """``"1 episode"``, ``"2 episodes"``, ``"0 episodes"``."""
    shown = f"{count:g}" if isinstance(count, float) else str(count)
    return f"{shown} {noun}" if count == 1 else f"{shown} {noun}s"


def _prune(args: argparse.Namespace) -> int:
    import asyncio

    from victor_core.cli._common import make_orchestrator, print_json, progress
    from victor_core.memory._memory import _check_days as check_days

    async def prune() -> tuple[int, int]:
        orchestrator = make_orchestrator(args)
        try:
            episodic = orchestrator.episodic_memory
            if _not_created(await orchestrator.memory.get_backend()):
                check_days(args.days)  # a bad value is still an error
                return 0, 0
            removed = await episodic.clear_old_episodes(days=args.days)
            return removed, await episodic.count()
        finally:
            await orchestrator.aclose()

    if not args.json:
        progress(f"pruning episodes older than {plural(args.days, 'day')} ...")
    removed, left = asyncio.run(prune())
    if args.json:
        print_json({"days": args.days, "episodes_removed": removed, "episodes_left": left})
    else:
        print(
            f"removed {plural(removed, 'episode')} older than {plural(args.days, 'day')}; "
            f"{left} left"
        )
    return 0
