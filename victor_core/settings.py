"""Settings: every knob of victor-core, validated on construction and assignment.

The names are those of the user's performance guide, so its examples work as
written::

    settings = Settings()
    settings.max_parallel_workers = 16
    settings.tool_selection_cache_ttl = 7200

``Settings()`` is the defaults. :meth:`Settings.discover` gathers the
settings from where a user keeps them, lowest to highest: the defaults; the
first file found of ``$VICTOR_CONFIG``, ``./victor.toml``, ``[tool.victor]``
in the nearest ``pyproject.toml`` upwards, the user's ``victor/config.toml``;
``VICTOR_<FIELD>`` environment variables; an explicit file (``--config``) and
explicit values (command-line options). It also says where each value came
from. The single sources have their own constructors: :meth:`Settings.profile`,
:meth:`Settings.load` and :meth:`Settings.from_env`.
"""

from __future__ import annotations

import contextvars
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

# SettingTypeError and UnknownSettingError live in the one exception tree; they
# are re-exported here, where they were first defined, so old imports keep working.
from victor_core.exceptions import SettingsError, SettingTypeError, UnknownSettingError

__all__ = [
    "ENV_PREFIX",
    "PROFILES",
    "SettingSource",
    "SettingTypeError",
    "Settings",
    "SettingsWarning",
    "UnknownSettingError",
    "active_settings",
    "bind_settings",
    "docs_url",
    "find_config_file",
    "settings_bound",
    "unbind_settings",
    "user_config_file",
]


class SettingsWarning(UserWarning):
    """A name in a settings file or a ``VICTOR_*`` variable that no setting has.

    It is ignored, not an error (an older or newer victor-core may know it);
    the message names the closest setting.
    """


# --- field builders ---------------------------------------------------------
# Each field carries its documentation and a description of what it accepts in
# its metadata; docs/configuration.md and the error messages both use them.


def _fail(name: str, value: Any, accepts: str, *, wrong_type: bool = False) -> SettingsError:
    cls = SettingTypeError if wrong_type else SettingsError
    return cls(f"{name} must be {accepts} (got {value!r})", field=name, value=value)


def _check_bool(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, bool):
        raise _fail(attribute.name, value, "a bool (True or False)", wrong_type=True)


def _bool(default: bool, doc: str) -> Any:
    return attrs.field(
        default=default, validator=_check_bool, metadata={"doc": doc, "accepts": "a bool"}
    )


def _int(default: int, doc: str, *, lo: int, hi: int) -> Any:
    accepts = f"an int between {lo} and {hi}"

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(attribute.name, value, accepts, wrong_type=True)
        if not lo <= value <= hi:
            raise _fail(attribute.name, value, accepts)

    return attrs.field(default=default, validator=check, metadata={"doc": doc, "accepts": accepts})


def _float(default: float, doc: str, *, lo: float, hi: float, open_lo: bool = False) -> Any:
    low = f"greater than {_fmt(lo)}" if open_lo else f"at least {_fmt(lo)}"
    accepts = f"a number {low} and at most {_fmt(hi)}"

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _fail(attribute.name, value, accepts, wrong_type=True)
        if not ((value > lo if open_lo else value >= lo) and value <= hi):
            raise _fail(attribute.name, value, accepts)

    return attrs.field(
        default=default,
        validator=check,
        converter=_to_float,
        metadata={"doc": doc, "accepts": accepts},
    )


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(number)


def _to_float(value: Any) -> Any:
    # Ints are accepted for float settings (``ttl = 3600``); anything else is
    # left alone so that the validator can name it.
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _str(default: str, doc: str, *, choices: tuple[str, ...] | None = None) -> Any:
    accepts = "one of " + ", ".join(repr(c) for c in choices) if choices else "a string"

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str):
            raise _fail(attribute.name, value, accepts, wrong_type=True)
        if choices is not None and value not in choices:
            raise _fail(attribute.name, value, accepts)

    return attrs.field(default=default, validator=check, metadata={"doc": doc, "accepts": accepts})


