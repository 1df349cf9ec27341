"""The lazy plugin manager.

:class:`PluginManager` is a :class:`pluggy.PluginManager` whose plugins come
from entry-point groups named ``victor_core.<family>``. Discovery reads an
on-disk index and imports nothing; a family's plugin modules are imported the
first time any hook of that family is dispatched, or any query would miss
them (``get_hookimpls``, ``get_plugins``, ``get_plugin``...). Until then the
family's hook callers load it on their first call (:mod:`victor_core.plugins._lazy`);
once loaded a call costs what pluggy costs plus one wrapper per entry-point
implementation (call isolation, see :mod:`victor_core.plugins._isolation`).
Loading records each plugin's status and failures (:mod:`._status`);
``list_plugins`` answers from :mod:`._info`, ``pm.ahook`` from :mod:`._async`.
"""

from __future__ import annotations

import functools
import importlib
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy
from pluggy import HookCaller

from victor_core import _log
from victor_core import hookspecs as _hookspecs
from victor_core._markers import PROJECT_NAME
from victor_core.exceptions import HookError, PluginValidationError
from victor_core.plugins._async import AsyncHookRelay, flatten_results
from victor_core.plugins._discovery import (
    GROUP_PREFIX,
    HOOKSPECS_GROUP,
    Discovery,
    EntryRecord,
    default_index_name,  # noqa: F401 - was defined here
    default_index_path,
)
from victor_core.plugins._isolation import ISOLATED, PluginCallError, isolate_calls
from victor_core.plugins._lazy import (
    ADD_HOOKSPECS,
    LazyHookCaller,
    LazyHookRelay,
    builtin_specs,
    materialize,
)
from victor_core.plugins._pluggy_private import (
    hookimpls_of,
    relay_callers,
    set_caller_class,
)
from victor_core.plugins._status import Status, call_failed, load_failed, warn
from victor_core.settings import Settings

# parse_hookspec_opts answers per hookspec module object (see the method).
_SPEC_OPTS: weakref.WeakKeyDictionary[ModuleType, dict[str, Any]] = weakref.WeakKeyDictionary()

if TYPE_CHECKING:
    from victor_core.plugins._info import PluginInfo

__all__ = [
    "BUILTIN_FAMILIES",
    "DEFAULT_PLUGINS",
    "PluginCallError",
    "PluginInfo",
    "PluginManager",
    "flatten_results",
]

#: The families victor-core defines; plugins may add more (see ``add_hookspecs``).
BUILTIN_FAMILIES = ("tools", "skills", "personas", "planning", "memory", "providers", "backends")

#: Built-in plugins: ``name -> (family, module)``. They load like any other plugin
#: of their family (lazily, through this manager), before the installed ones, so
#: that installed plugins take precedence for first-result hooks.
DEFAULT_PLUGINS: dict[str, tuple[str, str]] = {
    "sqlite-memory": ("memory", "victor_core.memory._sqlite"),
}


_CORE = "core"

#: ``disabled_plugins`` names already warned about: once per process, since a
#: command may build more than one manager from the same settings.
_WARNED_DISABLED: set[str] = set()


