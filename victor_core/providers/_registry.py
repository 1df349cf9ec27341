"""Model providers: the protocol they implement, how the configured one is found, and chat.

A provider answers chat messages, whole (:meth:`Provider.complete`) or as a
stream of text chunks (:meth:`Provider.stream`). Plugins of the
``providers`` family return providers, or factories that build one from the
settings, from ``victor_providers()``; :func:`find_provider` picks the one
that ``settings.provider`` names.

:class:`ProviderConfig` turns the flat settings of the user's guide into the
figures of one provider: ``openai_timeout`` / ``openai_max_retries`` /
``openai_concurrent_requests`` for hosted APIs, ``local_provider_timeout`` /
``local_provider_max_retries`` / ``local_provider_batch_size`` for a server on
this machine, and ``connection_pool_size`` / ``connection_pool_max_overflow``
for the connection pool.

:class:`Responder` answers chat messages through the response cache and the
configured provider (or an offline responder without one); the agent loop's
``chat`` and ``stream_chat`` use it.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import attrs

from victor_core import _log
from victor_core.exceptions import ProviderError
from victor_core.plugins._manager import flatten_results
from victor_core.providers._types import ModelReply, ToolCallingProvider, Usage

if TYPE_CHECKING:
    import pluggy

    from victor_core.cache import TieredCache
    from victor_core.metrics._registry import MetricsRegistry
    from victor_core.settings import Settings

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

#: A chat message: ``{"role": "system" | "user" | "assistant" | "tool", "content": "..."}``
#: (an assistant message may carry ``tool_calls``, a tool message its ``tool_call_id``).
Message = Mapping[str, Any]

#: Provider name -> (default base URL, default model). Local servers speak the
#: OpenAI chat-completions protocol under ``/v1``.
PROVIDER_DEFAULTS: dict[str, tuple[str, str]] = {
    "openai": ("https://api.openai.com/v1", "gpt-4o-mini"),
    "openai-compatible": ("http://localhost:8000/v1", ""),
    "ollama": ("http://localhost:11434/v1", "llama3.2"),
    "vllm": ("http://localhost:8000/v1", ""),
    "lmstudio": ("http://localhost:1234/v1", ""),
    "llamacpp": ("http://localhost:8080/v1", ""),
    # Hosted APIs with an OpenAI-compatible endpoint, each with its own settings.
    "anthropic": ("https://api.anthropic.com/v1", "claude-3-5-haiku-latest"),
    "google": ("https://generativelanguage.googleapis.com/v1beta/openai", "gemini-2.0-flash"),
}

#: Provider name -> the settings prefix of its timeout, retries and concurrency, and
#: the environment variables read for its API key when ``provider_api_key`` is empty.
_HOSTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "anthropic": ("anthropic", ("ANTHROPIC_API_KEY",)),
    "google": ("google", ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
}

#: Providers that are servers on this machine (their settings are ``local_provider_*``).
LOCAL_PROVIDERS = ("ollama", "vllm", "lmstudio", "llamacpp")

_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")


@runtime_checkable
class Provider(Protocol):
    """What a model provider implements.

    ``messages`` are chat messages; ``params`` are request parameters
    (``temperature``, ``max_tokens``...) passed through to the model.
    """

    name: str

    async def complete(self, messages: Sequence[Message], **params: Any) -> str:
        """The whole answer to ``messages``.

        Raises:
            ProviderError: the request failed after the provider's retries.
        """
        ...

    def stream(self, messages: Sequence[Message], **params: Any) -> AsyncIterator[str]:
        """The answer to ``messages`` as text chunks, as the model produces them.

        Raises:
            ProviderError: the request failed, or the stream broke before its end.
        """
        ...

    async def aclose(self) -> None:
        """Release connections (idempotent)."""
        ...


@runtime_checkable
class ProviderFactory(Protocol):
    """Builds a provider from the settings; ``names`` are the provider names it serves."""

    names: tuple[str, ...]

    def create(self, settings: Settings) -> Provider:
        """A provider configured by ``settings``."""
        ...


def is_local_url(url: str) -> bool:
    """Whether ``url`` points at this machine (a local model server)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in _LOCAL_HOSTS or host.endswith(".localhost")


