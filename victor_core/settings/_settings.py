"""The :class:`Settings` class: every setting, its default, what it accepts."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from victor_core.exceptions import SettingsError, UnknownSettingError
from victor_core.settings._fields import (
    _DAY,
    _DOCS_BASE_URL,
    _HOUR,
    _bool,
    _float,
    _int,
    _path,
    _str,
    _str_list,
    _user_dir,
    docs_url,
)
from victor_core.settings._mcp import _mcp_servers

if TYPE_CHECKING:
    from victor_core.settings import _sources


@attrs.define(init=False, repr=False, on_setattr=attrs.setters.NO_OP)
class Settings:
    """Validated settings of victor-core.

    Construct with keyword arguments (``Settings(max_parallel_workers=4)``);
    assign attributes afterwards; both validate. Unknown names and bad values
    raise :class:`~victor_core.exceptions.SettingsError` naming the field, the
    value and what it accepts.
    """

    # Lazy loading ------------------------------------------------------------
    lazy_loading_enabled: bool = _bool(
        True, "Import plugin modules only when a hook of their family is first dispatched."
    )
    lazy_loading_memory_threshold: int = _int(
        500,
        "Background warm-up preloads lazy families only while process memory (MB) is below this.",
        lo=1,
        hi=1_048_576,
    )
    lazy_loading_cpu_threshold: float = _float(
        0.7,
        "Background warm-up preloads lazy families only while system CPU use is under this.",
        lo=0.0,
        hi=1.0,
        open_lo=True,
    )
    lazy_loading_warmup: bool = _bool(
        False, "Preload lazy families in the background after start-up, within the thresholds."
    )
    lazy_load_planning: bool = _bool(True, "Load the planning family on first use.")
    lazy_load_memory: bool = _bool(True, "Load the memory family on first use.")
    lazy_load_skills: bool = _bool(True, "Load the skills family on first use.")
    lazy_load_personas: bool = _bool(True, "Load the personas family on first use.")
    lazy_load_tool_executor: bool = _bool(
        True, "Load the tools family and build the executor on first use (False: at start)."
    )

    # Parallel execution ---------------------------------------------------------
    parallel_execution_enabled: bool = _bool(True, "Run independent tools and steps concurrently.")
    max_parallel_workers: int = _int(8, "Most tools or steps running at once.", lo=1, hi=256)
    parallel_threshold: int = _int(
        2, "Fewest items for which execution goes parallel; fewer run in sequence.", lo=1, hi=10_000
    )
    skill_chaining_parallel_enabled: bool = _bool(
        True, "Run independent steps of a skill chain concurrently."
    )
    tool_execution_timeout: float = _float(
        30.0,
        "Seconds a tool may run before it fails with a timeout.",
        lo=0.0,
        hi=_DAY,
        open_lo=True,
    )

    # Tool selection cache ------------------------------------------------------
    tool_selection_cache_enabled: bool = _bool(True, "Cache tool selections.")
    tool_selection_cache_size: int = _int(
        1000, "Most entries in the tool-selection cache.", lo=1, hi=10_000_000
    )
    tool_selection_cache_ttl: float = _float(
        _HOUR, "Seconds a tool selection stays cached.", lo=0.0, hi=365 * _DAY, open_lo=True
    )
    tool_selection_cache_query: bool = _bool(True, "Cache selections keyed by the query alone.")
    tool_selection_cache_context: bool = _bool(
        True, "Cache selections keyed by query and context (recent messages, stage)."
    )
    tool_selection_cache_rl: bool = _bool(True, "Cache the learned (RL) tool rankings.")
    tool_selection_max_tools: int = _int(10, "Most tools a selection returns.", lo=1, hi=10_000)

    # Response cache ---------------------------------------------------------------
    response_cache_enabled: bool = _bool(True, "Cache provider responses.")
    response_cache_size: int = _int(
        2000, "Most entries in the response cache.", lo=1, hi=10_000_000
    )
    response_cache_ttl: float = _float(
        1800.0, "Seconds a response stays cached.", lo=0.0, hi=365 * _DAY, open_lo=True
    )

    # Embedding cache ----------------------------------------------------------------
    embedding_cache_enabled: bool = _bool(True, "Cache text embeddings.")
    embedding_cache_size: int = _int(
        10_000, "Most entries in the embedding cache.", lo=1, hi=100_000_000
    )
    embedding_cache_ttl: float = _float(
        7 * _DAY, "Seconds an embedding stays cached.", lo=0.0, hi=3650 * _DAY, open_lo=True
    )

    # Cache maintenance --------------------------------------------------------------
    cache_auto_invalidate: bool = _bool(
        False, "Sweep expired cache entries periodically, off the request path."
    )
    cache_auto_invalidate_interval: float = _float(
        _HOUR, "Seconds between sweeps of expired cache entries.", lo=1.0, hi=30 * _DAY
    )

    # Memory --------------------------------------------------------------------------
    memory_limit_mb: int = _int(
        4000,
        "Process memory (RSS, MB) at which victor-core sheds caches and frees its heap.",
        lo=16,
        hi=1_048_576,
    )
    memory_warning_threshold: float = _float(
        0.8,
        "Fraction of memory_limit_mb at which a warning is logged.",
        lo=0.0,
        hi=1.0,
        open_lo=True,
    )
    enable_episodic_memory: bool = _bool(True, "Record and recall episodes.")
    enable_semantic_memory: bool = _bool(True, "Store and search facts.")
    episodic_memory_max_episodes: int = _int(
        2000, "Most episodes kept (the oldest go first).", lo=1, hi=100_000_000
    )
    semantic_memory_max_facts: int = _int(
        10_000, "Most facts kept (the least used go first).", lo=1, hi=100_000_000
    )
    use_memory_pools: bool = _bool(
        False,
        "Accepted for the guide's configurations; no effect (no object pools).",
    )
    memory_pool_size: int = _int(
        1000,
        "Accepted for the guide's configurations; no effect (no object pools).",
        lo=1,
        hi=10_000_000,
    )
    maintenance_enabled: bool = _bool(
        False,
        "Run periodic maintenance (old episodes, consolidation).",
    )
    maintenance_interval: float = _float(
        _HOUR, "Seconds between maintenance runs.", lo=1.0, hi=30 * _DAY
    )
    episode_retention_days: float = _float(
        30.0,
        "Maintenance removes episodes older than this many days.",
        lo=0.0,
        hi=36_500.0,
        open_lo=True,
    )

    # Connection pooling -------------------------------------------------------------
    connection_pool_size: int = _int(20, "Connections kept open per pool.", lo=1, hi=10_000)
    connection_pool_max_overflow: int = _int(
        10, "Extra connections a pool may open beyond its size under load.", lo=0, hi=10_000
    )

    # Providers -----------------------------------------------------------------------
    provider: str = _str(
        "", "Provider that answers chat (for example 'openai' or 'ollama'); empty: none."
    )
    model: str = _str("", "Model the provider uses; empty: the provider's default.")
    provider_base_url: str = _str(
        "", "Base URL of an OpenAI-compatible server; empty: the provider's default."
    )
    provider_api_key: str = _str(
        "", "API key for the provider; empty: read from the provider's usual variable."
    )
    openai_timeout: float = _float(
        30.0, "Seconds per OpenAI request.", lo=0.0, hi=_DAY, open_lo=True
    )
    openai_max_retries: int = _int(3, "Retries of a failed OpenAI request.", lo=0, hi=100)
    openai_concurrent_requests: int = _int(
        10, "Most OpenAI requests in flight at once.", lo=1, hi=10_000
    )
    anthropic_timeout: float = _float(
        30.0, "Seconds per Anthropic request.", lo=0.0, hi=_DAY, open_lo=True
    )
    anthropic_max_retries: int = _int(3, "Retries of a failed Anthropic request.", lo=0, hi=100)
    anthropic_concurrent_requests: int = _int(
        10, "Most Anthropic requests in flight at once.", lo=1, hi=10_000
    )
    google_timeout: float = _float(
        30.0, "Seconds per Google request.", lo=0.0, hi=_DAY, open_lo=True
    )
    google_max_retries: int = _int(3, "Retries of a failed Google request.", lo=0, hi=100)
    google_concurrent_requests: int = _int(
        10, "Most Google requests in flight at once.", lo=1, hi=10_000
    )
    local_provider_timeout: float = _float(
        120.0,
        "Seconds per request to a local server (Ollama, vLLM, LM Studio, llama.cpp).",
        lo=0.0,
        hi=_DAY,
        open_lo=True,
    )
    local_provider_batch_size: int = _int(
        8, "Requests a local server is sent at once.", lo=1, hi=10_000
    )
    local_provider_max_retries: int = _int(
        3, "Retries of a failed request to a local server.", lo=0, hi=100
    )

    # Planning -------------------------------------------------------------------------
    enable_hierarchical_planning: bool = _bool(
        True, "Split goals with sub-goals into nested plans."
    )

    # Metrics and monitoring ----------------------------------------------------------
    metrics_enabled: bool = _bool(
        True, "Collect metrics of tools, caches, agent turns and providers."
    )
    hook_metrics_enabled: bool = _bool(
        False,
        "Also time every hook call, per hook and per plugin (about 0.3 us a call; off by default "
        "so that a loaded hook costs what plain pluggy costs).",
    )
    monitoring_enabled: bool = _bool(
        False, "Check latency, error rate and memory periodically and log warnings."
    )
    monitoring_interval: float = _float(60.0, "Seconds between monitoring checks.", lo=0.1, hi=_DAY)
    latency_warning_ms: float = _float(
        2000.0,
        "Average latency (ms) above which the monitor warns.",
        lo=0.0,
        hi=_DAY * 1000,
        open_lo=True,
    )
    error_rate_threshold: float = _float(
        0.05, "Error rate above which the monitor warns.", lo=0.0, hi=1.0
    )

    # The model-driven loop ------------------------------------------------------------
    agent_max_turns: int = _int(
        10,
        "Model turns per run before the run stops (its status names this budget).",
        lo=1,
        hi=1000,
    )
    agent_max_tool_calls: int = _int(
        16, "Tool calls one model turn may ask for; more are refused.", lo=1, hi=1024
    )
    agent_max_tokens: int = _int(
        0, "Tokens (prompt plus completion) per run; 0 means no limit.", lo=0, hi=100_000_000
    )
    agent_approval: str = _str(
        "writes",
        "Which tool calls wait for approval: never, writes (files, code, network), always.",
        choices=("never", "writes", "always"),
    )
    provider_offline_fallback: bool = _bool(
        False, "When the configured provider fails, answer offline instead of failing the run."
    )

    # Beyond one machine ---------------------------------------------------------------
    cache_backend: str = _str(
        "disk", "The shared cache level (L2): disk, redis, or a plugin's backend name."
    )
    redis_url: str = _str("redis://127.0.0.1:6379/0", "The Redis server of the redis backend.")
    executor_backend: str = _str(
        "local", "Where tools run: local, ray, or a plugin's executor backend name."
    )
    ray_address: str = _str(
        "", "The Ray cluster's address; empty starts or joins a local Ray instance."
    )

    # Tools ----------------------------------------------------------------------------
    mcp_servers: dict[str, Any] = _mcp_servers(
        "MCP servers whose tools become victor tools: {name: {command, args, env} or {url}}."
    )
    analysis_max_files: int = _int(
        5000,
        "Files one analysis tool reads per run; more are skipped and flagged.",
        lo=1,
        hi=10_000_000,
    )
    analysis_max_file_bytes: int = _int(
        2_000_000,
        "Bytes read from one file; a larger file is skipped and reported.",
        lo=1,
        hi=1 << 40,
    )
    analysis_max_total_bytes: int = _int(
        200_000_000,
        "Bytes one analysis tool reads per run; the rest is skipped and flagged.",
        lo=1,
        hi=1 << 42,
    )
    docs_base_url: str = _str(
        _DOCS_BASE_URL,
        "Base URL of the published documentation that error messages link to.",
    )

    # Plugins and storage -------------------------------------------------------------
    disabled_plugins: tuple[str, ...] = _str_list("Entry-point names that are never loaded.")
    strict_plugins: bool = _bool(
        False, "Raise when a plugin fails to load instead of isolating it."
    )
    cache_dir: Path = _path(lambda: _user_dir("cache"), "Directory of the persistent caches.")
    data_dir: Path = _path(lambda: _user_dir("data"), "Directory of persistent memory and state.")

    def __init__(self, **values: Any) -> None:
        unknown = sorted(set(values) - _FIELD_NAMES)
        if unknown:
            raise _unknown(unknown[0])
        self.__attrs_init__(**values)  # type: ignore[attr-defined]

    def __setattr__(self, name: str, value: Any) -> None:
        field = _FIELDS.get(name)
        if field is None:
            raise _unknown(name)
        if field.converter is not None:
            value = field.converter(value)  # type: ignore[call-arg,operator]
        if field.validator is not None:
            field.validator(self, field, value)
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        changed = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in _FIELD_LIST
            if f.name not in ("cache_dir", "data_dir") and getattr(self, f.name) != _default(f)
        ]
        return f"Settings({', '.join(changed)})"

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def profile(cls, name: str, **overrides: Any) -> Settings:
        """Settings of a named profile of the guide, with ``overrides`` on top.

        Args:
            name: ``"default"``, ``"production"``, ``"high_throughput"``, ``"low_latency"``
                or ``"low_memory"``.
            overrides: further field values.

        Raises:
            SettingsError: an unknown profile or a bad override.
        """
        if name not in PROFILES:
            raise SettingsError(
                f"profile must be one of {', '.join(sorted(PROFILES))} (got {name!r})",
                field="profile",
                value=name,
            )
        return cls(**{**PROFILES[name], **overrides})

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, base: Settings | None = None
    ) -> Settings:
        """Settings from ``VICTOR_<FIELD>`` variables (and ``VICTOR_PROFILE``).

        Bools accept 1/0, true/false, yes/no, on/off; lists are comma-separated.
        A ``VICTOR_*`` variable that names no setting is ignored with a
        :class:`SettingsWarning` naming the closest one.

        Args:
            environ: the variables (default: ``os.environ``).
            base: settings the variables (and ``VICTOR_PROFILE``) apply over
                (default: the defaults).

        Raises:
            SettingsError: a variable whose value the field does not accept.
        """
        from victor_core.settings import _sources

        return _sources.from_env(cls, os.environ if environ is None else environ, base)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Settings:
        """Settings from a TOML file.

        The file holds the fields at top level, or in a ``[victor]`` table, or in
        ``[tool.victor]`` (so ``pyproject.toml`` works). A ``profile`` key selects a
        named profile the other keys override. A key that names no setting is
        ignored with a :class:`SettingsWarning` naming the closest one.

        Raises:
            SettingsError: a missing or malformed file or a bad value.
        """
        from victor_core.settings import _sources

        return _sources.load(cls, Path(path))

    @classmethod
    def discover(
        cls,
        *,
        cwd: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        config: str | os.PathLike[str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        user_config: bool = True,
    ) -> tuple[Settings, dict[str, _sources.SettingSource]]:
        """The settings from every place a user keeps them, and where each came from.

        Lowest to highest: the defaults; the first file found of
        ``$VICTOR_CONFIG``, ``victor.toml`` in ``cwd``, ``[tool.victor]`` in the
        nearest ``pyproject.toml`` from ``cwd`` upwards that has that table, and
        :func:`user_config_file`; the ``VICTOR_<FIELD>`` variables; the file
        ``config``; ``overrides``. A ``profile`` (in a file, or
        ``VICTOR_PROFILE``) applies its values at the level where it is named.
        Unknown names are ignored with a :class:`SettingsWarning`.

        ``Settings()`` stays the defaults alone; the ``victor`` command uses this.

        Args:
            cwd: where the search for files starts (default: the working directory).
            environ: the environment (default: ``os.environ``).
            config: an explicit settings file (``victor --config FILE``).
            overrides: explicit values (command-line options), highest of all.
            user_config: also look for the user's ``victor/config.toml``.

        Returns:
            The settings, and for every setting its :class:`SettingSource`.

        Raises:
            SettingsError: a missing or malformed file, or a bad value (the
                message says where the value came from).
        """
        from victor_core.settings import _sources

        env = os.environ if environ is None else environ
        layers = _sources.layers(
            cwd=cwd, environ=env, config=config, overrides=overrides, user_config=user_config
        )
        return _sources.merge(cls, layers)

    # -- helpers -------------------------------------------------------------------------

    def evolve(self, **changes: Any) -> Settings:
        """A copy of these settings with ``changes`` applied (validated)."""
        values = {f.name: getattr(self, f.name) for f in _FIELD_LIST}
        unknown = sorted(set(changes) - _FIELD_NAMES)
        if unknown:
            raise _unknown(unknown[0])
        values.update(changes)
        return type(self)(**values)

    def to_dict(self) -> dict[str, Any]:
        """Every setting as JSON-friendly values (paths as strings, lists as lists)."""
        out: dict[str, Any] = {}
        for field in _FIELD_LIST:
            value = getattr(self, field.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[field.name] = value
        return out

    def is_lazy(self, family: str) -> bool:
        """Whether the plugins of ``family`` load on first dispatch rather than at start."""
        if not self.lazy_loading_enabled:
            return False
        flag = _FAMILY_FLAGS.get(family)
        return True if flag is None else bool(getattr(self, flag))

    @staticmethod
    def field_docs() -> dict[str, tuple[Any, str, str]]:
        """``{name: (default, doc, accepts)}`` for every setting, in declaration order."""
        return {
            f.name: (_default(f), f.metadata["doc"], f.metadata["accepts"]) for f in _FIELD_LIST
        }


def _default(field: attrs.Attribute[Any]) -> Any:
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return default.factory()  # type: ignore[attr-defined,union-attr]
    return default


_FIELD_LIST: tuple[attrs.Attribute[Any], ...] = tuple(attrs.fields(Settings))
_FIELDS: dict[str, attrs.Attribute[Any]] = {f.name: f for f in _FIELD_LIST}
_FIELD_NAMES = frozenset(_FIELDS)
_FAMILY_FLAGS = {
    "planning": "lazy_load_planning",
    "memory": "lazy_load_memory",
    "skills": "lazy_load_skills",
    "personas": "lazy_load_personas",
    "tools": "lazy_load_tool_executor",
}


def _unknown(name: str) -> UnknownSettingError:
    import difflib

    close = difflib.get_close_matches(name, _FIELD_NAMES, n=1)
    hint = (
        f"; did you mean {close[0]!r}?"
        if close
        else f"; see {docs_url('configuration', 'every-setting')}"
    )
    return UnknownSettingError(f"unknown setting {name!r}{hint}", field=name, value=None)


def _closest(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, _FIELD_NAMES, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


PROFILES: dict[str, dict[str, Any]] = {
    "default": {},
    "production": {
        "lazy_loading_enabled": True,
        "parallel_execution_enabled": True,
        "max_parallel_workers": 8,
        "tool_selection_cache_enabled": True,
        "tool_selection_cache_size": 1000,
        "response_cache_enabled": True,
        "response_cache_size": 2000,
        "memory_limit_mb": 4000,
        "episodic_memory_max_episodes": 2000,
        "semantic_memory_max_facts": 10_000,
        "connection_pool_size": 20,
        "connection_pool_max_overflow": 10,
    },
    "high_throughput": {
        "max_parallel_workers": 16,
        "connection_pool_size": 50,
        "tool_selection_cache_size": 2000,
        "response_cache_size": 5000,
        "enable_episodic_memory": False,
        "enable_semantic_memory": False,
    },
    "low_latency": {
        "lazy_loading_enabled": True,
        "parallel_execution_enabled": True,
        "tool_selection_cache_size": 2000,
        "enable_hierarchical_planning": False,
    },
    "low_memory": {
        "tool_selection_cache_size": 250,
        "episodic_memory_max_episodes": 500,
        "maintenance_enabled": True,
    },
}
