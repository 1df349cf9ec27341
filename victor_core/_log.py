"""Lazy access to structlog.

structlog costs tens of milliseconds to import, so library code asks for a
logger only when it has something to say. The library never configures
logging; the command line does (see :mod:`victor_core.cli`), through
:func:`configure_on_first_use`: the configuration is applied the moment
structlog is first imported, by the library asking for a logger or by a
plugin importing it directly, so that a command that logs nothing never
imports structlog and a plugin that logs never writes with structlog's
defaults (to stdout, where ``--json`` output goes).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

_configure: Callable[[], None] | None = None


def configure_on_first_use(callback: Callable[[], None] | None) -> None:
    """Call ``callback`` (once) as soon as structlog is imported; None cancels it.

    When structlog is already imported, ``callback`` runs now.
    """
    global _configure
    _configure = callback
    _finder.uninstall()
    if callback is None:
        return
    if "structlog" in sys.modules:
        _run_configure()
    else:
        _finder.install()


def _run_configure() -> None:
    global _configure
    _finder.uninstall()
    if _configure is not None:
        callback, _configure = _configure, None
        callback()


class _ConfigureOnImport:
    """A meta path finder that configures structlog right after its package is executed.

    It finds nothing itself: for ``structlog`` it asks the other finders for
    the spec and wraps its loader, which puts the real loader back on the
    module before running it (so the module keeps no trace of the wrapper).
    """

    _searching = False

    def install(self) -> None:
        if self not in sys.meta_path:
            sys.meta_path.insert(0, self)  # type: ignore[arg-type]

    def uninstall(self) -> None:
        while self in sys.meta_path:
            sys.meta_path.remove(self)  # type: ignore[arg-type]

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> Any:
        if fullname != "structlog" or self._searching:
            return None
        self._searching = True
        try:
            for finder in list(sys.meta_path):
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is not None:
                    if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                        spec.loader = _ConfiguringLoader(spec.loader)
                    return spec
        finally:
            self._searching = False
        return None


class _ConfiguringLoader:
    """Runs the real loader, then the pending configuration."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _run_configure()


_finder = _ConfigureOnImport()


def get_logger(**initial_values: Any) -> Any:
    """Return a structlog logger named ``victor_core``, importing structlog now."""
    import structlog

    _run_configure()  # a no-op unless structlog was imported around the hook
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
