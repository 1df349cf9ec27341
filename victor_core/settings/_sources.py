"""Where settings come from: files, ``VICTOR_*`` variables, profiles; :class:`SettingSource`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from victor_core.exceptions import SettingsError
from victor_core.settings._settings import _FIELD_NAMES, _FIELDS, PROFILES, _closest, _unknown

if TYPE_CHECKING:
    from victor_core.settings._settings import Settings


class SettingsWarning(UserWarning):
    """A name in a settings file or a ``VICTOR_*`` variable that no setting has.

    It is ignored, not an error (an older or newer victor-core may know it);
    the message names the closest setting.
    """


#: The prefix of every setting's environment variable.
ENV_PREFIX = "VICTOR_"

#: ``VICTOR_*`` variables that are not settings (never warned about).
_OTHER_VARIABLES = frozenset(
    {"VICTOR_CONFIG", "VICTOR_PROFILE", "VICTOR_CORE_SPEC", "VICTOR_REQUIRE_SERVERS"}
)


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

    # Attributed to the first caller outside this package (the caller of
    # Settings.load / from_env / discover), however deep the reading went.
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(__package__ or ""):
        level, frame = level + 1, frame.f_back  # type: ignore[assignment]
    warnings.warn(message, SettingsWarning, stacklevel=level)


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
    # Cheap tests first: most pyproject.toml files have no victor table at all,
    # and in most of the others "victor" is only a dependency ("victor-core>=1").
    if "victor" not in text or not _may_hold_victor_table(text):
        return False
    try:
        data = _toml().loads(text)
    except ValueError:
        return "[tool.victor" in text  # let the read report the syntax error
    tool = data.get("tool")
    return isinstance(tool, dict) and "victor" in tool


def _may_hold_victor_table(text: str) -> bool:
    """Whether a TOML document can define ``tool.victor`` (False: it cannot; no need to parse).

    Reads each line for what opens or fills the table in any TOML spelling: a
    ``tool.victor`` table header (``[tool.victor]``, ``[ tool . "victor" ]``,
    ``[[tool.victor.x]]``), a top-level ``tool`` key (``tool.victor.x = 1``,
    ``tool = {victor = {}}``), or a ``victor`` key under ``[tool]``. A
    multi-line string could hide lines from this reading: a document with
    one is always parsed.
    """
    if '"""' in text or "'''" in text:
        return True
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            table = line.split("]", 1)[0].strip("[ \t").replace(" ", "").replace("\t", "")
            table = table.replace('"', "").replace("'", "")
            if table == "tool.victor" or table.startswith("tool.victor."):
                return True
            continue
        if "victor" not in line:
            continue
        key = line.split("=", 1)[0].replace(" ", "").replace("\t", "")
        key = key.replace('"', "").replace("'", "")
        if not table and (key in {"tool", "tool.victor"} or key.startswith("tool.victor.")):
            return True
        if table == "tool" and (key == "victor" or key.startswith("victor.")):
            return True
    return False


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


# -- the constructors of Settings that read these sources ---------------------------------

#: One source's values, and the :class:`SettingSource` of each name in it.
Layer = tuple[dict[str, Any], Callable[[str], SettingSource]]


def from_env(cls: type[Settings], env: Mapping[str, str], base: Settings | None) -> Settings:
    """:meth:`Settings.from_env`: the ``VICTOR_*`` variables (and ``VICTOR_PROFILE``)."""
    values: dict[str, Any] = {}
    if env.get("VICTOR_PROFILE"):
        values.update(_profile_values(env["VICTOR_PROFILE"]))
    values.update(_env_values(env))
    if base is not None:
        return base.evolve(**values)
    return cls(**values)


def load(cls: type[Settings], path: Path) -> Settings:
    """:meth:`Settings.load`: one TOML file, a ``profile`` key applied under its other keys."""
    values, _lines = _read_file(path)
    profile = values.pop("profile", None)
    if profile is not None:
        return cls.profile(str(profile), **values)
    return cls(**values)


def _file_layers(file: Path, kind: str) -> list[Layer]:
    """A settings file's layers: its ``profile`` (if it names one), then its own values."""
    values, lines = _read_file(file)
    out: list[Layer] = []
    profile = values.pop("profile", None)
    if profile is not None:
        line = lines.get("profile")
        out.append(
            (
                _profile_values(str(profile)),
                lambda _n: SettingSource("file", file=file, line=line, via=kind),
            )
        )
    out.append((values, lambda n: SettingSource("file", file=file, line=lines.get(n), via=kind)))
    return out


def layers(
    *,
    cwd: str | os.PathLike[str] | None,
    environ: Mapping[str, str],
    config: str | os.PathLike[str] | None,
    overrides: Mapping[str, Any] | None,
    user_config: bool,
) -> list[Layer]:
    """The sources of :meth:`Settings.discover`, lowest first."""
    out: list[Layer] = []
    found = find_config_file(cwd=cwd, environ=environ, user_config=user_config)
    if found is not None:
        out += _file_layers(*found)
    if environ.get("VICTOR_PROFILE"):
        out.append(
            (
                _profile_values(environ["VICTOR_PROFILE"]),
                lambda _n: SettingSource("env", variable="VICTOR_PROFILE"),
            )
        )
    out.append(
        (_env_values(environ), lambda n: SettingSource("env", variable=ENV_PREFIX + n.upper()))
    )
    if config is not None:
        out += _file_layers(Path(config), "--config")
    if overrides:
        unknown = sorted(set(overrides) - _FIELD_NAMES)
        if unknown:
            raise _unknown(unknown[0])
        out.append((dict(overrides), lambda _n: SettingSource("option")))
    return out


def merge(
    cls: type[Settings], sources_low_first: list[Layer]
) -> tuple[Settings, dict[str, SettingSource]]:
    """The settings the layers give (higher wins) and each one's source.

    Raises:
        SettingsError: a bad value; the message says where it came from.
    """
    values: dict[str, Any] = {}
    sources: dict[str, SettingSource] = {name: SettingSource("default") for name in _FIELDS}
    for layer, source_of in sources_low_first:
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
