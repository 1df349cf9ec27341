"""configure_logging (command line only) and the library's structured logging."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from victor_core._log import get_logger
from victor_core.cli._logging import configure_logging


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    yield
    structlog.reset_defaults()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_for_non_terminals() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    get_logger().warning("cache_degraded", cache="response", reason="locked")
    record = json.loads(out.getvalue())
    assert record["event"] == "cache_degraded"
    assert record["cache"] == "response"
    assert record["level"] == "warning"
    assert "timestamp" in record


def test_console_for_terminals() -> None:
    out = Terminal()
    configure_logging(stream=out)
    get_logger().warning("plugin_failed", plugin="broken")
    text = out.getvalue()
    assert "plugin_failed" in text
    assert "plugin" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


def test_explicit_format_wins() -> None:
    out = Terminal()
    configure_logging("json", stream=out)
    get_logger().warning("x")
    assert json.loads(out.getvalue())["event"] == "x"


@pytest.mark.parametrize(
    ("verbosity", "shown"), [(0, {"w"}), (1, {"w", "i"}), (5, {"w", "i", "d"})]
)
def test_verbosity_levels(verbosity: int, shown: set[str]) -> None:
    out = io.StringIO()
    configure_logging("json", verbosity, stream=out)
    log = get_logger()
    log.debug("d")
    log.info("i")
    log.warning("w")
    events = {json.loads(line)["event"] for line in out.getvalue().splitlines()}
    assert events == shown


def test_bad_format_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"log format must be one of \['console', 'json'\]"):
        configure_logging("xml")


def test_library_logs_are_capturable() -> None:
    with capture_logs() as logs:
        get_logger().warning("high_latency", avg_latency_ms=3000.0)
    assert logs == [{"event": "high_latency", "log_level": "warning", "avg_latency_ms": 3000.0}]


def test_importing_the_library_configures_nothing() -> None:
    code = (
        "import structlog, victor_core, victor_core.metrics, victor_core.health;"
        "print(structlog.is_configured())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_cli_logs_go_to_stderr_as_json_when_piped() -> None:
    code = (
        "from victor_core.cli._logging import configure_logging;"
        "from victor_core._log import get_logger;"
        "configure_logging(); get_logger().warning('piped', n=1)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout == ""
    assert json.loads(proc.stderr)["event"] == "piped"


_HOOKED = """
import json, sys
from victor_core import _log
from victor_core.cli._logging import configure_logging

_log.configure_on_first_use(lambda: configure_logging("json"))
assert "structlog" not in sys.modules, "structlog imported before anyone used it"
{body}
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )


def _run_hooked(body: str) -> subprocess.CompletedProcess[str]:
    return _python(_HOOKED.format(body=body))


def test_a_plugin_importing_structlog_gets_the_cli_configuration() -> None:
    # A plugin logs through structlog directly: its line goes to stderr as
    # JSON, never to stdout (where --json output goes), and the module keeps
    # its real loader.
    proc = _run_hooked(
        "import structlog\n"
        "structlog.get_logger('plugin').warning('from_plugin', n=2)\n"
        "print(type(structlog.__loader__).__name__, type(structlog.__spec__.loader).__name__)\n"
        "print(any(type(f).__name__ == '_ConfigureOnImport' for f in sys.meta_path))\n"
    )
    assert proc.stdout.split() == ["SourceFileLoader", "SourceFileLoader", "False"]
    assert json.loads(proc.stderr)["event"] == "from_plugin"


def test_the_library_logger_configures_on_first_use() -> None:
    proc = _run_hooked("_log.get_logger().warning('from_library')\n")
    assert proc.stdout == ""
    assert json.loads(proc.stderr)["event"] == "from_library"


def test_cancelling_the_configuration_leaves_structlog_alone() -> None:
    proc = _run_hooked(
        "_log.configure_on_first_use(None)\nimport structlog\nprint(structlog.is_configured())\n"
    )
    assert proc.stdout.strip() == "False"


def test_structlog_imported_already_is_configured_at_once() -> None:
    code = (
        "import structlog\n"
        "from victor_core import _log\n"
        "from victor_core.cli._logging import configure_logging\n"
        "_log.configure_on_first_use(lambda: configure_logging('json'))\n"
        "print(structlog.is_configured())\n"
    )
    assert _python(code).stdout.strip() == "True"
