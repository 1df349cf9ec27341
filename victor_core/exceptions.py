"""Exceptions raised by victor-core.

Every error the library raises on purpose derives from :class:`VictorError`,
and each subclass also inherits the built-in exception a caller would expect,
so ``except ValueError`` keeps working::

    VictorError
    ├── InvalidArgumentError (ValueError)     .argument, .value
    │   └── ArgumentTypeError (TypeError)
    ├── SettingsError (ValueError)            .field, .value
    │   ├── SettingTypeError (TypeError)
    │   └── UnknownSettingError (AttributeError, TypeError)
    ├── PluginError (RuntimeError)            .plugin, .entry_point
    │   ├── PluginLoadError                   .family
    │   └── PluginValidationError (pluggy.PluginValidationError, TypeError) .hook
    ├── HookError (LookupError)               .hook
    ├── ToolError (RuntimeError)              .tool
    │   ├── ToolNotFoundError (LookupError)
    │   ├── ToolParameterError (TypeError)
    │   └── ToolTimeoutError (TimeoutError)
    ├── ChainError (ValueError)               .steps
    ├── StepNotFoundError (KeyError)          .step
    ├── PersonaNotFoundError (LookupError)    .persona
    ├── CacheError (RuntimeError)             .cache
    │   ├── UnencodableValueError (TypeError)
    │   └── UndecodableEntry (ValueError)
    ├── MemoryStoreError (RuntimeError)
    │   └── MemoryArgumentError (InvalidArgumentError)
    ├── PoolTimeoutError (TimeoutError)       .pool
    ├── PoolClosedError (RuntimeError)        .pool
    ├── ProviderError (RuntimeError)          .provider, .status
    ├── MetricsError (ValueError)             .metric
    ├── MonitoringError (RuntimeError)
    │   └── ShedderError (TypeError)          .shedder
    ├── BenchmarkError (ValueError)           .group
    └── ScaffoldError (ValueError)            .field   (in victor_core.scaffold)
"""

from __future__ import annotations

from typing import Any

# The kernel imports pluggy anyway; importing it here costs nothing more.
from pluggy import PluginValidationError as _PluggyPluginValidationError


class VictorError(Exception):
    """Root of every exception raised by victor-core on purpose."""


