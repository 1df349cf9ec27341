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

# SettingTypeError and UnknownSettingError live in the one exception tree; they
# are re-exported here, where they were first defined, so old imports keep working.
from victor_core.exceptions import SettingTypeError, UnknownSettingError
from victor_core.settings._context import (
    active_settings,
    bind_settings,
    settings_bound,
    unbind_settings,
)
from victor_core.settings._fields import docs_url
from victor_core.settings._settings import PROFILES, Settings
from victor_core.settings._sources import (
    ENV_PREFIX,
    SettingSource,
    SettingsWarning,
    find_config_file,
    user_config_file,
)

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
