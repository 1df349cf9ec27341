"""Lazy access to structlog.

structlog costs several milliseconds to import, so library code asks for a
logger only when it has something to say. The library never configures
logging; the command line does (see :mod:`victor_core.cli`), through
:func:`configure_on_first_use` so that a command that logs nothing never
imports structlog.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_configure: Callable[[], None] | None = None


def configure_on_first_use(callback: Callable[[], None] | None) -> None:
    """Call ``callback`` (once) just before the first logger is handed out."""
    global _configure
    _configure = callback


def get_logger(**initial_values: Any) -> Any:
    """Return a structlog logger named ``victor_core``, importing structlog now."""
    global _configure
    import structlog

    if _configure is not None:
        callback, _configure = _configure, None
        callback()
    return structlog.get_logger("victor_core", **initial_values)


#: The lowest level (``logging`` numbers) anyone listens to: the command line
#: lowers it for ``-v``. Until then :func:`info` and :func:`debug` cost one
#: comparison and import nothing.
level = 30


def info(event: str, **fields: Any) -> None:
    """Log ``event`` at info level, if anyone listens to info (``victor -v``)."""
    if level <= 20:
        get_logger().info(event, **fields)


def debug(event: str, **fields: Any) -> None:
    """Log ``event`` at debug level, if anyone listens to debug (``victor -vv``)."""
    if level <= 10:
        get_logger().debug(event, **fields)
