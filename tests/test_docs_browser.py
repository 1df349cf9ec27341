"""The documentation site in headless Chromium (``.ci/docs-screenshots``), when installed.

Skipped without Chromium or MkDocs; the script itself checks every page (see
its docstring), this test a few pages with the widest tables and code.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "docs-screenshots"

pytestmark = [
    pytest.mark.skipif(
        not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
        reason="no Chromium installed (apt-get install chromium)",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("pymdownx") is None,
        reason="mkdocs and pymdown-extensions are not installed",
    ),
]


def test_pages_fit_and_code_is_highlighted_offline(tmp_path: Path) -> None:
    command = [sys.executable, str(SCRIPT), "--no-screenshots", "--out", str(tmp_path)]
    command += ["--pages", "index,getting-started,agent,configuration", "--widths", "1280,800"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "all pages pass" in done.stdout