def _to_path(value: Any) -> Any:
    if isinstance(value, str) and value:
        return Path(value).expanduser()
    return value


def _path(factory: Callable[[], Path], doc: str) -> Any:
    accepts = "a path (str or pathlib.Path)"

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, Path):
            raise _fail(attribute.name, value, accepts, wrong_type=True)

    return attrs.field(
        factory=factory,
        validator=check,
        converter=_to_path,
        metadata={"doc": doc, "accepts": accepts},
    )


def _to_str_tuple(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(value)
    return value


def _str_list(doc: str) -> Any:
    accepts = "a list of strings"

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise _fail(attribute.name, value, accepts, wrong_type=True)

    return attrs.field(
        factory=tuple,
        validator=check,
        converter=_to_str_tuple,
        metadata={"doc": doc, "accepts": accepts},
    )


# MCP servers ---------------------------------------------------------------
# ``mcp_servers`` is checked here, entry by entry, so that a bad server fails
# when the settings are read (naming the server and the field), not at the
# first call of one of its tools.

_MCP_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_MCP_STDIO_KEYS = ("command", "args", "env", "cwd")
_MCP_HTTP_KEYS = ("url", "headers")
# Keys other clients write into the same tables: "type" names the transport,
# "disabled" turns a server off. Both are honoured, nothing else is ignored.
_MCP_TYPES = {"stdio": "stdio", "http": "http", "streamable-http": "http", "streamableHttp": "http"}


def _mcp_fail(detail: str, value: Any) -> SettingsError:
    return SettingsError(f"mcp_servers: {detail}", field="mcp_servers", value=value)


def _mcp_str_map(server: str, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _mcp_fail(
            f"server {server!r}: {key} must be a table of strings to strings (got {value!r})",
            value,
        )
    return dict(value)


def _mcp_server(name: Any, entry: Any) -> dict[str, Any] | None:
    """One server's table, checked and normalised (None: the server is disabled)."""
    if not isinstance(name, str) or not name or not set(name) <= _MCP_NAME_CHARS or "__" in name:
        raise _mcp_fail(
            f"server name {name!r} must be letters, digits, '_' and '-' without '__' "
            "(it becomes part of the tool names mcp__<server>__<tool>)",
            name,
        )
    if not isinstance(entry, Mapping):
        raise _mcp_fail(
            f"server {name!r} must be a table with 'command' (stdio) or 'url' "
            f"(streamable HTTP) (got {entry!r})",
            entry,
        )
    entry = dict(entry)
    disabled = entry.pop("disabled", False)
    if not isinstance(disabled, bool):
        raise _mcp_fail(f"server {name!r}: disabled must be a bool (got {disabled!r})", disabled)
    kind = entry.pop("type", None)
    if kind is not None and kind not in _MCP_TYPES:
        raise _mcp_fail(
            f"server {name!r}: type must be one of {', '.join(map(repr, _MCP_TYPES))} "
            f"(got {kind!r})",
            kind,
        )
    if ("command" in entry) == ("url" in entry):
        raise _mcp_fail(
            f"server {name!r} needs exactly one of 'command' (stdio) or 'url' "
            f"(streamable HTTP) (got keys {sorted(entry)!r})",
            entry,
        )
    transport = "stdio" if "command" in entry else "http"
    if kind is not None and _MCP_TYPES[kind] != transport:
        raise _mcp_fail(
            f"server {name!r}: type {kind!r} does not match "
            f"{'command' if transport == 'stdio' else 'url'!r}",
            kind,
        )
    allowed = _MCP_STDIO_KEYS if transport == "stdio" else _MCP_HTTP_KEYS
    unknown = sorted(set(entry) - set(allowed))
    if unknown:
        raise _mcp_fail(
            f"server {name!r}: unknown key(s) {', '.join(map(repr, unknown))}; a "
            f"{'stdio' if transport == 'stdio' else 'streamable HTTP'} server accepts "
            f"{', '.join(map(repr, allowed))} (and 'type', 'disabled')",
            entry,
        )
    if disabled:
        return None
    if transport == "http":
        url = entry["url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _mcp_fail(
                f"server {name!r}: url must be an http:// or https:// URL (got {url!r})", url
            )
        return {"url": url, "headers": _mcp_str_map(name, "headers", entry.get("headers", {}))}
    command = entry["command"]
    if not isinstance(command, str) or not command.strip():
        raise _mcp_fail(
            f"server {name!r}: command must be a non-empty string (got {command!r})", command
        )
    args = entry.get("args", [])
    if not isinstance(args, (list, tuple)) or not all(isinstance(a, str) for a in args):
        raise _mcp_fail(f"server {name!r}: args must be a list of strings (got {args!r})", args)
    server: dict[str, Any] = {
        "command": command,
        "args": list(args),
        "env": _mcp_str_map(name, "env", entry.get("env", {})),
    }
    if "cwd" in entry:
        cwd = entry["cwd"]
        if not isinstance(cwd, str) or not cwd:
            raise _mcp_fail(f"server {name!r}: cwd must be a non-empty string (got {cwd!r})", cwd)
        server["cwd"] = cwd
    return server


def _to_mcp_servers(value: Any) -> Any:
    """``mcp_servers`` from a mapping or a JSON document, checked and normalised.

    Claude Desktop's and Cursor's ``{"mcpServers": {...}}`` shape is unwrapped
    (its other keys belong to those programs and are ignored).
    """
    if isinstance(value, str):
        import json

        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError as exc:
            raise _mcp_fail(
                f"must be a JSON object of servers, {{name: {{command, args, env}} or "
                f'{{url}}}}, or {{"mcpServers": ...}} (got {value!r}: {exc})',
                value,
            ) from None
    if isinstance(value, Mapping) and "mcpServers" in value:
        value = value["mcpServers"]
    if not isinstance(value, Mapping):
        raise SettingTypeError(
            "mcp_servers must be a mapping of server names to tables, "
            f"{{name: {{command, args, env}}}} or {{name: {{url}}}} (got {value!r})",
            field="mcp_servers",
            value=value,
        )
    servers: dict[str, Any] = {}
    for name, entry in value.items():
        server = _mcp_server(name, entry)
        if server is not None:
            servers[name] = server
    return servers


def _mcp_servers(doc: str) -> Any:
    accepts = "a mapping of names to tables (a TOML table or a JSON object)"

    def check(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, dict):
            raise _fail(attribute.name, value, accepts, wrong_type=True)

    return attrs.field(
        factory=dict,
        validator=check,
        converter=_to_mcp_servers,
        metadata={"doc": doc, "accepts": accepts},
    )


def _user_dir(kind: str) -> Path:
    """The per-user cache or data directory of victor-core, by platform convention."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return base / "victor-core" / ("Cache" if kind == "cache" else "Data")
    if sys.platform == "darwin":
        sub = "Caches" if kind == "cache" else "Application Support"
        return home / "Library" / sub / "victor-core"
    if kind == "cache":
        return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "victor-core"
    return Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "victor-core"


_HOUR = 3600.0
_DAY = 86400.0
_DOCS_BASE_URL = "https://victor-core.readthedocs.io/en/latest"


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
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if env.get("VICTOR_PROFILE"):
            values.update(_profile_values(env["VICTOR_PROFILE"]))
        values.update(_env_values(env))
        if base is not None:
            return base.evolve(**values)
        return cls(**values)

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
        values, _lines = _read_file(Path(path))
        profile = values.pop("profile", None)
        if profile is not None:
            return cls.profile(str(profile), **values)
        return cls(**values)

    @classmethod
    def discover(
        cls,
        *,
        cwd: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        config: str | os.PathLike[str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        user_config: bool = True,
    ) -> tuple[Settings, dict[str, SettingSource]]:
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
        env = os.environ if environ is None else environ
        layers: list[tuple[dict[str, Any], Callable[[str], SettingSource]]] = []

        def add_file(file: Path, kind: str) -> None:
            values, lines = _read_file(file)
            profile = values.pop("profile", None)
            if profile is not None:
                line = lines.get("profile")
                layers.append(
                    (
                        _profile_values(str(profile)),
                        lambda _n: SettingSource("file", file=file, line=line, via=kind),
                    )
                )
            layers.append(
                (values, lambda n: SettingSource("file", file=file, line=lines.get(n), via=kind))
            )

        found = find_config_file(cwd=cwd, environ=env, user_config=user_config)
        if found is not None:
            add_file(*found)
        if env.get("VICTOR_PROFILE"):
            layers.append(
                (
                    _profile_values(env["VICTOR_PROFILE"]),
                    lambda _n: SettingSource("env", variable="VICTOR_PROFILE"),
                )
            )
        layers.append(
            (_env_values(env), lambda n: SettingSource("env", variable=ENV_PREFIX + n.upper()))
        )
        if config is not None:
            add_file(Path(config), "--config")
        if overrides:
            unknown = sorted(set(overrides) - _FIELD_NAMES)
            if unknown:
                raise _unknown(unknown[0])
            layers.append((dict(overrides), lambda _n: SettingSource("option")))

        values: dict[str, Any] = {}
        sources: dict[str, SettingSource] = {f.name: SettingSource("default") for f in _FIELD_LIST}
        for layer, source_of in layers:
            for name, value in layer.items():
                values[name] = value
                sources[name] = source_of(name)
        try:
            settings = cls(**values)
        except SettingsError as exc:
            where = sources.get(exc.field or "")
            if where is None or where.kind == "default":
                raise
            raise type(exc)(f"{exc} (from {where})", field=exc.field, value=exc.value) from None
        return settings, sources

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


#: The prefix of every setting's environment variable.
ENV_PREFIX = "VICTOR_"

#: ``VICTOR_*`` variables that are not settings (never warned about).
_OTHER_VARIABLES = frozenset(
    {"VICTOR_CONFIG", "VICTOR_PROFILE", "VICTOR_CORE_SPEC", "VICTOR_REQUIRE_SERVERS"}
)


def docs_url(page: str, anchor: str | None = None, *, base: str | None = None) -> str:
    """The address of a page of the published documentation.

    Args:
        page: the page's name (``"configuration"`` for ``configuration.md``).
        anchor: a heading's anchor on that page.
        base: the site (default: the default of ``docs_base_url``).
    """
    root = (base or _DOCS_BASE_URL).rstrip("/")
    return f"{root}/{page}/" + (f"#{anchor}" if anchor else "")


def _profile_values(name: str) -> dict[str, Any]:
    if name not in PROFILES:
        raise SettingsError(
            f"profile must be one of {', '.join(sorted(PROFILES))} (got {name!r})",
            field="profile",
            value=name,
        )
    return dict(PROFILES[name])


def _env_values(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings the ``VICTOR_<FIELD>`` variables of ``env`` give (warning on unknown ones)."""
    values: dict[str, Any] = {}
    for key, raw in env.items():
        if not key.startswith(ENV_PREFIX) or key in _OTHER_VARIABLES:
            continue
        field = _FIELDS.get(key[len(ENV_PREFIX) :].lower())
        if field is None:
            _warn(
                f"environment variable {key} is not a setting, ignored{_closest(key[7:].lower())}"
            )
            continue
        values[field.name] = _parse_env(field, key, raw)
    return values


def _warn(message: str) -> None:
    import warnings

    # stacklevel 4: the caller of Settings.load / from_env / discover.
    warnings.warn(message, SettingsWarning, stacklevel=4)


class SettingSource:
    """Where a setting's value came from (:meth:`Settings.discover`).

    Attributes:
        kind: ``"default"``, ``"file"``, ``"env"`` or ``"option"`` (the command line).
        file: the settings file (kind ``file``).
        line: the line of that file the value is on (None: set by a ``profile``
            given elsewhere, or not found).
        variable: the environment variable (kind ``env``).
        via: how the file was found: ``"VICTOR_CONFIG"``, ``"victor.toml"``,
            ``"pyproject.toml"``, ``"user"`` or ``"--config"``.
    """

    __slots__ = ("file", "kind", "line", "variable", "via")

    def __init__(
        self,
        kind: str,
        *,
        file: Path | None = None,
        line: int | None = None,
        variable: str | None = None,
        via: str | None = None,
    ) -> None:
        self.kind = kind
        self.file = file
        self.line = line
        self.variable = variable
        self.via = via

    @property
    def label(self) -> str:
        """``default``, ``env``, ``command line``, or the file and line (``path:3``)."""
        if self.kind == "file" and self.file is not None:
            return f"{self.file}:{self.line}" if self.line else str(self.file)
        return "command line" if self.kind == "option" else self.kind

    def to_dict(self) -> dict[str, Any]:
        """``source`` (:attr:`label`) and what applies of ``variable``, ``file``, ``line``."""
        out: dict[str, Any] = {"source": self.label}
        if self.variable is not None:
            out["variable"] = self.variable
        if self.file is not None:
            out.update(file=str(self.file), line=self.line, found_by=self.via)
        return out

    def __str__(self) -> str:
        if self.kind == "env":
            return f"env {self.variable}"
        return self.label

    def __repr__(self) -> str:
        return f"SettingSource({self.kind!r}, {str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SettingSource):
            return NotImplemented
        return all(getattr(self, a) == getattr(other, a) for a in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, a) for a in self.__slots__))