@attrs.define(frozen=True, kw_only=True)
class ProviderConfig:
    """The figures one provider runs with, derived from :class:`~victor_core.Settings`.

    Args:
        name: the provider name (``settings.provider``).
        base_url: the server's base URL (ends before ``/chat/completions``).
        model: the model to ask.
        api_key: the API key ("" for none).
        local: whether the server runs on this machine.
        timeout: seconds per request.
        max_retries: retries after a failed attempt (429, 5xx, connection errors).
        concurrent_requests: most requests in flight at once.
        pool_size: connections kept open.
        pool_max_overflow: extra connections allowed under load.
    """

    name: str
    base_url: str
    model: str
    api_key: str = ""
    local: bool = False
    timeout: float = 30.0
    max_retries: int = 3
    concurrent_requests: int = 10
    pool_size: int = 20
    pool_max_overflow: int = 10

    @classmethod
    def from_settings(cls, settings: Settings, name: str | None = None) -> ProviderConfig:
        """The configuration of provider ``name`` (default: ``settings.provider``).

        A server on this machine (a local provider, or a base URL on localhost)
        uses ``local_provider_timeout``, ``local_provider_max_retries`` and
        ``local_provider_batch_size``; ``anthropic`` and ``google`` use the
        ``anthropic_*`` and ``google_*`` settings, any other hosted one the
        ``openai_*`` settings. The API key is ``provider_api_key``, else
        ``ANTHROPIC_API_KEY`` (anthropic), ``GEMINI_API_KEY`` or ``GOOGLE_API_KEY``
        (google), ``OPENAI_API_KEY`` (the others). For ``openai`` and
        ``openai-compatible`` an empty ``provider_base_url`` falls back to
        ``OPENAI_BASE_URL``.

        Raises:
            ProviderError: no provider is named.
        """
        name = name or settings.provider
        if not name:
            raise ProviderError(
                "no provider configured: set provider (for example 'ollama' or 'openai')",
                provider=None,
            )
        default_url, default_model = PROVIDER_DEFAULTS.get(name, ("", ""))
        if name in ("openai", "openai-compatible"):
            default_url = os.environ.get("OPENAI_BASE_URL", "") or default_url
        base_url = (settings.provider_base_url or default_url).rstrip("/")
        if not base_url:
            raise ProviderError(
                f"provider {name!r} needs provider_base_url (the server's URL, for example "
                "'http://localhost:8000/v1')",
                provider=name,
            )
        local = name in LOCAL_PROVIDERS or is_local_url(base_url)
        prefix, key_vars = _HOSTED.get(name, ("openai", ("OPENAI_API_KEY",)))
        api_key = settings.provider_api_key
        for var in key_vars:
            api_key = api_key or os.environ.get(var, "")
        if local:
            timeout = settings.local_provider_timeout
            retries = settings.local_provider_max_retries
            concurrent = settings.local_provider_batch_size
        else:
            timeout = float(getattr(settings, f"{prefix}_timeout"))
            retries = int(getattr(settings, f"{prefix}_max_retries"))
            concurrent = int(getattr(settings, f"{prefix}_concurrent_requests"))
        return cls(
            name=name,
            base_url=base_url,
            model=settings.model or default_model,
            api_key=api_key,
            local=local,
            timeout=timeout,
            max_retries=retries,
            concurrent_requests=concurrent,
            pool_size=settings.connection_pool_size,
            pool_max_overflow=settings.connection_pool_max_overflow,
        )


