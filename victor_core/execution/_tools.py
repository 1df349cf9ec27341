"""The tool registry: every :class:`~victor_core.Tool` the agent can run, by name.

Tools come from the ``tools`` hook family (``victor_tools()``) and from
:meth:`ToolRegistry.register` for tools defined inline::

    registry = ToolRegistry(plugin_manager=pm)
    await registry.load()            # dispatches victor_tools once
    registry.register(Tool(name="echo", description="Echo the text", func=echo))
    tool = registry.get("echo")
    params = registry.validate("echo", {"text": "hi"})

When two plugins provide a tool of the same name, the one pluggy calls first
(the later registered plugin, or one marked ``tryfirst``) wins, as for a
``firstresult`` hook; so a plugin can replace a built-in tool. A tool
registered inline replaces any plugin tool of that name.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from victor_core.exceptions import (
    ArgumentTypeError,
    PluginValidationError,
    ToolNotFoundError,
    ToolParameterError,
)
from victor_core.models import Tool, keyword_names
from victor_core.plugins import flatten_results

if TYPE_CHECKING:
    import pluggy

    from victor_core.plugins import PluginManager

__all__ = [
    "ToolRegistry",
    "call_hook",
    "current_registry",
    "describe_params",
    "flatten_hook_results",
    "hook_dispatcher",
    "validate_params",
]

# The registry whose plugin tools are being gathered (``victor_tools``) or
# released (``victor_tools_close``) in the current context: a plugin that
# starts processes for its tools keeps them per registry, so two orchestrators
# sharing one Settings never share (nor stop) each other's processes.
_CURRENT: contextvars.ContextVar[ToolRegistry | None] = contextvars.ContextVar(
    "victor_core_tool_registry", default=None
)


def current_registry() -> ToolRegistry | None:
    """The registry whose ``victor_tools`` or ``victor_tools_close`` call runs now, or None.

    Set by :meth:`ToolRegistry.load` and by the orchestrator's ``aclose()``;
    None for a plain ``plugin_manager.hook.victor_tools()`` call.
    """
    return _CURRENT.get()


@contextlib.contextmanager
def registry_bound(registry: ToolRegistry | None) -> Iterator[None]:
    """Make ``registry`` what :func:`current_registry` returns for the ``with`` block."""
    token = _CURRENT.set(registry)
    try:
        yield
    finally:
        _CURRENT.reset(token)


async def call_hook(plugin_manager: pluggy.PluginManager, hook_name: str, **kwargs: Any) -> Any:
    """Dispatch ``hook_name`` and await every awaitable result, concurrently.

    With victor-core's plugin manager this is ``await plugin_manager.ahook.NAME(...)``,
    the kernel's one async dispatch path (the services call that directly). A
    plain ``pluggy.PluginManager`` has no ``ahook``: its awaitable results are
    awaited here, as the kernel would.

    Returns:
        What pluggy returns: a list for collect-all hooks, one value (or None)
        for ``firstresult`` hooks.
    """
    ahook = getattr(plugin_manager, "ahook", None)
    if ahook is not None:
        return await getattr(ahook, hook_name)(**kwargs)
    # A plain pluggy manager only: the kernel's relay needs victor-core's manager.
    import asyncio

    result = getattr(plugin_manager.hook, hook_name)(**kwargs)
    if isinstance(result, list):
        pending = [i for i, r in enumerate(result) if inspect.isawaitable(r)]
        if pending:
            done = await asyncio.gather(*(result[i] for i in pending))
            for i, value in zip(pending, done, strict=False):
                result[i] = value
        return result
    if inspect.isawaitable(result):
        return await result
    return result


def hook_dispatcher(plugin_manager: pluggy.PluginManager, hook_name: str) -> Any:
    """The plain caller of ``hook_name``, for dispatching it many times in a row; or None.

    With victor-core's plugin manager: the hook's family is loaded (as
    ``ahook`` would load it) and its pluggy caller returned; what a call
    returns may hold awaitables, to await as ``ahook`` does
    (:func:`~victor_core.plugins._async.gather_results`). None for a first-result
    hook and for other managers: dispatch those with :func:`call_hook`.
    """
    load = getattr(plugin_manager, "load_hook_family", None)
    if load is None or getattr(plugin_manager, "ahook", None) is None:
        return None
    load(hook_name)
    caller = getattr(plugin_manager.hook, hook_name)
    spec = caller.spec
    if spec is not None and spec.opts.get("firstresult"):
        return None
    return caller


def flatten_hook_results(results: Any, kind: type, hook_name: str) -> list[Any]:
    """The kernel's :func:`~victor_core.plugins.flatten_results`, each item checked as a ``kind``.

    Raises:
        PluginValidationError: an item that is not a ``kind``.
    """
    items = flatten_results(results)
    for item in items:
        if not isinstance(item, kind):
            raise PluginValidationError(
                f"{hook_name}() must return a list of {kind.__name__} objects "
                f"(got an item {item!r})",
                hook=hook_name,
            )
    return items


class ToolRegistry:
    """Tools by name, gathered from the ``tools`` family and inline registrations.

    Args:
        plugin_manager: the plugin manager whose ``victor_tools`` hook
            :meth:`load` dispatches; None for a registry of inline tools only.
        tools: tools to register at once (inline).
    """

    def __init__(
        self, plugin_manager: PluginManager | None = None, *, tools: Iterable[Tool] = ()
    ) -> None:
        self._plugin_manager = plugin_manager
        self._plugin_tools: dict[str, Tool] = {}
        self._inline: dict[str, Tool] = {}
        self._tools: dict[str, Tool] = {}
        self._loaded = plugin_manager is None
        self._version = 0
        for tool in tools:
            self.register(tool)

    @classmethod
    async def from_plugins(cls, plugin_manager: PluginManager) -> ToolRegistry:
        """A registry holding every tool the ``tools`` family provides."""
        registry = cls(plugin_manager)
        await registry.load()
        return registry

    # -- loading -----------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether the plugin tools have been gathered (always True without a plugin manager)."""
        return self._loaded

    @property
    def version(self) -> int:
        """A number that changes whenever the set of tools changes (for caches)."""
        return self._version

    async def load(self, *, reload: bool = False) -> None:
        """Gather the tools of the ``tools`` family (once; again with ``reload=True``).

        Raises:
            PluginValidationError: a plugin returned something that is not a Tool.
        """
        if self._plugin_manager is None or (self._loaded and not reload):
            return
        with registry_bound(self):
            results = await self._plugin_manager.ahook.victor_tools()
        tools = flatten_hook_results(results, Tool, "victor_tools")
        by_name: dict[str, Tool] = {}
        # pluggy returns the highest-priority implementation's result first;
        # walking backwards lets it overwrite the lower ones.
        for tool in reversed(tools):
            by_name[tool.name] = tool
        self._plugin_tools = by_name
        self._loaded = True
        self._rebuild()

    async def ensure_loaded(self) -> None:
        """Gather the plugin tools if that has not happened yet."""
        if not self._loaded:
            await self.load()

    def _rebuild(self) -> None:
        self._tools = {**self._plugin_tools, **self._inline}
        self._version += 1

    # -- registration --------------------------------------------------------------

    def register(self, tool: Tool) -> Tool:
        """Add ``tool`` (replacing a tool of the same name) and return it.

        Raises:
            ArgumentTypeError: ``tool`` is not a :class:`~victor_core.Tool`.
        """
        if not isinstance(tool, Tool):
            raise ArgumentTypeError(
                f"register() takes a victor_core.Tool (got {tool!r})", argument="tool", value=tool
            )
        self._inline[tool.name] = tool
        self._rebuild()
        return tool

    def unregister(self, name: str) -> Tool:
        """Remove the inline tool ``name`` and return it.

        Raises:
            ToolNotFoundError: no inline tool of that name.
        """
        if name not in self._inline:
            raise self._not_found(name)
        tool = self._inline.pop(name)
        self._rebuild()
        return tool

    # -- lookup --------------------------------------------------------------------

    def get(self, name: str) -> Tool:
        """The tool called ``name``.

        Raises:
            ToolNotFoundError: no such tool; the message names close matches.
        """
        tool = self._tools.get(name)
        if tool is None:
            raise self._not_found(name)
        return tool

    def _not_found(self, name: Any) -> ToolNotFoundError:
        import difflib

        known = sorted(self._tools)
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
        if close:
            hint = f"; did you mean {', '.join(map(repr, close))}?"
        elif known:
            shown = ", ".join(map(repr, known[:20])) + (", ..." if len(known) > 20 else "")
            hint = f"; known tools: {shown}"
        else:
            hint = "; no tools are registered"
        return ToolNotFoundError(f"unknown tool {name!r}{hint}", tool=str(name))

    def names(self) -> list[str]:
        """The tool names, sorted."""
        return sorted(self._tools)

    def tools(self) -> list[Tool]:
        """The tools, sorted by name."""
        return [self._tools[name] for name in sorted(self._tools)]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self.tools())

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"<ToolRegistry {len(self._tools)} tools>"

    # -- parameters ------------------------------------------------------------------

    def validate(self, tool: Tool | str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``params`` against the tool's parameter schema and return them as a dict.

        Unknown names (unless the schema is open, as with ``**kwargs``) and
        missing required parameters are rejected; values are not type-checked
        (a wrong value makes the tool fail, which its result reports).

        Raises:
            ToolNotFoundError: ``tool`` is a name no tool has.
            ToolParameterError: the message names the tool and what it accepts.
        """
        if isinstance(tool, str):
            tool = self.get(tool)
        return validate_params(tool, params)

    def accepted(self, tool: Tool, params: Mapping[str, Any]) -> dict[str, Any]:
        """The subset of ``params`` the tool accepts (all of them for an open schema)."""
        names, open_ = keyword_names(tool)
        if open_:
            return dict(params)
        return {k: v for k, v in params.items() if k in names}


def describe_params(tool: Tool) -> str:
    """``"path (required), encoding"`` - the parameters ``tool`` accepts, in words."""
    schema = tool.parameters or {}
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    parts = [f"{name} (required)" if name in required else name for name in props]
    if schema.get("additionalProperties", False):
        parts.append("any other keyword")
    return ", ".join(parts) or "no parameters"


def validate_params(tool: Tool, params: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``params`` against ``tool.parameters`` (see :meth:`ToolRegistry.validate`).

    Raises:
        ToolParameterError: unknown or missing parameters.
    """
    params = dict(params)
    schema = tool.parameters or {}
    props = schema.get("properties")
    if props is None:
        return params
    problems: list[str] = []
    if not schema.get("additionalProperties", False):
        unknown = sorted(k for k in params if k not in props)
        if unknown:
            problems.append(f"unknown parameter(s) {', '.join(map(repr, unknown))}")
    missing = [k for k in schema.get("required", ()) if k not in params]
    if missing:
        problems.append(f"missing required parameter(s) {', '.join(map(repr, missing))}")
    if problems:
        raise ToolParameterError(
            f"tool {tool.name!r}: {'; '.join(problems)}; it accepts: {describe_params(tool)}",
            tool=tool.name,
        )
    return params
