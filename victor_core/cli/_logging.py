"""structlog configuration for the command line.

The library never configures logging; ``victor`` calls
:func:`configure_logging` once, before running a command. Logs go to stderr so
that stdout carries only results (and only JSON with ``--json``).
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any, TextIO, cast

__all__ = ["configure_logging"]

_LEVELS = (logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG)
_FORMATS = ("console", "json")


def configure_logging(
    fmt: str | None = None,
    verbosity: int = 0,
    *,
    stream: IO[str] | None = None,
    colors: bool | None = None,
) -> None:
    """Route structlog to ``stream`` with a renderer fit for it.

    Args:
        fmt: ``"console"`` (coloured, human) or ``"json"`` (one object per line);
            default: console on a terminal, JSON otherwise.
        verbosity: -1 shows errors only, 0 adds warnings, 1 info, 2 or more debug.
        stream: where to write (default: stderr).
        colors: colour the console format (default: when ``stream`` is a terminal).

    Raises:
        InvalidArgumentError: ``fmt`` is not one of the accepted formats (a ``ValueError``).
    """
    import structlog

    from victor_core.exceptions import InvalidArgumentError

    if fmt is not None and fmt not in _FORMATS:
        raise InvalidArgumentError(
            f"log format must be one of {list(_FORMATS)} (got {fmt!r})", argument="fmt", value=fmt
        )
    out = stream if stream is not None else sys.stderr
    level = _LEVELS[min(max(int(verbosity) + 1, 0), len(_LEVELS) - 1)]
    if fmt is None:
        fmt = "console" if _isatty(out) else "json"
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        processors += [
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ]
    else:
        processors.append(
            structlog.dev.ConsoleRenderer(colors=_isatty(out) if colors is None else colors)
        )
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(
            file=cast(TextIO, out if stream is not None else _CurrentStderr())
        ),
        cache_logger_on_first_use=False,
    )
    from victor_core import _log

    _log.level = level


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of the write.

    A logger configured once keeps working when stderr is replaced later (a
    test runner's capture, a redirected stream) instead of writing to a
    stream that may be closed by then.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()
