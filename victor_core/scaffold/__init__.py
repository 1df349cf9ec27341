"""Generate a new plugin distribution (``victor plugin new``).

:func:`create_plugin` writes a ready-to-publish project::

    victor-word-count/
        pyproject.toml        entry point in the group ``victor_core.<family>``
        README.md
        tox.ini               py310..py313, and factors for victor-core versions
        .gitignore
        src/victor_word_count/__init__.py
        src/victor_word_count/plugin.py   a documented hook implementation
        src/victor_word_count/py.typed
        tests/test_plugin.py  uses the fixtures of ``victor_core.testing``

The templates live in ``victor_core/scaffold/templates`` (package data):
``common/`` for every project and one folder per family for ``plugin.py``
and ``test_plugin.py``. They are :class:`string.Template` texts (``$name``,
``$$`` for a dollar sign).
"""

from __future__ import annotations

import keyword
import re
import sys
from pathlib import Path
from string import Template

from victor_core.exceptions import VictorError

__all__ = [
    "FAMILIES",
    "ScaffoldError",
    "create_plugin",
    "module_name_for",
    "validate_name",
]

#: family -> the hook its example implements.
FAMILIES: dict[str, str] = {
    "tools": "victor_tools",
    "skills": "victor_skills",
    "personas": "victor_personas",
    "planning": "victor_plan",
    "memory": "victor_memory_backend",
    "providers": "victor_providers",
}

_TEMPLATES = Path(__file__).parent / "templates"

# PEP 508 names: letters and digits, with '.', '_' or '-' inside.
_DIST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_ACCEPTED_NAME = (
    "a distribution name of letters, digits, '-', '_' and '.', starting and ending "
    "with a letter or digit, whose module name (lower case, '-' and '.' as '_') is a "
    "Python identifier, for example 'victor-word-count'"
)
# Names whose module would shadow victor-core itself or a tool plugin authors use.
_RESERVED = frozenset({"victor_core", "victor", "pluggy", "pytest", "tox", "setuptools"})


class ScaffoldError(VictorError, ValueError):
    """A plugin cannot be generated: a bad name or family, or the target exists.

    Attributes:
        field: what was wrong (``"name"``, ``"family"``, ``"directory"``, ``"description"``).
        value: the value given.
    """

    def __init__(self, message: str, *, field: str, value: object) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


def module_name_for(name: str) -> str:
    """The import name derived from a distribution name.

    ``victor-word-count`` gives ``victor_word_count``.
    """
    return re.sub(r"[-_.]+", "_", name).lower()


def validate_name(name: str) -> str:
    """Check a distribution name and return the module name derived from it.

    Raises:
        ScaffoldError: the name is not a valid distribution name, or its module
            name is not an identifier or would shadow another module.
    """
    if not isinstance(name, str) or not _DIST_NAME.match(name):
        raise ScaffoldError(
            f"plugin name must be {_ACCEPTED_NAME} (got {name!r})", field="name", value=name
        )
    module = module_name_for(name)
    if not module.isidentifier() or keyword.iskeyword(module):
        raise ScaffoldError(
            f"plugin name {name!r} gives the module name {module!r}, which is not a Python "
            f"identifier; the name must be {_ACCEPTED_NAME}",
            field="name",
            value=name,
        )
    if module in _RESERVED or module in sys.stdlib_module_names:
        example = "victor-" + module.replace("_", "-")
        raise ScaffoldError(
            f"plugin name {name!r} gives the module name {module!r}, which would shadow an "
            f"existing module; choose another name, for example {example!r}",
            field="name",
            value=name,
        )
    return module


def _entry_point_name(name: str) -> str:
    # The entry-point name is what users put in ``disabled_plugins``: keep it
    # short, without the conventional "victor-" prefix.
    normal = re.sub(r"[-_.]+", "-", name).lower()
    short = normal[len("victor-") :] if normal.startswith("victor-") else normal
    return short or normal


def _check_description(description: str) -> str:
    if not isinstance(description, str) or not description.strip():
        raise ScaffoldError(
            f"description must be a non-empty one-line string (got {description!r})",
            field="description",
            value=description,
        )
    if any(ord(ch) < 32 for ch in description):
        raise ScaffoldError(
            f"description must be one line without control characters (got {description!r})",
            field="description",
            value=description,
        )
    return description.strip()


def _toml_string(text: str) -> str:
    # A TOML basic string: JSON's escapes are valid TOML escapes.
    import json

    return json.dumps(text)


def _core_versions() -> tuple[str, str]:
    """(this victor-core's version, the requirement a new plugin declares)."""
    from victor_core import __version__

    match = re.match(r"^(\d+)\.(\d+)", __version__)
    if match is None:  # pragma: no cover - only when running from an uninstalled tree
        return __version__, "victor-core"
    return __version__, f"victor-core>={match.group(1)}.{match.group(2)}"


def _family_error(family: str) -> ScaffoldError:
    from victor_core.scaffold._custom import installed_families

    custom = sorted(installed_families())
    extra = f", or an installed family: {', '.join(custom)}" if custom else ""
    return ScaffoldError(
        f"family must be one of {', '.join(FAMILIES)}{extra} (got {family!r}); to define a "
        "family of your own, see docs/custom-hooks.md",
        field="family",
        value=family,
    )


