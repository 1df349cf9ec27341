"""Tools that run a program in the workspace: the test suite and git."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

from victor_core.exceptions import ToolError, ToolTimeoutError

from victor_workspace_tools._workspace import Workspace

__all__ = [
    "FailingTestsError",
    "git_log",
    "git_status",
    "parse_pytest_summary",
    "run_pytest",
    "run_tests",
]


class FailingTestsError(ToolError):
    """A test run that failed, could not run, or found no tests where there are some.

    ``result`` holds the run's parsed output (counts, failures, output tail).
    """

    def __init__(self, message: str, *, result: dict[str, Any]) -> None:
        super().__init__(message, tool="run_tests")
        self.result = result


_COUNT = re.compile(
    r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|warnings?|deselected|no tests ran)"
)
_FAILED = re.compile(r"^(FAILED|ERROR) (\S+)(?: - (.*))?$")
_TAIL_LINES = 30
_GIT_TIMEOUT = 20.0
_LOG_FORMAT = "%h%x09%an%x09%ad%x09%s"


def parse_pytest_summary(output: str) -> dict[str, Any]:
    """Counts and failing test ids from pytest's terminal output.

    Returns:
        ``passed``, ``failed``, ``errors``, ``skipped``, ``xfailed``, ``xpassed``,
        ``warnings``, ``deselected`` (ints), ``failures`` (``id``, ``message``),
        ``summary_line`` (the last summary line, or "").
    """
    counts = dict.fromkeys(
        ("passed", "failed", "errors", "skipped", "xfailed", "xpassed", "warnings", "deselected"),
        0,
    )
    summary_line = ""
    for line in reversed(output.splitlines()):
        text = line.strip().strip("=").strip()
        if _COUNT.search(text) and (" in " in text or text.startswith("no tests ran")):
            summary_line = text
            break
    for number, word in _COUNT.findall(summary_line):
        key = {"error": "errors", "warning": "warnings"}.get(word, word)
        if key in counts:
            counts[key] = int(number)
    failures = []
    for line in output.splitlines():
        match = _FAILED.match(line.strip())
        if match:
            failures.append({"id": match.group(2), "message": (match.group(3) or "").strip()})
    return {**counts, "failures": failures, "summary_line": summary_line}


def run_tests(
    path: str = ".",
    file: str | None = None,
    *,
    timeout: float = 120.0,
    args: list[str] | None = None,
) -> dict[str, Any]:
    """Run the project's tests with pytest; a run that does not pass is an error.

    Args and the result: as :func:`run_pytest`, which returns whatever happened.

    Raises:
        FailingTestsError: tests failed, pytest is missing or crashed, or no
            test was collected in a workspace that has test files.
        ToolTimeoutError: the run took longer than ``timeout``.
    """
    result = run_pytest(path, file, timeout=timeout, args=args)
    if result["timed_out"]:
        raise ToolTimeoutError(result["summary"], tool="run_tests")
    if result["success"]:
        return result
    details = "; ".join(result["highlights"][:5])
    if result.get("pytest_missing"):
        message = f"pytest is not installed for {sys.executable}: install it to run the tests"
    elif result["exit_code"] == 5:
        if not _has_test_files(Workspace(path)):
            result["summary"] = "no tests: the workspace has no test files"
            return result
        message = "no tests were collected, but the workspace has test files"
    else:
        message = result["summary"]
    raise FailingTestsError(
        f"run_tests: {message}" + (f" ({details})" if details else ""), result=result
    )


def _has_test_files(ws: Workspace) -> bool:
    for n, file in enumerate(ws.walk()):
        name = file.name
        if file.suffix == ".py" and (name.startswith("test_") or name.endswith("_test.py")):
            return True
        if n > 20_000:
            break
    return False


def run_pytest(
    path: str = ".",
    file: str | None = None,
    *,
    timeout: float = 120.0,
    args: list[str] | None = None,
) -> dict[str, Any]:
    """Run the project's tests with pytest in a subprocess and parse the summary.

    Args:
        path: the workspace root (the tests run there).
        file: a test file, directory or node id inside the workspace (default:
            pytest's own discovery).
        timeout: seconds before the run is stopped and reported as timed out.
        args: extra pytest arguments (``["-k", "slow"]``).

    Returns:
        ``passed``, ``failed``, ``errors``, ``skipped`` ..., ``failures``,
        ``exit_code``, ``timed_out``, ``success``, ``output_tail``, ``summary``.
    """
    ws = Workspace(path)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if file:
        node = file.split("::", 1)
        ws.resolve(node[0])  # confine and check the target before running anything
        command.append(file)
    command.extend(args or [])
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # A calling pytest's options must not leak into the project's run.
    for var in ("PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER"):
        env.pop(var, None)
    try:
        proc = subprocess.run(
            command,
            cwd=ws.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        return {
            **parse_pytest_summary(output),
            "exit_code": None,
            "timed_out": True,
            "success": False,
            "output_tail": output.splitlines()[-_TAIL_LINES:],
            "summary": f"tests timed out after {timeout:g} s",
            "highlights": [f"the test run was stopped after {timeout:g} s"],
        }
    output = proc.stdout + proc.stderr
    parsed = parse_pytest_summary(output)
    missing = proc.returncode != 0 and "No module named pytest" in output
    if missing:
        summary = "pytest is not installed"
    elif proc.returncode == 5:
        summary = "no tests were collected"
    elif parsed["summary_line"]:
        summary = f"tests: {parsed['summary_line']}"
    else:
        summary = f"pytest exited with code {proc.returncode}"
    highlights = [f"{f['id']} {f['message']}".strip() for f in parsed["failures"][:10]]
    if not parsed["summary_line"] and proc.returncode not in (0, 5):
        highlights += [line for line in output.splitlines()[-5:] if line.strip()]
    return {
        **parsed,
        "exit_code": proc.returncode,
        "timed_out": False,
        "success": proc.returncode == 0,
        "pytest_missing": missing,
        "output_tail": output.splitlines()[-_TAIL_LINES:],
        "summary": summary,
        "highlights": highlights,
    }


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data


def _git(ws: Workspace, *argv: str) -> subprocess.CompletedProcess[str] | dict[str, Any]:
    """Run git in the workspace, or a result dict saying why it cannot run."""
    import shutil  # with its archive modules, only when git is first asked for

    git = shutil.which("git")
    if git is None:
        return {
            "available": False,
            "repository": False,
            "summary": "git is not installed; no repository information",
            "highlights": [],
        }
    probe = subprocess.run(
        [git, "-C", str(ws.root), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        timeout=_GIT_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if probe.returncode != 0 or probe.stdout.strip() != "true":
        return {
            "available": True,
            "repository": False,
            "summary": f"{ws.root} is not a git repository",
            "highlights": [],
        }
    return subprocess.run(
        [git, "-C", str(ws.root), *argv],
        capture_output=True,
        text=True,
        timeout=_GIT_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def git_status(path: str = ".") -> dict[str, Any]:
    """The branch and changed files of the workspace's git repository.

    Args:
        path: the workspace root.

    Returns:
        ``repository`` (False when not a repository or git is missing),
        ``branch``, ``changes`` (each ``status``, ``file``), ``clean``, ``summary``.
    """
    ws = Workspace(path)
    proc = _git(ws, "status", "--porcelain=v1", "--branch", "--untracked-files=all")
    if isinstance(proc, dict):
        return proc
    if proc.returncode != 0:
        return {
            "available": True,
            "repository": True,
            "error": proc.stderr.strip(),
            "summary": f"git status failed: {proc.stderr.strip()}",
            "highlights": [],
        }
    branch = ""
    changes = []
    for line in proc.stdout.splitlines():
        if line.startswith("## "):
            branch = line[3:].split("...")[0]
            branch = branch.replace("No commits yet on ", "")
            continue
        if len(line) > 3:
            changes.append({"status": line[:2].strip() or "?", "file": line[3:]})
    return {
        "available": True,
        "repository": True,
        "branch": branch,
        "changes": changes,
        "clean": not changes,
        "summary": f"branch {branch or '?'}: "
        + ("working tree clean" if not changes else f"{len(changes)} changed files"),
        "highlights": [f"{c['status']} {c['file']}" for c in changes[:10]],
    }


def git_log(path: str = ".", limit: int = 10) -> dict[str, Any]:
    """Recent commits of the workspace's git repository.

    Args:
        path: the workspace root.
        limit: most commits returned.

    Returns:
        ``repository``, ``commits`` (each ``hash``, ``author``, ``date``, ``subject``), ``summary``.
    """
    ws = Workspace(path)
    proc = _git(
        ws, "log", f"-n{max(1, int(limit))}", "--date=short", f"--pretty=format:{_LOG_FORMAT}"
    )
    if isinstance(proc, dict):
        return proc
    if proc.returncode != 0:
        # A repository without commits yet is not an error for a reader.
        message = proc.stderr.strip()
        return {
            "available": True,
            "repository": True,
            "commits": [],
            "error": message,
            "summary": "no commits yet" if "does not have any commits" in message else message,
            "highlights": [],
        }
    commits = []
    for line in proc.stdout.splitlines():
        parts = line.split("\t", 3)
        if len(parts) == 4:
            commits.append(
                {"hash": parts[0], "author": parts[1], "date": parts[2], "subject": parts[3]}
            )
    return {
        "available": True,
        "repository": True,
        "commits": commits,
        "summary": f"{len(commits)} recent commits"
        + (f", latest {commits[0]['date']}: {commits[0]['subject']}" if commits else ""),
        "highlights": [f"{c['hash']} {c['date']} {c['subject']}" for c in commits[:10]],
    }
