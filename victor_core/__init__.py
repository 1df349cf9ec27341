"""victor-core: a lazy plugin kernel for AI agents.

Plugins are ordinary distributions registering through entry-point groups
``victor_core.<family>``; their modules are imported the first time a hook of
their family is dispatched. See https://victor-core.readthedocs.io.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from victor_core._lazy import lazy_names as _lazy_names
from victor_core._markers import hookimpl as hookimpl
from victor_core._markers import hookspec as hookspec
from victor_core.exceptions import VictorError as VictorError
from victor_core.orchestrator import AgentOrchestrator as AgentOrchestrator
from victor_core.plugins._manager import PluginManager as PluginManager
from victor_core.settings import Settings as Settings

if TYPE_CHECKING:
    from victor_core.models import Persona as Persona
    from victor_core.models import Plan as Plan
    from victor_core.models import PlanStep as PlanStep
    from victor_core.models import Skill as Skill
    from victor_core.models import Tool as Tool
    from victor_core.models import ToolResult as ToolResult
    from victor_core.plugins._info import PluginInfo as PluginInfo

# Value classes are built by attrs when their module is imported, which costs
# milliseconds; a process that only constructs an orchestrator never pays it.
_LAZY = {
    "PluginInfo": "victor_core.plugins._info",
    "Persona": "victor_core.models",
    "Plan": "victor_core.models",
    "PlanStep": "victor_core.models",
    "Skill": "victor_core.models",
    "Tool": "victor_core.models",
    "ToolResult": "victor_core.models",
}

__all__ = [
    "AgentOrchestrator",
    "Persona",
    "Plan",
    "PlanStep",
    "PluginInfo",
    "PluginManager",
    "Settings",
    "Skill",
    "Tool",
    "ToolResult",
    "VictorError",
    "__version__",
    "hookimpl",
    "hookspec",
]


# Looked up on first use so that ``import victor_core`` stays minimal.
__getattr__ = _lazy_names(__name__, {**_LAZY, "__version__": "victor_core._version"})


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "__version__"})
