"""Lazy access to structlog.

structlog costs several milliseconds to import, so library code asks for a
logger only when it has something to say. The library never configures
logging; the command line does (see :mod:`victor_core.cli`).
"""

from __future__ import annotations

from typing import Any


def get_logger(**initial_values: Any) -> Any:
    """Return a structlog logger named ``victor_core``, importing structlog now."""
    import structlog

    return structlog.get_logger("victor_core", **initial_values)
