"""Tests of the bundled personas."""

from __future__ import annotations

from victor_core.models import Persona

from victor_personas import PERSONAS, victor_personas


def test_personas_are_valid_and_distinct() -> None:
    personas = victor_personas()
    assert [p.name for p in personas] == list(PERSONAS)
    assert all(isinstance(p, Persona) for p in personas)
    styles = {p.name: p.style for p in personas}
    assert styles["explainer"] == "detailed"
    assert styles["reviewer"] == "bullet"
    assert len({tuple(sorted(p.tool_preferences.items())) for p in personas}) == len(personas)


def test_preferences_point_the_right_way() -> None:
    by_name = {p.name: p for p in victor_personas()}
    assert by_name["tester"].tool_preferences["run_tests"] > 1
    assert by_name["reviewer"].tool_preferences["analyze_code"] > 1
    assert by_name["reviewer"].tool_preferences["run_tests"] < 1
    assert by_name["explainer"].tool_preferences["read_file"] > 1
    assert all(p.system_prompt for p in by_name.values())
