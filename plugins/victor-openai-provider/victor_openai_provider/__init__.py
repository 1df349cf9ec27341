"""victor-openai-provider: a victor-core provider for OpenAI-compatible chat servers.

The names are looked up lazily so that importing the plugin module (which
victor-core does when the providers family is first dispatched) does not
import httpx before a provider is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from victor_openai_provider._client import OpenAICompatibleProvider, OpenAIProviderFactory

__all__ = ["OpenAICompatibleProvider", "OpenAIProviderFactory"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from victor_openai_provider import _client

        return getattr(_client, name)
    raise AttributeError(f"module 'victor_openai_provider' has no attribute {name!r}")
