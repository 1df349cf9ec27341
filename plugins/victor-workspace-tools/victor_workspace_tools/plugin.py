"""The ``victor_core.tools`` hook implementation of victor-workspace-tools.

Descriptions are written for tool selection, which ranks tools by how close a
query is to their description: each one says what the tool does in the words
a user would use to ask for it.
"""

from __future__ import annotations

from victor_core import hookimpl
from victor_core.models import Tool

from victor_workspace_tools._analysis import analyze_code
from victor_workspace_tools._files import count_lines, list_files, read_file, search_code
from victor_workspace_tools._process import git_log, git_status, run_tests

__all__ = ["TOOLS", "victor_tools"]


def _tools() -> list[Tool]:
    return [
        Tool(
            name="list_files",
            description=(
                "List the files of the project workspace: directory tree, repository "
                "structure and layout, which files and folders exist; respects .gitignore."
            ),
            func=list_files,
            tags=("workspace", "filesystem", "read-only", "produces:files"),
        ),
        Tool(
            name="read_file",
            description=(
                "Read and show the contents of a file: open a source file, view its text "
                "or a range of lines to explain or inspect the code."
            ),
            func=read_file,
            tags=("workspace", "filesystem", "read-only", "consumes:files"),
        ),
        Tool(
            name="search_code",
            description=(
                "Search the code for a pattern: grep with a regular expression, find "
                "occurrences, usages, TODO or FIXME comments and text in files, with "
                "surrounding context lines."
            ),
            func=search_code,
            tags=("workspace", "search", "read-only", "produces:files"),
        ),
        Tool(
            name="analyze_code",
            description=(
                "Analyse and review Python code quality: classes and function definitions, "
                "cyclomatic complexity, long functions, TODO comments, syntax errors; "
                "static code analysis for a code review."
            ),
            func=analyze_code,
            tags=("workspace", "analysis", "python", "read-only"),
        ),
        Tool(
            name="run_tests",
            description=(
                "Run the project's test suite with pytest and report test results: how "
                "many tests pass or fail, failing tests, errors, test health."
            ),
            func=run_tests,
            tags=("workspace", "tests", "executes"),
            timeout=600.0,
            effects=("run",),
        ),
        Tool(
            name="git_status",
            description=(
                "Show git status of the repository: current branch, changed, modified, "
                "staged and untracked files, uncommitted changes."
            ),
            func=git_status,
            tags=("workspace", "git", "read-only", "produces:files"),
        ),
        Tool(
            name="git_log",
            description=(
                "Show the git log: recent commits, commit history, history of changes, "
                "authors and dates of the repository."
            ),
            func=git_log,
            tags=("workspace", "git", "read-only"),
        ),
        Tool(
            name="count_lines",
            description=(
                "Count lines of code by language: size of the codebase, how many lines "
                "and files per programming language, code statistics."
            ),
            func=count_lines,
            tags=("workspace", "statistics", "read-only"),
        ),
    ]


#: Names of the tools this plugin provides.
TOOLS = (
    "list_files",
    "read_file",
    "search_code",
    "analyze_code",
    "run_tests",
    "git_status",
    "git_log",
    "count_lines",
)


@hookimpl
def victor_tools() -> list[Tool]:
    """The workspace tools."""
    return _tools()
