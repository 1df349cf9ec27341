"""The ``backends`` family: engines chosen by name (victor_cache_backend, victor_executor_backend)."""

from __future__ import annotations

from typing import Any

from victor_core import PluginManager, Settings, hookimpl


class _Named:
    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def victor_cache_backend(self, name: str, settings: Settings) -> Any:
        return f"cache:{self.name}" if name == self.name else None

    @hookimpl
    def victor_executor_backend(self, name: str, settings: Settings) -> Any:
        return f"executor:{self.name}" if name == self.name else None


def test_the_first_plugin_that_knows_the_name_answers(victor_settings: Settings) -> None:
    pm = PluginManager(victor_settings)
    pm.register(_Named("memcached"), name="memcached")
    pm.register(_Named("dask"), name="dask")
    hook = pm.hook
    assert (
        hook.victor_cache_backend(name="memcached", settings=victor_settings) == "cache:memcached"
    )
    assert hook.victor_executor_backend(name="dask", settings=victor_settings) == "executor:dask"
    assert hook.victor_cache_backend(name="nothing", settings=victor_settings) is None
    assert pm.family_of("victor_cache_backend") == "backends"
