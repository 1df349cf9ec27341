"""Helpers shared by the command modules: settings, orchestrator, output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from victor_core.settings import Settings


def setup_logging(args: argparse.Namespace) -> None:
    """Configure structlog for the command line (the library never does)."""
    try:
        from victor_core.cli._logging import configure_logging
    except ModuleNotFoundError:  # pragma: no cover - during early development only
        return
    configure_logging(fmt=getattr(args, "log_format", None), verbosity=getattr(args, "verbose", 0))


def load_settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    """Settings from ``--config`` (if given), then ``VICTOR_*`` variables, then ``overrides``."""
    config = getattr(args, "config", None)
    base = Settings.load(config) if config else None
    settings = Settings.from_env(base=base)
    return settings.evolve(**overrides) if overrides else settings


def make_orchestrator(args: argparse.Namespace, **overrides: Any) -> Any:
    """An :class:`~victor_core.AgentOrchestrator` with the command line's settings."""
    from victor_core.orchestrator import AgentOrchestrator

    return AgentOrchestrator(load_settings(args, **overrides))


def print_json(document: Any) -> None:
    """Write ``document`` as the only thing on stdout (indented, keys in order given)."""
    json.dump(document, sys.stdout, indent=2, default=_json_default)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def print_table(rows: Iterable[Sequence[Any]], headers: Sequence[str], *, file: Any = None) -> None:
    """Print ``rows`` as an aligned plain-text table with ``headers``."""
    out = file or sys.stdout
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line.rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def progress(message: str) -> None:
    """Show progress on stderr (never on stdout, which may carry JSON)."""
    print(message, file=sys.stderr, flush=True)
