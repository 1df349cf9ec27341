"""victor-workspace-tools: victor-core tools for working on a code repository.

The tool functions are importable and usable on their own; the
``victor_core.tools`` entry point (:mod:`victor_workspace_tools.plugin`)
offers them to victor-core as :class:`victor_core.Tool` objects.
"""

from __future__ import annotations

from victor_workspace_tools._analysis import analyze_code, analyze_source
from victor_workspace_tools._files import count_lines, list_files, read_file, search_code
from victor_workspace_tools._process import (
    FailingTestsError,
    git_log,
    git_status,
    parse_pytest_summary,
    run_pytest,
    run_tests,
)
from victor_workspace_tools._workspace import GitIgnore, Workspace, WorkspacePathError

__all__ = [
    "FailingTestsError",
    "GitIgnore",
    "Workspace",
    "WorkspacePathError",
    "analyze_code",
    "analyze_source",
    "count_lines",
    "git_log",
    "git_status",
    "list_files",
    "parse_pytest_summary",
    "read_file",
    "run_pytest",
    "run_tests",
    "search_code",
]
