"""Helpers shared by the command modules: settings, orchestrator, output on stdout and stderr.

stderr has one format per run, chosen once by :func:`setup_output`: readable
lines (``console``, coloured on a terminal) or one JSON object per line
(``json``, the default when stderr is not a terminal). Progress, warnings and
the library's logs all use it; stdout carries only results.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from victor_core.settings import Settings

_ANSI = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


class _Output:
    """How this run writes to stderr and stdout (set once by :func:`setup_output`)."""

    log_format = "console"
    quiet = False
    verbosity = 0
    color_mode = "auto"


def color_enabled(stream: Any, mode: str | None = None) -> bool:
    """Whether to colour ``stream``: ``--color``, then ``NO_COLOR``, ``FORCE_COLOR``, a terminal.

    ``--color always|never`` wins; in ``auto`` a non-empty ``NO_COLOR`` turns
    colour off, a ``FORCE_COLOR`` other than empty or ``0`` turns it on, and
    otherwise only a terminal is coloured.
    """
    mode = mode or _Output.color_mode
    if mode == "always":
        return True
    if mode == "never":
        return False
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    return _isatty(stream)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def style(text: str, *names: str, stream: Any = None) -> str:
    """``text`` in ANSI styles (``bold``, ``red``, ...) when ``stream`` (stdout) is coloured."""
    if not names or not color_enabled(stream if stream is not None else sys.stdout):
        return text
    codes = ";".join(_ANSI[n] for n in names)
    return f"\033[{codes}m{text}\033[0m"


def setup_output(args: argparse.Namespace) -> None:
    """Fix this run's stderr format, verbosity and colours from the global options.

    structlog is configured the moment it is first imported (by the library
    asking for a logger, or by a plugin that logs through structlog directly),
    so that a command that logs nothing never imports it.
    """
    from victor_core import _log

    quiet = bool(getattr(args, "quiet", 0))
    verbosity = -1 if quiet else int(getattr(args, "verbose", 0) or 0)
    fmt = getattr(args, "log_format", None) or ("console" if _isatty(sys.stderr) else "json")
    _Output.log_format = fmt
    _Output.quiet = quiet
    _Output.verbosity = verbosity
    _Output.color_mode = getattr(args, "color", None) or "auto"
    _log.level = (40, 30, 20, 10)[min(verbosity + 1, 3)]

    def configure() -> None:
        from victor_core.cli._logging import configure_logging

        configure_logging(fmt=fmt, verbosity=verbosity, colors=color_enabled(sys.stderr))

    _log.configure_on_first_use(configure)


def _record(level: str, event: str, **fields: Any) -> None:
    import json
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    doc = {"event": event, **fields, "level": level, "timestamp": stamp}
    sys.stderr.write(json.dumps(doc, default=str) + "\n")
    sys.stderr.flush()


def progress(message: str) -> None:
    """Show progress on stderr (never on stdout, which may carry JSON); ``-q`` hides it."""
    if _Output.quiet:
        return
    if _Output.log_format == "json":
        _record("info", "progress", message=message)
        return
    print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """One warning on stderr, in this run's format; ``-q`` hides it."""
    if _Output.quiet:
        return
    if _Output.log_format == "json":
        _record("warning", "warning", message=message)
        return
    label = style("warning", "yellow", "bold", stream=sys.stderr)
    print(f"victor: {label}: {message}", file=sys.stderr, flush=True)


def error(message: str) -> None:
    """The one line an error prints (always; also with ``-q``)."""
    text = " ".join(str(message).split()) or "unknown error"
    label = style("error", "red", "bold", stream=sys.stderr)
    print(f"victor: {label}: {text}", file=sys.stderr, flush=True)


def setup_logging(args: argparse.Namespace) -> None:
    """Kept for callers of the earlier name: :func:`setup_output`."""
    setup_output(args)


def discover_settings(
    args: argparse.Namespace, **overrides: Any
) -> tuple[Settings, dict[str, Any]]:
    """Settings and their sources for this run (``Settings.discover``), warning as the CLI does.

    Once per run: later calls return the same settings (with ``overrides`` on top).
    """
    cached = getattr(args, "_victor_settings", None)
    if cached is None:
        import warnings

        disable = [
            *(getattr(args, "disable", None) or []),
            *(getattr(args, "disable_after", None) or []),
        ]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            settings, sources = Settings.discover(config=getattr(args, "config", None))
            if disable:
                merged = tuple(dict.fromkeys((*settings.disabled_plugins, *disable)))
                settings = settings.evolve(disabled_plugins=merged)
                from victor_core.settings import SettingSource

                sources["disabled_plugins"] = SettingSource("option")
        for item in caught:
            warn(str(item.message))
        cached = (settings, sources)
        args._victor_settings = cached
    settings, sources = cached
    return (settings.evolve(**overrides) if overrides else settings), sources


def load_settings(args: argparse.Namespace, **overrides: Any) -> Settings:
    """This run's settings: discovered files, ``VICTOR_*``, ``--config``, options, ``overrides``."""
    return discover_settings(args, **overrides)[0]


def make_orchestrator(args: argparse.Namespace, **overrides: Any) -> Any:
    """An :class:`~victor_core.AgentOrchestrator` with the command line's settings."""
    from victor_core.orchestrator import AgentOrchestrator

    return AgentOrchestrator(load_settings(args, **overrides))


def print_json(document: Any) -> None:
    """Write ``document`` as the only thing on stdout (indented, keys in order given)."""
    import json

    sys.stdout.write(json.dumps(document, indent=2, default=_json_default))
    sys.stdout.write("\n")
    sys.stdout.flush()


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def print_table(
    rows: Iterable[Sequence[Any]],
    headers: Sequence[str],
    *,
    file: Any = None,
    colors: dict[str, str] | None = None,
) -> None:
    """Print ``rows`` as an aligned plain-text table with ``headers``.

    Args:
        colors: ``{cell text: ansi style name}``, applied (after alignment) when
            the output is coloured; headers are bold.
    """
    out = file or sys.stdout
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    colored = color_enabled(out)

    def paint(text: str, padded: str, *names: str) -> str:
        if not colored or not names:
            return padded
        codes = ";".join(_ANSI[n] for n in names)
        return f"\033[{codes}m{text}\033[0m" + padded[len(text) :]

    head = "  ".join(paint(h, h.ljust(w), "bold") for h, w in zip(headers, widths, strict=True))
    print(head.rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        line = "  ".join(
            paint(c, c.ljust(w), *([colors[c]] if colors and c in colors else []))
            for c, w in zip(row, widths, strict=True)
        )
        print(line.rstrip(), file=out)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def plural(count: int, word: str, many: str | None = None) -> str:
    """``"1 step"``, ``"3 steps"``."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def ago(timestamp: float | None, *, now: float | None = None) -> str | None:
    """A Unix time as ``"2026-01-02T03:04:05Z (3 min ago)"``; None stays None."""
    if timestamp is None:
        return None
    import time
    from datetime import datetime, timezone

    when = datetime.fromtimestamp(float(timestamp), timezone.utc)
    iso = when.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    delta = (time.time() if now is None else now) - float(timestamp)
    if delta < 0:
        return f"{iso} (in the future)"
    for unit, seconds in (("day", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if delta >= seconds or unit == "s":
            n = int(delta // seconds)
            label = plural(n, "day") if unit == "day" else f"{n} {unit}"
            return f"{iso} ({label} ago)"
    return iso  # pragma: no cover - the loop always returns
