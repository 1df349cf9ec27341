"""Testing helpers for victor-core plugins (a pytest plugin, enabled on install).

Fixtures:

``victor_settings``
    :class:`~victor_core.Settings` whose ``cache_dir`` and ``data_dir`` are in
    the test's temporary directory.
``victor_plugin_manager``
    A fresh :class:`~victor_core.PluginManager` on those settings that
    discovers the installed plugins (with its index in the temporary cache).
``victor_register``
    ``victor_register(plugin, name=None)`` registers an inline plugin (a
    class or module with ``@hookimpl`` functions) on ``victor_plugin_manager``.
``victor_orchestrator``
    An :class:`~victor_core.AgentOrchestrator` on those settings and that
    manager, closed after the test.
``victor_scripted_server``
    ``victor_scripted_server(replies)`` starts a :class:`ScriptedServer` (an
    OpenAI-compatible chat server on 127.0.0.1 answering from ``replies``, a list
    or a function) and stops it after the test; point ``provider_base_url`` at its
    ``base_url``.
``victor_entry_points``
    Installs throw-away distributions with real entry points on a temporary
    ``sys.path`` entry: ``victor_entry_points.add("my-plugin", {"victor_core.tools":
    {"mine": "my_plugin"}}, modules={"my_plugin": "...source..."})``.

:func:`make_distribution` does the same outside pytest.

The scripted model: :class:`ScriptedModel` (replies given as a list or a
function; in process it is a provider, registered with ``model.plugin()``),
:class:`ScriptedServer` (the same served over HTTP), :func:`tool_call` and
:class:`ScriptedFault` to write scripts::

    model = ScriptedModel([[tool_call("count_lines", {"path": "."})], "There are 120 lines."])
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from victor_core.plugins._distributions import make_distribution
from victor_core.plugins._manager import PluginManager
from victor_core.providers._scripted import ScriptedFault, ScriptedModel, ScriptedServer, tool_call
from victor_core.settings import Settings

if TYPE_CHECKING:
    from victor_core.orchestrator import AgentOrchestrator

__all__ = [
    "EntryPointInstaller",
    "ScriptedFault",
    "ScriptedModel",
    "ScriptedServer",
    "make_distribution",
    "tool_call",
]


class EntryPointInstaller:
    """Installs temporary entry-point distributions on a ``sys.path`` entry."""

    def __init__(self, site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.site = site
        self._monkeypatch = monkeypatch
        self._modules: list[str] = []
        site.mkdir(parents=True, exist_ok=True)
        monkeypatch.syspath_prepend(str(site))

    def add(
        self,
        name: str,
        entry_points: Mapping[str, Mapping[str, str]],
        *,
        version: str = "1.0",
        modules: Mapping[str, str] | None = None,
    ) -> Path:
        """Install a distribution; see :func:`make_distribution`."""
        self._modules.extend(modules or {})
        return make_distribution(self.site, name, entry_points, version=version, modules=modules)

    def cleanup(self) -> None:
        """Forget the modules the distributions defined (so the next test imports afresh)."""
        for module in self._modules:
            for loaded in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
                del sys.modules[loaded]


@pytest.fixture
def victor_settings(tmp_path: Path) -> Settings:
    """Settings with ``cache_dir`` and ``data_dir`` in the test's temporary directory."""
    return Settings(cache_dir=tmp_path / "victor-cache", data_dir=tmp_path / "victor-data")


@pytest.fixture
def victor_entry_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EntryPointInstaller]:
    """Install throw-away distributions with real entry points for this test."""
    installer = EntryPointInstaller(tmp_path / "victor-site", monkeypatch)
    yield installer
    installer.cleanup()


@pytest.fixture
def victor_scripted_server() -> Iterator[Callable[..., ScriptedServer]]:
    """``victor_scripted_server(replies, **options)``: a started :class:`ScriptedServer`."""
    servers: list[ScriptedServer] = []

    def start(replies: Any, **options: Any) -> ScriptedServer:
        server = ScriptedServer(replies, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def victor_plugin_manager(victor_settings: Settings) -> PluginManager:
    """A fresh plugin manager that discovers installed plugins."""
    return PluginManager(victor_settings)


@pytest.fixture
def victor_register(victor_plugin_manager: PluginManager) -> Any:
    """``victor_register(plugin, name=None)``: register an inline plugin for this test."""

    def register(plugin: object, name: str | None = None) -> str | None:
        return victor_plugin_manager.register(plugin, name=name)

    return register


@pytest.fixture
def victor_orchestrator(
    victor_settings: Settings, victor_plugin_manager: PluginManager
) -> Iterator[AgentOrchestrator]:
    """An orchestrator on the test's settings and plugin manager, closed afterwards."""
    from victor_core.orchestrator import AgentOrchestrator

    orchestrator = AgentOrchestrator(victor_settings, plugin_manager=victor_plugin_manager)
    yield orchestrator
    if not orchestrator._closed:
        import asyncio

        asyncio.run(orchestrator.aclose())
