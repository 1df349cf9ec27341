"""The pluggy markers of project ``victor_core``."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "victor_core"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
