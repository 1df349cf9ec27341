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

__all__ = [
    "LOCAL_PROVIDERS",
    "PROVIDER_DEFAULTS",
    "Message",
    "OfflineResponder",
    "Provider",
    "ProviderConfig",
    "ProviderFactory",
    "Responder",
    "chat_messages",
    "find_provider",
    "is_local_url",
    "replay_chunks",
]
