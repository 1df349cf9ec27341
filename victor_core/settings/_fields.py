"""Field builders of :class:`~victor_core.settings.Settings`: validation, conversion, docs."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from victor_core.exceptions import SettingsError, SettingTypeError

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


def docs_url(page: str, anchor: str | None = None, *, base: str | None = None) -> str:
    """The address of a page of the published documentation.

    Args:
        page: the page's name (``"configuration"`` for ``configuration.md``).
        anchor: a heading's anchor on that page.
        base: the site (default: the default of ``docs_base_url``).
    """
    root = (base or _DOCS_BASE_URL).rstrip("/")
    return f"{root}/{page}/" + (f"#{anchor}" if anchor else "")