async def find_provider(plugin_manager: pluggy.PluginManager, settings: Settings) -> Provider:
    """The provider that ``settings.provider`` names, from the providers family.

    Each ``victor_providers()`` result item is a :class:`Provider` (matched by
    ``name``) or a :class:`ProviderFactory` (matched by ``names``, then built
    with ``settings``).

    Raises:
        ProviderError: no provider is configured, or none of that name is installed
            (the message lists the installed ones).
    """
    wanted = settings.provider
    if not wanted:
        raise ProviderError(
            "no provider configured: set provider (for example 'ollama' or 'openai')"
        )
    ahook = getattr(plugin_manager, "ahook", None)
    if ahook is not None:
        results = await ahook.victor_providers()
    else:
        results = plugin_manager.hook.victor_providers()
    known: list[str] = []
    for item in flatten_results(results):
        names = tuple(getattr(item, "names", ()) or ())
        if hasattr(item, "create") and names:
            known.extend(names)
            if wanted in names:
                provider = item.create(settings)
                if not isinstance(provider, Provider):
                    raise ProviderError(
                        f"provider factory for {wanted!r} returned {provider!r}, which is not "
                        "a Provider (name, complete, stream, aclose)",
                        provider=wanted,
                    )
                return provider
        elif isinstance(item, Provider):
            known.append(item.name)
            if item.name == wanted:
                return item
    installed = ", ".join(sorted(set(known))) or "none (pip install victor-openai-provider)"
    raise ProviderError(
        f"unknown provider {wanted!r}; installed providers: {installed}", provider=wanted
    )


#: Words per chunk when a cached or offline answer is replayed as a stream.
REPLAY_WORDS = 3

#: ``offline(messages) -> answer``: the responder used when no provider is configured.
OfflineResponder = Callable[[Sequence[Message]], Awaitable[str]]


def chat_messages(
    message: str, *, system: str | None = None, history: Sequence[Message] = ()
) -> list[dict[str, str]]:
    """The messages of one chat turn: an optional system prompt, the history, the message.

    Raises:
        SettingsError: ``message`` is empty or not a string.
    """
    from victor_core.exceptions import SettingsError

    if not isinstance(message, str) or not message.strip():
        raise SettingsError(
            f"message must be a non-empty string (got {message!r})", field="message"
        )
    messages = [{"role": "system", "content": system}] if system else []
    messages.extend({"role": str(m["role"]), "content": str(m["content"])} for m in history)
    messages.append({"role": "user", "content": message})
    return messages


def replay_chunks(text: str, words: int = REPLAY_WORDS) -> list[str]:
    """``text`` in chunks of a few words, spaces kept, as a stream would bring it."""
    parts = text.split(" ")
    return [
        (" " if i else "") + " ".join(parts[i : i + words]) for i in range(0, len(parts), words)
    ] or [""]


