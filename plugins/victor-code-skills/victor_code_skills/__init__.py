"""victor-code-skills: skills for code repositories, composed of the workspace tools."""

from __future__ import annotations

from victor_code_skills._skills import check_test_health, code_review, repo_overview

__all__ = ["check_test_health", "code_review", "repo_overview"]