def user_config_file(environ: Mapping[str, str] | None = None) -> Path:
    """The user's settings file, ``victor/config.toml`` in the platform's config directory.

    ``$XDG_CONFIG_HOME`` (default ``~/.config``) on Linux and other Unixes,
    ``~/Library/Application Support`` on macOS, ``%APPDATA%`` on Windows.
    """
    env = os.environ if environ is None else environ
    home = Path.home()
    if sys.platform == "win32":
        base = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    return base / "victor" / "config.toml"


def find_config_file(
    *,
    cwd: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    user_config: bool = True,
) -> tuple[Path, str] | None:
    """The settings file :meth:`Settings.discover` reads, and how it was found.

    The first of: ``$VICTOR_CONFIG`` (which must exist), ``victor.toml`` in
    ``cwd``, the nearest ``pyproject.toml`` from ``cwd`` upwards with a
    ``[tool.victor]`` table, :func:`user_config_file`.

    Returns:
        ``(path, how)`` with ``how`` one of ``"VICTOR_CONFIG"``, ``"victor.toml"``,
        ``"pyproject.toml"``, ``"user"``; None when there is none.

    Raises:
        SettingsError: ``VICTOR_CONFIG`` names a file that does not exist.
    """
    env = os.environ if environ is None else environ
    named = env.get("VICTOR_CONFIG")
    if named:
        file = Path(named).expanduser()
        if not file.is_file():
            raise SettingsError(
                f"VICTOR_CONFIG names {named!r}, which is not a file",
                field="VICTOR_CONFIG",
                value=named,
            )
        return file, "VICTOR_CONFIG"
    here = Path.cwd() if cwd is None else Path(cwd)
    here = here.absolute()
    if (here / "victor.toml").is_file():
        return here / "victor.toml", "victor.toml"
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and _has_victor_table(candidate):
            return candidate, "pyproject.toml"
    if user_config:
        user = user_config_file(env)
        if user.is_file():
            return user, "user"
    return None