class Responder:
    """Answers chat messages: the response cache first, then the provider (or offline).

    Args:
        settings: ``provider`` and ``model`` name the provider and key the cache.
        plugin_manager: asked for providers (``victor_providers``) on first use.
        response_cache: returns the response cache (a :class:`~victor_core.cache.TieredCache`)
            or None when it is disabled; called on first use.
        offline: the responder used when ``settings.provider`` is empty.
        metrics: where model calls are measured (a
            :class:`~victor_core.metrics.MetricsRegistry`; None: not measured):
            ``victor_provider_requests_total``, ``victor_provider_errors_total``,
            ``victor_provider_request_seconds`` and the token counters
            ``victor_provider_prompt_tokens_total`` / ``..._completion_tokens_total``.

    Cache keys are :func:`victor_core.cache._manager.response_key` of (provider, model,
    messages, parameters); without a provider the answers are keyed under
    ``offline/builtin``.
    """

    def __init__(
        self,
        settings: Settings,
        plugin_manager: pluggy.PluginManager,
        *,
        response_cache: Callable[[], Any] | None = None,
        offline: OfflineResponder | None = None,
        metrics: MetricsRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.plugin_manager = plugin_manager
        self._response_cache = response_cache
        self._offline = offline
        self._metrics = metrics
        self._provider: Provider | None = None
        self._tool_calling: tuple[Provider, ToolCallingProvider | None] | None = None

    async def provider(self) -> Provider:
        """The provider ``settings.provider`` names, found and built on first use.

        Raises:
            ProviderError: none configured, or none of that name installed.
        """
        if self._provider is None:
            self._provider = await find_provider(self.plugin_manager, self.settings)
        return self._provider

    async def tool_calling(self) -> ToolCallingProvider | None:
        """The configured provider when it can call tools (None: text only, or none).

        Raises:
            ProviderError: a provider is configured but none of that name is installed.
        """
        if not self.settings.provider:
            return None
        provider = await self.provider()
        checked = self._tool_calling
        if checked is None or checked[0] is not provider:
            # A runtime-checkable Protocol's isinstance walks its members: once per provider.
            driver = provider if isinstance(provider, ToolCallingProvider) else None
            checked = self._tool_calling = (provider, driver)
        return checked[1]

    async def reply(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        use_cache: bool = True,
        key_messages: Sequence[Mapping[str, Any]] | None = None,
        **params: Any,
    ) -> ModelReply:
        """The model's reply to ``messages`` offered ``tools`` (cached, measured).

        ``key_messages``, when given, stand for ``messages`` in the cache key.

        Raises:
            ProviderError: no tool-calling provider, or the request failed.
        """
        reply: ModelReply | None = None
        async for item in self._reply(
            messages, tools, use_cache, params, stream=False, key_messages=key_messages
        ):
            if isinstance(item, ModelReply):
                reply = item
        if reply is None:  # pragma: no cover - _reply always ends with the reply
            raise ProviderError("the provider gave no reply", provider=self.settings.provider)
        return reply

    def stream_reply(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        use_cache: bool = True,
        key_messages: Sequence[Mapping[str, Any]] | None = None,
        **params: Any,
    ) -> AsyncIterator[str | ModelReply]:
        """Text chunks as they arrive, then the :class:`ModelReply` (cached, measured).

        A cached reply is replayed: its text in chunks, then the reply. A reply is
        cached only once its stream completed. ``key_messages``, when given, stand
        for ``messages`` in the cache key.

        Raises:
            ProviderError: no tool-calling provider, or the request or stream failed.
        """
        return self._reply(
            messages, tools, use_cache, params, stream=True, key_messages=key_messages
        )

    async def _reply(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]],
        use_cache: bool,
        params: Mapping[str, Any],
        *,
        stream: bool,
        key_messages: Sequence[Mapping[str, Any]] | None = None,
    ) -> AsyncIterator[str | ModelReply]:
        provider = await self.tool_calling()
        if provider is None:
            raise ProviderError(
                f"provider {self.settings.provider!r} cannot call tools",
                provider=self.settings.provider or None,
            )
        cache, key = None, None
        getter = self._response_cache
        if use_cache and getter is not None and getter() is not None:  # else no key to build
            keyed = {"tools": [dict(t) for t in tools], **params} if tools else dict(params)
            cache, key = self._key(
                messages if key_messages is None else key_messages, keyed, use_cache
            )
        cached = self._cached_reply(cache, key)
        if cached is not None:
            if stream and cached.text:
                for chunk in replay_chunks(cached.text):
                    yield chunk
            yield cached
            return
        started = time.perf_counter()
        reply: ModelReply | None = None
        try:
            if stream:
                async for item in provider.stream_reply(list(messages), tools=tools, **params):
                    if isinstance(item, ModelReply):
                        reply = item
                    else:
                        yield item
            else:
                reply = await provider.reply(list(messages), tools=tools, **params)
        except ProviderError:
            self._measure(time.perf_counter() - started, None)
            raise
        if reply is None:
            self._measure(time.perf_counter() - started, None)
            raise ProviderError(
                f"{provider.name}: the stream ended without a reply", provider=provider.name
            )
        self._measure(time.perf_counter() - started, reply.usage)
        if cache is not None:
            cache.set(key, reply.to_dict())
        yield reply

    def _cached_reply(self, cache: TieredCache | None, key: Any) -> ModelReply | None:
        """The reply cached under ``key`` (None: no cache, no entry or an unreadable one)."""
        if cache is None:
            return None
        hit = cache.get(key)
        if not isinstance(hit, dict):
            return None
        try:
            cached = ModelReply.from_dict(hit)
        except (KeyError, TypeError, ValueError):
            return None
        _log.info(
            "model_reply_cached", provider=self.settings.provider, tool_calls=len(cached.tool_calls)
        )
        return cached

    def _measure(self, seconds: float, usage: Usage | None) -> None:
        registry = self._metrics
        if registry is None or not self.settings.metrics_enabled:
            return
        registry.create_counter("victor_provider_requests_total", "Model requests.").increment()
        registry.create_timer(
            "victor_provider_request_seconds", "Duration of model requests."
        ).observe(seconds)
        if usage is None:
            registry.create_counter(
                "victor_provider_errors_total", "Model requests that failed."
            ).increment()
            return
        registry.create_counter(
            "victor_provider_prompt_tokens_total", "Prompt tokens the servers reported."
        ).increment(usage.prompt_tokens or 0)
        registry.create_counter(
            "victor_provider_completion_tokens_total", "Completion tokens the servers reported."
        ).increment(usage.completion_tokens or 0)

    def _key(self, messages: Sequence[Message], params: Mapping[str, Any], use_cache: bool) -> Any:
        if not use_cache or self._response_cache is None:
            return None, None
        cache = self._response_cache()
        if cache is None:
            return None, None
        from victor_core.cache._manager import response_key

        settings = self.settings
        provider = settings.provider or "offline"
        model = settings.model if settings.provider else "builtin"
        return cache, response_key(provider, model, [dict(m) for m in messages], dict(params))

    async def _answer_offline(self, messages: Sequence[Message]) -> str:
        if self._offline is None:
            raise ProviderError(
                "no provider configured: set provider (for example 'ollama' or 'openai')"
            )
        return await self._offline(messages)

    async def complete(
        self, messages: Sequence[Message], *, use_cache: bool = True, **params: Any
    ) -> str:
        """The whole answer to ``messages`` (from the cache when ``use_cache`` and present).

        Raises:
            ProviderError: the provider failed.
        """
        cache, key = self._key(messages, params, use_cache)
        if cache is not None:
            hit = cache.get(key)
            if isinstance(hit, str):
                return hit
        if self.settings.provider:
            answer = await (await self.provider()).complete(list(messages), **params)
        else:
            answer = await self._answer_offline(messages)
        if cache is not None:
            cache.set(key, answer)
        return str(answer)

    async def stream(
        self, messages: Sequence[Message], *, use_cache: bool = True, **params: Any
    ) -> AsyncIterator[str]:
        """The answer to ``messages`` as text chunks.

        A cached answer is replayed in chunks. A streamed answer is cached once
        the stream completed; when it breaks midway nothing is cached and the
        error propagates.

        Raises:
            ProviderError: the provider failed, or its stream broke.
        """
        cache, key = self._key(messages, params, use_cache)
        if cache is not None:
            hit = cache.get(key)
            if isinstance(hit, str):
                for chunk in replay_chunks(hit):
                    yield chunk
                return
        parts: list[str] = []
        if self.settings.provider:
            async for chunk in (await self.provider()).stream(list(messages), **params):
                parts.append(chunk)
                yield chunk
        else:
            for chunk in replay_chunks(await self._answer_offline(messages)):
                parts.append(chunk)
                yield chunk
        if cache is not None:
            cache.set(key, "".join(parts))

    async def aclose(self) -> None:
        """Close the provider's connections (idempotent)."""
        provider, self._provider = self._provider, None
        if provider is not None:
            await provider.aclose()
