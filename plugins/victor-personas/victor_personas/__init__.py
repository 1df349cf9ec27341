"""victor-personas: reviewer, explainer, tester and assistant personas for victor-core."""

from __future__ import annotations

from victor_personas.plugin import PERSONAS, victor_personas

__all__ = ["PERSONAS", "victor_personas"]