def _family_values(family: str) -> tuple[dict[str, str], str]:
    """Template values that depend on the family, and the template folder to use."""
    if family in FAMILIES:
        return {"hook": FAMILIES[family], "extra_deps": "", "owner_deps": ""}, family
    from victor_core.scaffold import _custom

    try:
        found = _custom.find_family(family)
    except Exception as exc:
        raise ScaffoldError(
            f"family {family!r}: its hookspecs module (entry point of the group "
            f"'victor_core.hookspecs') failed to import: {type(exc).__name__}: {exc}",
            field="family",
            value=family,
        ) from exc
    if found is None:
        raise _family_error(family)
    if not found.specs:
        raise ScaffoldError(
            f"family {family!r}: its hookspecs module {found.module!r} defines no hookspec",
            field="family",
            value=family,
        )
    owner = found.dist_name or family
    names = [name for name, _ in found.specs]
    return {
        "hook": ", ".join(names),
        "impls": _custom.impls_source(found).rstrip("\n"),
        "hook_names": ", ".join(repr(n) for n in names),
        "owner_dist": owner,
        "owner_module": found.module,
        "extra_deps": "\n    " + owner if found.dist_name else "",
        "owner_deps": f", {_toml_string(owner)}" if found.dist_name else "",
    }, "custom"


def create_plugin(
    name: str,
    *,
    family: str = "tools",
    directory: Path | str | None = None,
    description: str | None = None,
) -> Path:
    """Write a new plugin distribution named ``name`` into ``directory / name``.

    Args:
        name: the distribution name (``victor-word-count``); the module name is
            derived from it (``victor_word_count``) and the entry-point name
            drops a ``victor-`` prefix (``word-count``).
        family: the hook family the plugin implements: one of :data:`FAMILIES`, or a
            family an installed distribution defines through the entry-point group
            ``victor_core.hookspecs`` (the plugin then gets a stub per hook).
        directory: the parent folder (default: the current directory).
        description: one line for the package metadata and README.

    Returns:
        The new project's folder.

    Raises:
        ScaffoldError: a bad name, family or description, or the folder exists
            (nothing is ever overwritten).
    """
    module = validate_name(name)
    if not isinstance(family, str) or not family:
        raise _family_error(family)
    family_values, template_dir = _family_values(family)
    desc = _check_description(
        description if description is not None else f"A victor-core plugin of the {family} family."
    )
    parent = Path.cwd() if directory is None else Path(directory)
    target = _check_target(parent, name)
    version, requirement = _core_versions()
    values = {
        "dist_name": name,
        "module": module,
        "ep_name": _entry_point_name(name),
        "family": family,
        "group": f"victor_core.{family}",
        "description": desc.replace("\\", "\\\\").replace('"""', "'''"),
        "description_toml": _toml_string(desc),
        "core_version": version,
        "core_requirement": requirement,
        "core_requirement_toml": _toml_string(requirement),
        "underline": "=" * len(name),
        **family_values,
    }
    files = {
        "pyproject.toml": "common/pyproject.toml.tmpl",
        "README.md": "common/README.md.tmpl",
        "tox.ini": "common/tox.ini.tmpl",
        ".gitignore": "common/gitignore.tmpl",
        f"src/{module}/__init__.py": "common/init.py.tmpl",
        f"src/{module}/py.typed": None,
        f"src/{module}/plugin.py": f"{template_dir}/plugin.py.tmpl",
        "tests/test_plugin.py": f"{template_dir}/test_plugin.py.tmpl",
    }
    rendered = {path: "" if tmpl is None else _render(tmpl, values) for path, tmpl in files.items()}
    _write(parent, target, rendered)
    return target


def _exists_error(target: Path) -> ScaffoldError:
    return ScaffoldError(
        f"directory {str(target)!r} already exists; choose another name or --directory "
        "(victor plugin new never overwrites anything)",
        field="directory",
        value=str(target),
    )


def _check_target(parent: Path, name: str) -> Path:
    """``parent / name``, which must not exist, in a ``parent`` that is a folder if it exists."""
    target = parent / name
    if target.exists() or target.is_symlink():
        raise _exists_error(target)
    if parent.exists() and not parent.is_dir():
        raise ScaffoldError(
            f"directory must be a folder (got {str(parent)!r}, which is a file)",
            field="directory",
            value=str(parent),
        )
    return target


def _write(parent: Path, target: Path, rendered: dict[str, str]) -> None:
    """Create ``target`` (exclusively) and write the rendered files into it."""
    # Create the folder exclusively: if it appeared since the check, fail rather
    # than write into someone else's files.
    parent.mkdir(parents=True, exist_ok=True)
    try:
        target.mkdir()
    except FileExistsError:
        raise _exists_error(target) from None
    for rel, text in rendered.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _render(template: str, values: dict[str, str]) -> str:
    text = (_TEMPLATES / template).read_text(encoding="utf-8")
    return Template(text).substitute(values)