class InvalidArgumentError(VictorError, ValueError):
    """A function or constructor got an argument value it does not accept.

    The base of every "bad argument" error, so ``except ValueError`` (or
    ``except InvalidArgumentError``) catches them all.
    """

    def __init__(self, message: str, *, argument: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.argument = argument
        self.value = value


class ArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument of the wrong type (a ``TypeError``, and a ``ValueError`` as its base is)."""


class SettingsError(VictorError, ValueError):
    """A setting has an unknown name or a value it does not accept."""

    def __init__(self, message: str, *, field: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class UnknownSettingError(SettingsError, AttributeError, TypeError):
    """A setting name that :class:`~victor_core.Settings` does not have.

    Also a ``TypeError`` (as an unexpected keyword argument is) and an
    ``AttributeError`` (as an unknown attribute is).
    """


class SettingTypeError(SettingsError, TypeError):
    """A setting given a value of the wrong type (also a ``TypeError``)."""


class PluginError(VictorError, RuntimeError):
    """A plugin could not be loaded, registered or called."""

    def __init__(
        self, message: str, *, plugin: str | None = None, entry_point: str | None = None
    ) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.entry_point = entry_point


class PluginLoadError(PluginError):
    """A plugin module failed to import or register (raised in strict mode)."""

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None = None,
        entry_point: str | None = None,
        family: str | None = None,
    ) -> None:
        super().__init__(message, plugin=plugin, entry_point=entry_point)
        self.family = family


class PluginValidationError(PluginError, _PluggyPluginValidationError, TypeError):
    """A plugin implements a hook that no specification knows, or returned the wrong thing.

    Also a :class:`pluggy.PluginValidationError`, so code written against pluggy
    catches it; like pluggy's, it can be built as ``PluginValidationError(plugin,
    message)`` as well as ``PluginValidationError(message, plugin=..., hook=...)``.
    """

    # pluggy's .plugin is the plugin object; ours is its name where that is all we have.
    plugin: Any

    def __init__(self, *args: Any, plugin: Any = None, hook: str | None = None) -> None:
        if len(args) == 2 and plugin is None:
            plugin, message = args
        elif len(args) == 1:
            (message,) = args
        else:
            raise ArgumentTypeError(
                "PluginValidationError takes (message) or pluggy's (plugin, message) "
                f"(got {len(args)} positional arguments)",
                argument="args",
                value=args,
            )
        # pluggy's __init__ takes (plugin, message): set what it would, through ours.
        super().__init__(message, plugin=plugin)
        self.hook = hook


class HookError(VictorError, LookupError):
    """A hook name is unknown to the plugin manager."""

    def __init__(self, message: str, *, hook: str | None = None) -> None:
        super().__init__(message)
        self.hook = hook


class ToolError(VictorError, RuntimeError):
    """A tool could not be run."""

    def __init__(self, message: str, *, tool: str | None = None) -> None:
        super().__init__(message)
        self.tool = tool


class ToolNotFoundError(ToolError, LookupError):
    """No tool of that name is registered."""


class ToolParameterError(ToolError, TypeError):
    """A tool was called with parameters it does not accept."""


class ToolTimeoutError(ToolError, TimeoutError):
    """A tool ran past ``tool_execution_timeout``."""


class ChainError(VictorError, ValueError):
    """A skill chain or plan is not a valid DAG (cycle, missing dependency)."""

    def __init__(self, message: str, *, steps: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.steps = steps


class StepNotFoundError(VictorError, KeyError):
    """A plan result has no step of that id."""

    def __init__(self, message: str, *, step: str | None = None) -> None:
        super().__init__(message)
        self.step = step

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument; the message reads better plain.
        return str(self.args[0]) if self.args else ""


class PersonaNotFoundError(VictorError, LookupError):
    """No persona of that name is registered."""

    def __init__(self, message: str, *, persona: str | None = None) -> None:
        super().__init__(message)
        self.persona = persona


class CacheError(VictorError, RuntimeError):
    """A cache was used in a way it does not support (unknown type, bad value)."""

    def __init__(self, message: str, *, cache: str | None = None) -> None:
        super().__init__(message)
        self.cache = cache


class UnencodableValueError(CacheError, TypeError):
    """A key or value the cache's safe format cannot hold (not JSON data or bytes)."""


class UndecodableEntry(CacheError, ValueError):
    """A stored entry is not in victor-core's safe format (for example a pickle).

    Cache levels raise it on read; the cache counts the entry as a miss.
    """


class MemoryStoreError(VictorError, RuntimeError):
    """The memory backend could not store or read an item."""


class MemoryArgumentError(MemoryStoreError, InvalidArgumentError):
    """A memory call got an argument it does not accept (negative days, bad limit, ...)."""


class PoolTimeoutError(VictorError, TimeoutError):
    """No connection became free within the acquire timeout."""

    def __init__(self, message: str, *, pool: str | None = None) -> None:
        super().__init__(message)
        self.pool = pool


class PoolClosedError(VictorError, RuntimeError):
    """The pool was closed."""

    def __init__(self, message: str, *, pool: str | None = None) -> None:
        super().__init__(message)
        self.pool = pool


class ProviderError(VictorError, RuntimeError):
    """A model provider failed after its retries."""

    def __init__(
        self, message: str, *, provider: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status


class MetricsError(VictorError, ValueError):
    """A metric name, label or value is invalid, or a name is taken by another kind."""

    def __init__(self, message: str, *, metric: str | None = None) -> None:
        super().__init__(message)
        self.metric = metric


class MonitoringError(VictorError, RuntimeError):
    """The monitor was used where it cannot run (no event loop)."""


class ShedderError(MonitoringError, TypeError):
    """A memory shedder given to the watchdog is not callable."""

    def __init__(self, message: str, *, shedder: str | None = None) -> None:
        super().__init__(message)
        self.shedder = shedder


class BenchmarkError(VictorError, ValueError):
    """A benchmark group is unknown or was given bad arguments."""

    def __init__(self, message: str, *, group: str | None = None) -> None:
        super().__init__(message)
        self.group = group
