"""The ``victor_core.providers`` hook implementation of victor-openai-provider.

Importing this module does not import httpx: the factory imports it when a
provider is built.
"""

from __future__ import annotations

from typing import Any

from victor_core import hookimpl

__all__ = ["victor_providers"]


@hookimpl
def victor_providers() -> list[Any]:
    """The factory of OpenAI-compatible providers (openai, ollama, vllm, lmstudio, ...)."""
    from victor_openai_provider._client import OpenAIProviderFactory

    return [OpenAIProviderFactory()]
