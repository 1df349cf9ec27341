"""Providers: the model protocol, configuration and lookup."""

from __future__ import annotations

from victor_core.providers._registry import LOCAL_PROVIDERS as LOCAL_PROVIDERS
from victor_core.providers._registry import PROVIDER_DEFAULTS as PROVIDER_DEFAULTS
from victor_core.providers._registry import Message as Message
from victor_core.providers._registry import OfflineResponder as OfflineResponder
from victor_core.providers._registry import Provider as Provider
from victor_core.providers._registry import ProviderConfig as ProviderConfig
from victor_core.providers._registry import ProviderFactory as ProviderFactory
from victor_core.providers._registry import Responder as Responder
from victor_core.providers._registry import chat_messages as chat_messages
from victor_core.providers._registry import find_provider as find_provider
from victor_core.providers._registry import is_local_url as is_local_url
from victor_core.providers._registry import replay_chunks as replay_chunks
from victor_core.providers._types import ModelReply as ModelReply
from victor_core.providers._types import ToolCall as ToolCall
from victor_core.providers._types import ToolCallingProvider as ToolCallingProvider
from victor_core.providers._types import Usage as Usage
from victor_core.providers._types import function_name as function_name
from victor_core.providers._types import tool_definition as tool_definition

__all__ = [
    "LOCAL_PROVIDERS",
    "PROVIDER_DEFAULTS",
    "Message",
    "ModelReply",
    "OfflineResponder",
    "Provider",
    "ProviderConfig",
    "ProviderFactory",
    "Responder",
    "ToolCall",
    "ToolCallingProvider",
    "Usage",
    "chat_messages",
    "find_provider",
    "function_name",
    "is_local_url",
    "replay_chunks",
    "tool_definition",
]
