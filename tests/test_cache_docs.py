"""The Python examples of docs/caching.md run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

_DOC = Path(__file__).resolve().parent.parent / "docs" / "caching.md"
_BLOCKS = re.findall(r"```python\n(.*?)```", _DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_doc_has_examples() -> None:
    assert len(_BLOCKS) >= 4


@pytest.mark.parametrize("code", _BLOCKS, ids=[f"block{i}" for i in range(len(_BLOCKS))])
def test_example_runs(code: str, tmp_path: Path) -> None:
    # A subprocess: each example starts from a clean interpreter, as a reader's would.
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_DATA_HOME": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
