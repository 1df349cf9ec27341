"""Validation of the ``mcp_servers`` setting (stdio commands and streamable-HTTP URLs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from victor_core.exceptions import SettingsError, SettingTypeError
from victor_core.settings._fields import _fail

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
    transport = _mcp_transport(name, entry, entry.pop("type", None))
    if disabled:
        return None
    return _mcp_http(name, entry) if transport == "http" else _mcp_stdio(name, entry)


def _mcp_transport(name: str, entry: dict[str, Any], kind: Any) -> str:
    """``"stdio"`` or ``"http"``, checked against ``type`` and the entry's keys."""
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
    return transport


def _mcp_http(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    url = entry["url"]
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise _mcp_fail(
            f"server {name!r}: url must be an http:// or https:// URL (got {url!r})", url
        )
    return {"url": url, "headers": _mcp_str_map(name, "headers", entry.get("headers", {}))}


def _mcp_stdio(name: str, entry: dict[str, Any]) -> dict[str, Any]:
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
