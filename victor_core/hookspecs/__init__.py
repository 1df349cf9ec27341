"""Hook specifications of victor-core, one module per family.

Each family's plugins are listed under the entry-point group
``victor_core.<family>`` and imported the first time any hook of the family
is dispatched. Hooks of the ``core`` family load nothing.

============  ==========================  ============================================
family        entry-point group           hooks
============  ==========================  ============================================
tools         ``victor_core.tools``       :func:`~.tools.victor_tools`
skills        ``victor_core.skills``      :func:`~.skills.victor_skills`
personas      ``victor_core.personas``    :func:`~.personas.victor_personas`
planning      ``victor_core.planning``    :func:`~.planning.victor_plan`
memory        ``victor_core.memory``      :func:`~.memory.victor_memory_backend`, ...
providers     ``victor_core.providers``   :func:`~.providers.victor_providers`, ...
backends      ``victor_core.backends``    :func:`~.backends.victor_cache_backend`, ...
============  ==========================  ============================================
"""

from __future__ import annotations

from types import ModuleType

from victor_core.hookspecs import (
    backends,
    core,
    memory,
    personas,
    planning,
    providers,
    skills,
    tools,
)
from victor_core.hookspecs.backends import victor_cache_backend, victor_executor_backend
from victor_core.hookspecs.core import victor_add_hookspecs
from victor_core.hookspecs.memory import (
    victor_consolidation_strategies,
    victor_episode_stored,
    victor_memory_backend,
)
from victor_core.hookspecs.personas import victor_personas
from victor_core.hookspecs.planning import victor_plan
from victor_core.hookspecs.providers import victor_embedder, victor_providers
from victor_core.hookspecs.skills import victor_skills
from victor_core.hookspecs.tools import victor_tool_result, victor_tools, victor_tools_close

#: family name -> the module holding its hookspecs.
FAMILIES: dict[str, ModuleType] = {
    "core": core,
    "tools": tools,
    "skills": skills,
    "personas": personas,
    "planning": planning,
    "memory": memory,
    "providers": providers,
    "backends": backends,
}

__all__ = [
    "FAMILIES",
    "victor_add_hookspecs",
    "victor_cache_backend",
    "victor_consolidation_strategies",
    "victor_embedder",
    "victor_episode_stored",
    "victor_executor_backend",
    "victor_memory_backend",
    "victor_personas",
    "victor_plan",
    "victor_providers",
    "victor_skills",
    "victor_tool_result",
    "victor_tools",
    "victor_tools_close",
]
