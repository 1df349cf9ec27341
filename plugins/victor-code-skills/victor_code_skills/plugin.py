"""The ``victor_core.skills`` hook implementation of victor-code-skills."""

from __future__ import annotations

from victor_core import hookimpl
from victor_core.models import Skill

from victor_code_skills._skills import check_test_health, code_review, repo_overview

__all__ = ["victor_skills"]


@hookimpl
def victor_skills() -> list[Skill]:
    """The code skills."""
    return [
        Skill(
            name="code_review",
            description=(
                "Review the code: find complex and long functions, TODO and FIXME comments, "
                "syntax errors and uncommitted changes, and rank the findings by severity."
            ),
            func=code_review,
            tools=("analyze_code", "search_code", "git_status"),
            tags=("review", "quality"),
        ),
        Skill(
            name="test_health",
            description=(
                "Check the health of the test suite: run the tests, count failures, "
                "compare the size of the tests with the code, and give a verdict."
            ),
            func=check_test_health,
            tools=("run_tests", "list_files", "count_lines"),
            tags=("tests", "quality"),
        ),
        Skill(
            name="repo_overview",
            description=(
                "Give an overview of the repository: summarise its architecture and structure, "
                "languages, size, layout of files and folders, and recent commit activity."
            ),
            func=repo_overview,
            tools=("list_files", "count_lines", "git_log"),
            tags=("overview", "explain"),
        ),
    ]