def _has_victor_table(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    # Cheap test first: most pyproject.toml files have no victor table at all.
    if "victor" not in text:
        return False
    try:
        data = _toml().loads(text)
    except ValueError:
        return "[tool.victor" in text  # let the read report the syntax error
    tool = data.get("tool")
    return isinstance(tool, dict) and "victor" in tool


def _toml() -> Any:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    return tomllib


def _read_file(file: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The settings in a TOML file (unknown keys dropped with a warning) and their lines."""
    tomllib = _toml()
    try:
        text = file.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise SettingsError(
            f"settings file {str(file)!r} does not exist", field="path", value=str(file)
        ) from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(
            f"settings file {str(file)!r} is not valid TOML: {exc}",
            field="path",
            value=str(file),
        ) from None
    table: Any = data
    prefix = ""
    if isinstance(data.get("tool"), dict) and "victor" in data["tool"]:
        table, prefix = data["tool"]["victor"], "tool.victor"
    elif isinstance(data.get("victor"), dict):
        table, prefix = data["victor"], "victor"
    if not isinstance(table, dict):
        raise SettingsError(
            f"settings file {str(file)!r}: the victor table must be a table (got {table!r})",
            field="path",
            value=str(file),
        )
    lines = _key_lines(text, prefix)
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "profile" or key in _FIELD_NAMES:
            values[key] = value
        elif not (prefix == "" and key in ("tool", "project", "build-system")):
            where = f"{file}:{lines[key]}" if key in lines else str(file)
            _warn(f"{where}: {key!r} is not a setting, ignored{_closest(key)}")
    return values, lines


_KEY = r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*[=.]"""
_HEADER = r"^\s*\[\s*([^\[\]]+?)\s*\]"


def _key_lines(text: str, prefix: str) -> dict[str, int]:
    """The line (1-based) of each key of the table ``prefix`` (``""``: the top level)."""
    import re

    lines: dict[str, int] = {}
    table = ""
    for number, line in enumerate(text.splitlines(), 1):
        header = re.match(_HEADER, line)
        if header and not line.lstrip().startswith("[["):
            table = header.group(1).replace(" ", "").replace('"', "")
            if prefix and table.startswith(prefix + "."):
                lines.setdefault(table[len(prefix) + 1 :].split(".")[0], number)
            continue
        if table == prefix:
            key = re.match(_KEY, line)
            if key:
                lines.setdefault(next(g for g in key.groups() if g), number)
    return lines


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_env(field: attrs.Attribute[Any], key: str, raw: str) -> Any:
    kind = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", "")
    text = raw.strip()
    try:
        if kind == "bool":
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise SettingsError(
            f"{key} (setting {field.name}) must be {field.metadata['accepts']} (got {raw!r})",
            field=field.name,
            value=raw,
        ) from None
    return text  # str, path and list fields convert themselves


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


# The settings of the orchestrator whose work runs in the current context. Tools
# take keyword parameters only; those that honour settings (the analysis limits,
# the cache directory) read them here. The executor copies the context into its
# worker threads, so a tool sees the settings of the call that started it.
_ACTIVE: contextvars.ContextVar[Settings | None] = contextvars.ContextVar(
    "victor_core_active_settings", default=None
)


def active_settings() -> Settings | None:
    """The settings of the orchestrator running the current tool call, or None outside one."""
    return _ACTIVE.get()


def bind_settings(settings: Settings | None) -> contextvars.Token[Settings | None]:
    """Make ``settings`` those :func:`active_settings` returns; undo with ``_ACTIVE.reset``.

    Returns:
        The token to pass to :func:`unbind_settings`.
    """
    return _ACTIVE.set(settings)


def unbind_settings(token: contextvars.Token[Settings | None]) -> None:
    """Restore the settings active before :func:`bind_settings` returned ``token``."""
    _ACTIVE.reset(token)


class settings_bound:
    """Bind ``settings`` for the ``with`` block (:func:`bind_settings`, then undo it)."""

    def __init__(self, settings: Settings | None) -> None:
        self._settings = settings
        self._tokens: list[contextvars.Token[Settings | None]] = []

    def __enter__(self) -> Settings | None:
        self._tokens.append(_ACTIVE.set(self._settings))
        return self._settings

    def __exit__(self, *exc_info: object) -> None:
        _ACTIVE.reset(self._tokens.pop())