class PluginManager(pluggy.PluginManager):
    """A pluggy plugin manager that loads entry-point families on first dispatch.

    Args:
        settings: the settings (``lazy_*``, ``disabled_plugins``, ``strict_plugins``,
            ``cache_dir`` for the discovery index).
        discover: read installed entry points (False: only what is registered by hand).
        builtins: include :data:`DEFAULT_PLUGINS`.
        index_path: where the discovery index lives (default:
            ``settings.cache_dir / "plugin-index-<prefix hash>.json"``, one per
            interpreter prefix, so each virtual environment keeps its own; None with
            ``discover=True`` keeps no index).
        paths: import path to discover on (default: ``sys.path``).
    """

    #: Built-in hooks whose caller is not built yet: name -> (family, parsed hookspec).
    _pending_specs: dict[str, tuple[str, Any]]
    #: Hook name -> its family, for every hook with a hookspec.
    _hook_family: dict[str, str]
    #: Family (other than ``core``) -> the callers of its hooks built so far.
    _family_hooks: dict[str, list[HookCaller]]
    #: The built-in families whose callers are built on first use.
    _builtin_families: tuple[str, ...]

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        discover: bool = True,
        builtins: bool = True,
        index_path: Path | str | None = "default",
        paths: list[str] | None = None,
    ) -> None:
        super().__init__(PROJECT_NAME)
        self._probing = 0
        self.settings = settings if settings is not None else Settings()
        self.hook = LazyHookRelay(self)  # type: ignore[misc]
        self._lock = threading.RLock()
        self._loaded_families: set[str] = set()
        self._loading: set[str] = set()
        self._status: dict[tuple[str, str], Status] = {}
        self._by_value: dict[str, Any] = {}
        self._entries: list[EntryRecord] | None = None
        self._specs_loaded = False
        self._before_first_load: list[Callable[[], None]] = []
        self._builtins = dict(DEFAULT_PLUGINS) if builtins else {}
        if index_path == "default":
            index_path = default_index_path(self.settings.cache_dir)
        elif index_path is not None and not isinstance(index_path, Path):
            index_path = Path(index_path)
        self._discovery = Discovery(index_path, paths) if discover else None
        self._add_builtin_hookspecs()
        if ADD_HOOKSPECS not in self._pending_specs:
            # Every plugin registered from now on gets to add its hookspecs (a
            # pending caller makes this call when it is built: see materialize).
            self.hook.victor_add_hookspecs.call_historic(kwargs={"plugin_manager": self})
        is_lazy = self.settings.is_lazy
        for family in BUILTIN_FAMILIES:
            if not is_lazy(family):
                self.load_family(family)
        if not self.settings.lazy_loading_enabled:
            self._load_spec_modules()
            for family in self.families:
                self.load_family(family)
        elif self.settings.lazy_loading_warmup:
            from victor_core.plugins._warmup import start_warmup

            start_warmup(self)

    @functools.cached_property
    def ahook(self) -> AsyncHookRelay:
        """``await pm.ahook.NAME(**kwargs)``: awaitable hook calls (see :class:`AsyncHookRelay`)."""
        return AsyncHookRelay(self)

    # -- hookspecs and families -------------------------------------------------------

    def _add_builtin_hookspecs(self) -> None:
        """What ``add_hookspecs`` of each built-in family does, its callers built on first use.

        The built-in hookspecs are parsed once per process (:func:`builtin_specs`);
        ``pm.hook.NAME`` builds the caller of a built-in hook the first time it is
        looked up (:class:`LazyHookRelay`). A subclass overriding how hookspecs are
        added or parsed gets the plain path, its overrides called as in pluggy.
        """
        cls = type(self)
        if (
            cls.add_hookspecs is not PluginManager.add_hookspecs
            or cls.parse_hookspec_opts is not PluginManager.parse_hookspec_opts
        ):
            self._pending_specs = {}
            self._hook_family = {}
            self._family_hooks = {}
            self._builtin_families = ()
            for family, module in _hookspecs.FAMILIES.items():
                self.add_hookspecs(module, family=family)
            return
        specs = builtin_specs()
        self._pending_specs = specs.pending.copy()
        self._hook_family = specs.families.copy()
        self._family_hooks = {}
        self._builtin_families = specs.lazy_families

    def add_hookspecs(self, module_or_class: object, family: str | None = None) -> None:
        """Add the hookspecs of ``module_or_class`` to ``family``.

        Plugins of a family other than ``core`` are listed under the entry-point
        group ``victor_core.<family>`` and loaded the first time one of the
        family's hooks is dispatched.

        Args:
            module_or_class: holds ``@hookspec`` functions.
            family: the family name (default: the module's ``VICTOR_FAMILY``
                attribute, else ``core``, which loads nothing).
        """
        family = family or getattr(module_or_class, "VICTOR_FAMILY", None) or _CORE
        before = set(relay_callers(self.hook))
        self._probing += 1
        try:
            super().add_hookspecs(module_or_class)  # type: ignore[arg-type]
        finally:
            self._probing -= 1
        with self._lock:
            for name in relay_callers(self.hook):
                caller = relay_callers(self.hook)[name]
                if not isinstance(caller, HookCaller) or caller.spec is None:
                    continue
                if caller.spec.namespace is not module_or_class or name in self._hook_family:
                    continue
                self._hook_family[name] = family
                if family == _CORE:
                    continue
                self._family_hooks.setdefault(family, []).append(caller)
                if family not in self._loaded_families and (
                    name not in before or type(caller) is HookCaller
                ):
                    set_caller_class(caller, LazyHookCaller)

    def parse_hookspec_opts(self, module_or_class: Any, name: str) -> Any:
        """pluggy's answer, remembered per hookspec module for the whole process.

        Every manager adds the same hookspec modules; pluggy inspects each of
        their attributes statically, which was most of a manager's construction.
        A module's hookspecs do not change once it is imported, so the answer is
        kept (classes and other namespaces are asked each time).
        """
        if not isinstance(module_or_class, ModuleType):
            return super().parse_hookspec_opts(module_or_class, name)
        known = _SPEC_OPTS.setdefault(module_or_class, {})
        try:
            return known[name]
        except KeyError:
            opts = known[name] = super().parse_hookspec_opts(module_or_class, name)
            return opts

    def family_of(self, hook_name: str) -> str:
        """The family of a hook (``core`` for hooks that load nothing)."""
        try:
            return self._hook_family[hook_name]
        except KeyError:
            raise HookError(
                f"unknown hook {hook_name!r}: no hookspec defines it", hook=hook_name
            ) from None

    @property
    def families(self) -> list[str]:
        """Every family with hookspecs, built-in and added."""
        return list(dict.fromkeys([*self._builtin_families, *self._family_hooks]))

    def is_family_loaded(self, family: str) -> bool:
        """Whether ``family``'s plugins have been imported."""
        return family in self._loaded_families

    def load_hook_family(self, hook_name: str) -> None:
        """Load the family ``hook_name`` belongs to (nothing for ``core`` hooks)."""
        family = self._hook_family.get(hook_name, _CORE)
        if family != _CORE:
            self.load_family(family)

    def load_family(self, family: str) -> None:
        """Import and register every plugin of ``family`` (once).

        Raises:
            PluginLoadError: with ``strict_plugins``, the first plugin that fails.
        """
        if family in self._loaded_families:
            return
        with self._lock:
            # Another thread loading this family held the lock until it was done;
            # the same thread re-entering (a plugin dispatching its own family
            # while it is imported) gets what is registered so far.
            if family in self._loaded_families or family in self._loading:
                return
            self._loading.add(family)
            added: list[str] = []
            try:
                callbacks, self._before_first_load = self._before_first_load, []
                for callback in callbacks:
                    callback()
                for name, (fam, module) in self._builtins.items():
                    if fam == family:
                        self._load_one(family, name, module, added, builtin=True)
                for entry in self._entries_of(family):
                    self._load_one(family, entry.name, entry.value, added)
            except BaseException:
                # Strict mode (or Ctrl-C): leave the family as it was before, so
                # that loading it again (once the plugin is fixed or disabled)
                # starts over instead of finding it half loaded.
                self._rollback(family, added)
                raise
            finally:
                self._loading.discard(family)
            self._loaded_families.add(family)
            # Only now, with every plugin registered, do the callers become
            # plain pluggy callers that no longer pass through here.
            for caller in self._family_hooks.get(family, ()):
                if type(caller) is LazyHookCaller:
                    set_caller_class(caller, HookCaller)

    def _rollback(self, family: str, added: list[str]) -> None:
        for value in added:
            plugin = self._by_value.pop(value, None)
            if plugin is not None and self.is_registered(plugin):
                self.unregister(plugin)
        for (fam, _name), status in self._status.items():
            if fam == family and status.error is None:
                status.loaded = False
                status.plugin_name = None

    def call_before_first_load(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` just before the first family loads (now, if one has).

        The orchestrator installs its hook instrumentation this way, so that a
        process that never dispatches a hook never imports the metrics code.
        """
        if self._loaded_families or self._loading:
            callback()
        else:
            self._before_first_load.append(callback)

    def load_all(self) -> None:
        """Load every family now (what ``lazy_loading_enabled=False`` does at start).

        Every hook caller is built too, so that ``vars(pm.hook)`` lists them all.
        """
        for name in list(self._pending_specs):
            materialize(self, name)
        self._load_spec_modules()
        for family in self.families:
            self.load_family(family)

    # -- discovery ------------------------------------------------------------------------

    def _all_entries(self) -> list[EntryRecord]:
        if self._entries is None:
            with self._lock:
                if self._entries is None:
                    entries = self._discovery.load() if self._discovery is not None else []
                    if self._discovery is not None and self._discovery.warning:
                        warn("plugin_index_problem", message=self._discovery.warning)
                    self._entries = entries
                    if self._discovery is not None:
                        self._check_disabled(entries)
        return self._entries

    def _check_disabled(self, entries: list[EntryRecord]) -> None:
        """Warn once for each ``disabled_plugins`` name that no installed plugin has."""
        known = set(self._builtins) | {e.name for e in entries}
        for name in self.settings.disabled_plugins:
            if name in known or name in _WARNED_DISABLED:
                continue
            _WARNED_DISABLED.add(name)
            import difflib

            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            warn(
                "unknown_disabled_plugin",
                message=f"disabled plugin {name!r} is not installed{hint}",
                plugin=name,
                closest=close[0] if close else None,
            )

    def _entries_of(self, family: str) -> list[EntryRecord]:
        group = GROUP_PREFIX + family
        return [e for e in self._all_entries() if e.group == group]

    def refresh(self) -> None:
        """Forget discovered entry points; the next use reads the index (or rescans)."""
        with self._lock:
            self._entries = None

    def _load_spec_modules(self) -> bool:
        """Import the hookspec modules of installed families (once). True if any were new."""
        if self._specs_loaded:
            return False
        with self._lock:
            if self._specs_loaded:
                return False
            self._specs_loaded = True
            added = False
            for entry in self._entries_of("hookspecs"):
                if entry.name in self.settings.disabled_plugins:
                    continue
                try:
                    module = _import_entry(entry.value)
                except ISOLATED as exc:
                    load_failed(self, "hookspecs", entry.name, entry.value, exc)
                    continue
                try:
                    self.add_hookspecs(module, family=entry.name)
                except ValueError as exc:
                    # Already added another way (``victor_add_hookspecs``): report it,
                    # keep what is there.
                    load_failed(self, "hookspecs", entry.name, entry.value, exc)
                    continue
                added = True
            return added

    # -- loading -----------------------------------------------------------------------------

    def _load_one(
        self, family: str, name: str, value: str, added: list[str], *, builtin: bool = False
    ) -> None:
        status = self._status.setdefault((family, name), Status())
        if name in self.settings.disabled_plugins:
            return
        existing = self._by_value.get(value)
        if existing is not None:
            # The same module listed twice (two groups, or a duplicated path entry)
            # registers once.
            status.loaded = True
            status.plugin_name = self.get_name(existing)
            return
        start = time.perf_counter()
        try:
            plugin = _import_entry(value)
        except ISOLATED as exc:
            # SystemExit included: a plugin calling sys.exit() at import is a
            # broken plugin, not a request to stop the process.
            load_failed(self, family, name, value, exc)
            return
        elapsed = time.perf_counter() - start
        if self.is_registered(plugin):
            self._by_value[value] = plugin
            status.loaded = True
            status.plugin_name = self.get_name(plugin)
            return
        taken = super().get_plugin(name) is not None or self.is_blocked(name)
        plugin_name = f"{family}.{name}" if taken else name
        try:
            self.register(plugin, name=plugin_name)
        except ISOLATED as exc:
            if self.is_registered(plugin):
                self.unregister(plugin)
            load_failed(self, family, name, value, exc)
            return
        self._by_value[value] = plugin
        added.append(value)
        report = functools.partial(call_failed, self, (family, name, value, plugin_name))
        isolate_calls(self.get_hookcallers(plugin) or [], plugin, report)
        status.loaded = True
        status.error = None
        status.import_time_s = elapsed
        status.plugin_name = plugin_name
        _log.info(
            "plugin_loaded", plugin=plugin_name, family=family, import_ms=round(elapsed * 1e3, 2)
        )

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register ``plugin``; reject ``victor_*`` implementations no hookspec defines.

        Raises:
            PluginValidationError: an implementation of an unknown ``victor_`` hook,
                or one pluggy rejects (wrong arguments, a historic wrapper...).
        """
        self._probing += 1
        try:
            plugin_name = super().register(plugin, name)
        except pluggy.PluginValidationError as exc:
            if isinstance(exc, PluginValidationError):
                raise
            raise PluginValidationError(exc.plugin, str(exc)) from exc
        finally:
            self._probing -= 1
        if plugin_name is None:
            return None
        unknown = [
            hook.name
            for hook in self.get_hookcallers(plugin) or ()
            if hook.name.startswith("victor_") and hook.spec is None
        ]
        if unknown and self._load_spec_modules():
            unknown = [n for n in unknown if relay_callers(self.hook)[n].spec is None]
        if unknown:
            self.unregister(plugin)
            import difflib

            hook = unknown[0]
            close = difflib.get_close_matches(hook, list(self._hook_family), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise PluginValidationError(
                f"plugin {plugin_name!r} implements {hook!r}, which no hookspec defines{hint}",
                plugin=plugin_name,
                hook=hook,
            )
        return plugin_name

    # -- queries that would miss unloaded families -------------------------------------------
    # pluggy's own answers only know registered plugins; these load first what
    # they would otherwise silently leave out.

    def get_plugins(self) -> set[Any]:
        """Every registered plugin, after loading every family."""
        self.load_all()
        return super().get_plugins()

    def list_name_plugin(self) -> list[tuple[str, Any]]:
        """``(name, plugin)`` of every registered plugin, after loading every family."""
        self.load_all()
        return super().list_name_plugin()

    def registered_name_plugin(self) -> list[tuple[str, Any]]:
        """``(name, plugin)`` of the plugins registered now, loading nothing."""
        return super().list_name_plugin()

    def list_plugin_distinfo(self) -> list[tuple[Any, Any]]:
        """``(plugin, dist)`` of plugins pluggy loaded from entry points, every family loaded."""
        self.load_all()
        return super().list_plugin_distinfo()

    def get_plugin(self, name: str) -> Any | None:
        """The plugin registered as ``name``, loading the families that list that name."""
        plugin = super().get_plugin(name)
        if plugin is None and not self._loading:
            for family in self._families_naming(name):
                self.load_family(family)
            plugin = super().get_plugin(name)
        return plugin

    def get_hookcallers(self, plugin: object) -> list[HookCaller] | None:
        """The hook callers ``plugin`` implements (None if it is not registered).

        Loads nothing: the plugin is registered already, so are its callers.
        """
        if self.get_name(plugin) is None:
            return None
        callers = []
        for caller in relay_callers(self.hook).values():
            if isinstance(caller, HookCaller) and any(
                impl.plugin is plugin for impl in hookimpls_of(caller)
            ):
                callers.append(caller)
        return callers

    def subset_hook_caller(self, name: str, remove_plugins: Iterable[object]) -> HookCaller:
        """pluggy's ``subset_hook_caller``, with ``name``'s family loaded first."""
        self.load_hook_family(name)
        return super().subset_hook_caller(name, remove_plugins)

    def _families_naming(self, name: str) -> list[str]:
        families: set[str] = set()
        for builtin, (fam, _module) in self._builtins.items():
            if name in (builtin, f"{fam}.{builtin}"):
                families.add(fam)
        for entry in self._all_entries():
            if entry.group != HOOKSPECS_GROUP and name in (
                entry.name,
                f"{entry.family}.{entry.name}",
            ):
                families.add(entry.family)
        return sorted(f for f in families if f not in self._loaded_families)

    # -- introspection ----------------------------------------------------------------------

    def list_plugins(self) -> list[PluginInfo]:
        """Every known plugin, built-in and installed, without importing any."""
        from victor_core.plugins._info import plugin_infos

        return plugin_infos(self)


def _import_entry(value: str) -> Any:
    module_name, _, attr = value.partition(":")
    obj: Any = importlib.import_module(module_name.strip())
    for part in attr.strip().split(".") if attr.strip() else ():
        obj = getattr(obj, part)
    return obj


def iter_family_modules() -> dict[str, ModuleType]:
    """The hookspec module of each built-in family (for documentation and tests)."""
    return dict(_hookspecs.FAMILIES)


def __getattr__(name: str) -> Any:
    # PluginInfo is an attrs class; defining it costs start-up time that only
    # list_plugins() needs to pay.
    if name == "PluginInfo":
        from victor_core.plugins._info import PluginInfo

        return PluginInfo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
