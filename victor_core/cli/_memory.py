"""``victor memory stats [--json]`` and ``victor memory prune --days N [--json]``."""

from __future__ import annotations

import argparse
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

    doc = asyncio.run(collect())
    if args.json:
        print_json(doc)
    else:
        print_table(sorted(doc.items()), ("setting", "value"))
    return 0


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
        progress(f"pruning episodes older than {args.days:g} days ...")
    removed, left = asyncio.run(prune())
    if args.json:
        print_json({"days": args.days, "episodes_removed": removed, "episodes_left": left})
    else:
        print(f"removed {removed} episodes older than {args.days:g} days; {left} left")
    return 0
