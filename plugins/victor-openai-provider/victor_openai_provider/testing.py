"""Deprecated: use :class:`victor_core.testing.ScriptedServer`.

``FakeChatServer`` was this plugin's own chat server for tests. The scripted
server in ``victor_core.testing`` does all it did (statuses, ``Retry-After``,
delays, cut and malformed streams) and tool calls too, so the name is now an
alias of :class:`~victor_core.testing.ScriptedServer` that warns. The alias
takes ScriptedServer's arguments (the replies); ``fail_next``, ``answer``,
``break_after`` and the behaviours chosen by model name are gone: script
:class:`~victor_core.testing.ScriptedFault` replies instead.
"""

from __future__ import annotations

import warnings
from typing import Any

__all__: list[str] = []


def __getattr__(name: str) -> Any:
    if name == "FakeChatServer":
        warnings.warn(
            "victor_openai_provider.testing.FakeChatServer is deprecated; use "
            "victor_core.testing.ScriptedServer (replies and ScriptedFault instead of "
            "fail_next, answer and break_after)",
            DeprecationWarning,
            stacklevel=2,
        )
        from victor_core.testing import ScriptedServer

        return ScriptedServer
    raise AttributeError(f"module 'victor_openai_provider.testing' has no attribute {name!r}")
