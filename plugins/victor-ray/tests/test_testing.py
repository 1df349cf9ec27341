"""victor_ray.testing: the session fixture skips or fails when Ray cannot start."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from victor_ray.testing import RayInstance


def test_a_failed_start_says_why_and_restores_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    instance = RayInstance(not_a_folder)
    with pytest.raises(RuntimeError, match=r"a local Ray instance did not start: .*File exists"):
        instance.start()
    assert "RAY_AUTH_MODE" not in os.environ


def _run_fixture(tmp_path: Path, require: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """
            from victor_ray import testing
            from victor_ray.testing import ray_instance

            def _cannot_start(self):
                raise RuntimeError("a local Ray instance did not start: no luck")

            testing.RayInstance.start = _cannot_start
            """
        )
    )
    (tmp_path / "test_uses_ray.py").write_text("def test_it(ray_instance):\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "VICTOR_REQUIRE_SERVERS"}
    if require is not None:
        env["VICTOR_REQUIRE_SERVERS"] = require
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsE", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=False,
    )


def test_the_fixture_skips_with_the_reason_when_ray_cannot_start(tmp_path: Path) -> None:
    out = _run_fixture(tmp_path, None)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 skipped" in out.stdout
    assert "a local Ray instance did not start: no luck" in out.stdout


def test_the_fixture_fails_when_servers_are_required(tmp_path: Path) -> None:
    out = _run_fixture(tmp_path, "1")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 error" in out.stdout
    assert "a local Ray instance did not start: no luck" in out.stdout


def test_the_public_names_are_exported() -> None:
    import victor_ray
    import victor_ray.backend
    import victor_ray.testing

    for module in (victor_ray, victor_ray.backend, victor_ray.testing):
        assert module.__all__ == sorted(module.__all__)
        assert all(hasattr(module, name) for name in module.__all__)
    assert victor_ray.BACKEND_NAME == "ray"
