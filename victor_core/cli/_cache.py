"""``victor cache stats|clear|invalidate|prune``: inspect and empty the persistent caches."""

from __future__ import annotations

import argparse
from typing import Any

from victor_core.cli._common import load_settings, plural, print_json, print_table

_TYPES = "tool_selection, response or embedding"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("cache", help="inspect, invalidate and clear the caches")
    sub = parser.add_subparsers(dest="cache_command", metavar="ACTION")

    stats = sub.add_parser(
        "stats",
        help="entries, hit rates and evictions per cache",
        description=(
            "With --json the document leads with all_processes (the counts every process "
            "added to the store), then what is stored now, then this process's own counters "
            "(hits, misses, hit_rate, miss_rate, evictions), then l1/l2 and by_type."
        ),
    )
    stats.add_argument("type", nargs="?", metavar="TYPE", help=f"one cache: {_TYPES}")
    stats.add_argument("--json", action="store_true", help="print JSON only")
    stats.set_defaults(func=_stats)

    clear = sub.add_parser("clear", help="remove every entry (of one cache, or of all)")
    clear.add_argument("type", nargs="?", metavar="TYPE", help=f"one cache: {_TYPES}")
    clear.add_argument("--json", action="store_true", help="print JSON only")
    clear.set_defaults(func=_clear)

    invalidate = sub.add_parser(
        "invalidate", help="remove the entries whose readable key matches a glob pattern"
    )
    invalidate.add_argument("type", metavar="TYPE", help=_TYPES)
    invalidate.add_argument("pattern", metavar="PATTERN", help="glob pattern, e.g. '*auth*'")
    invalidate.add_argument("--json", action="store_true", help="print JSON only")
    invalidate.set_defaults(func=_invalidate)

    prune = sub.add_parser("prune", help="remove expired entries from every cache")
    prune.add_argument("--json", action="store_true", help="print JSON only")
    prune.set_defaults(func=_prune)

    parser.set_defaults(func=_stats, type=None, json=False)


def _manager(args: argparse.Namespace) -> Any:
    from victor_core.cache._manager import CacheManager

    return CacheManager(load_settings(args))


def _stats(args: argparse.Namespace) -> int:
    from victor_core.cache._manager import CACHE_TYPES

    manager = _manager(args)
    try:
        stats = manager.stats(args.type)
    finally:
        manager.close()
    if args.json:
        print_json({"cache_type": args.type, **_all_processes_first(stats)})
        return 0
    # This process made no lookups: the table shows the totals every process
    # added to the store when it closed its caches, and what is on disk.
    settings = manager.settings
    by_type = {args.type: stats} if args.type else stats["by_type"]
    rows: list[tuple[Any, ...]] = []
    for name in CACHE_TYPES:
        if name not in by_type:
            continue
        one = by_type[name]
        ttl = getattr(settings, f"{name}_cache_ttl")
        ttl = int(ttl) if float(ttl).is_integer() else ttl
        if not one.get("enabled", True):
            rows.append((name, "off", None, None, None, None, None, None, ttl, None))
            continue
        everyone = one.get("all_processes") or {}
        l2 = one.get("l2", {})
        disk = l2.get("directory") if l2.get("available") else "unavailable (memory only)"
        rate = everyone.get("hit_rate")
        rows.append(
            (
                name,
                "on",
                one["current_size"],
                one["max_size"],
                everyone.get("hits"),
                everyone.get("misses"),
                None if rate is None else f"{rate:.1%}",
                everyone.get("evictions"),
                ttl,
                disk,
            )
        )
    headers = ("cache", "enabled", "entries", "max", "hits", "misses", "hit rate", "evictions")
    print_table(rows, (*headers, "ttl (s)", "directory"))
    return 0


# This process's own counters: a fresh `victor cache stats` made no lookups,
# so they come after the totals of every process.
_THIS_PROCESS = ("hits", "misses", "hit_rate", "miss_rate", "evictions")


def _all_processes_first(stats: dict[str, Any]) -> dict[str, Any]:
    """``stats`` reordered: ``all_processes`` (what every process counted) first.

    Then what is stored now (``current_size``, ``max_size``, ``expired``),
    then this process's counters (``hits`` ... ``evictions``), then the rest
    (``l1``, ``l2``, ``by_type``, each cache reordered the same way). No key
    is added or dropped.
    """
    first = ("enabled", "all_processes", "current_size", "max_size", "expired", *_THIS_PROCESS)
    doc = {key: stats[key] for key in first if key in stats}
    for key, value in stats.items():
        if key in doc:
            continue
        if key == "by_type" and isinstance(value, dict):
            doc[key] = {name: _all_processes_first(one) for name, one in value.items()}
        else:
            doc[key] = value
    return doc


def _clear(args: argparse.Namespace) -> int:
    manager = _manager(args)
    try:
        removed = manager.clear(args.type)
    finally:
        manager.close()
    if args.json:
        print_json({"cache_type": args.type, "removed": removed})
    else:
        print(f"Removed {plural(removed, 'entry', 'entries')} from {args.type or 'every cache'}.")
    return 0


def _invalidate(args: argparse.Namespace) -> int:
    manager = _manager(args)
    try:
        removed = manager.invalidate(args.type, args.pattern)
    finally:
        manager.close()
    if args.json:
        print_json({"cache_type": args.type, "pattern": args.pattern, "removed": removed})
    else:
        print(
            f"Removed {plural(removed, 'entry', 'entries')} matching {args.pattern!r} "
            f"from {args.type}."
        )
    return 0


def _prune(args: argparse.Namespace) -> int:
    manager = _manager(args)
    try:
        removed = manager.clear_expired()
    finally:
        manager.close()
    if args.json:
        print_json({"removed": removed})
    else:
        print(f"Removed {plural(removed, 'expired entry', 'expired entries')}.")
    return 0
