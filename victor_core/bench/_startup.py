"""Start-up benchmark: what constructing an orchestrator costs, in fresh interpreters.

Setup: ``PLUGINS`` synthetic plugin distributions (real ``*.dist-info``
folders with ``METADATA`` and ``entry_points.txt``, spread over the six
families) on a temporary folder put on ``PYTHONPATH``. Each plugin module does
real work when imported (it hashes ``PLUGIN_WORK`` strings and keeps the
table, about 10 ms and 2 MB on a 2020s laptop core), as a plugin importing a
mid-sized dependency would. A second folder holds ``MANY`` unrelated
distributions, to show that warm discovery does not grow with what is
installed.

Each round starts one fresh interpreter per variant, in a rotating order, and
the figures are medians over the rounds:

- ``bare``: ``python -c pass``;
- ``floor``: ``python -c "import pluggy, attrs"``, what any design built on these
  dependencies pays;
- ``lazy``: ``AgentOrchestrator(settings)`` with the default (lazy) settings;
- ``eager``: the same with ``lazy_loading_enabled=False`` (every plugin imported);
- ``first_dispatch``: lazy construction, then the first ``hook.victor_tools()``
  (which imports the tools family only);
- ``discover_0`` / ``discover_many``: a plugin manager listing its plugins with a
  warm discovery index, without and with ``MANY`` extra distributions;
- ``cold_many``: the same listing without an index (a full metadata scan);
- ``cli_<command>`` for each of :data:`CLI_COMMANDS` (``victor --version``,
  ``victor plugins list``, ``victor config``, ``victor hooks``): the command
  run as the ``victor`` script runs it (``victor_core.cli.main``), its output
  discarded, against ``orchestrator``: ``AgentOrchestrator()`` with the
  default settings, both with the plugin distributions installed, the same
  ``VICTOR_CACHE_DIR`` and so the same warm discovery index. The ratios
  ``cli_<command>_vs_orchestrator`` compare their process times;
  ``plugins list`` is meant to stay within :data:`CLI_TARGET` of construction.

Process times are wall-clock from spawning the interpreter to its exit, as
the parent sees them; in-process times are measured inside the child.
"""

from __future__ import annotations

import ast
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from victor_core.exceptions import BenchmarkError

#: Interleaved rounds by default (each round starts nine interpreters).
DEFAULT_ITERATIONS = 7
PLUGINS = 40
PLUGIN_WORK = 10_000
MANY = 1000
#: The commands timed against an orchestrator's construction, by report name.
CLI_COMMANDS: dict[str, tuple[str, ...]] = {
    "version": ("--version",),
    "plugins_list": ("plugins", "list"),
    "config": ("config",),
    "hooks": ("hooks",),
}
#: ``victor plugins list`` should start within this factor of ``AgentOrchestrator()``.
CLI_TARGET = 1.2

_FAMILIES = {
    "tools": "def victor_tools():\n    return []\n",
    "skills": "def victor_skills():\n    return []\n",
    "personas": "def victor_personas():\n    return []\n",
    "planning": "def victor_plan(goal, context):\n    return None\n",
    "memory": "def victor_memory_backend(settings):\n    return None\n",
    "providers": "def victor_providers():\n    return []\n",
}

_PLUGIN_SOURCE = '''"""Synthetic victor-core plugin {index} ({family}), written by victor bench."""

import hashlib

from victor_core import hookimpl

# Import-time work, as a plugin that builds tables or imports a dependency does.
TABLE = [hashlib.sha256(b"%d:%d" % ({index}, n)).hexdigest() for n in range({work})]


@hookimpl
{impl}'''

# The children print one Python tuple literal; importing json there would be
# measured too.
_ORCHESTRATOR = """
import time
t0 = time.perf_counter()
from victor_core import AgentOrchestrator, Settings
t1 = time.perf_counter()
orchestrator = AgentOrchestrator(Settings(cache_dir={cache!r}, data_dir={data!r}{extra}))
t2 = time.perf_counter()
dispatch = 0.0
if {dispatch}:
    orchestrator.plugin_manager.hook.victor_tools()
    dispatch = time.perf_counter() - t2
import resource, sys
plugins = sum(1 for m in sys.modules if m.startswith("victor_bench_plugin_"))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    # VmHWM: this process's own peak (KiB). On Linux ru_maxrss also keeps the
    # peak of the parent the child was forked from: a big bench process made
    # small children look big.
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration, ValueError):
    pass
print((t1 - t0, t2 - t1, dispatch, peak, plugins, len(sys.modules)))
"""

_DISCOVER = """
import time
t0 = time.perf_counter()
from victor_core.plugins._manager import PluginManager
from victor_core.settings import Settings
t1 = time.perf_counter()
manager = PluginManager(Settings(cache_dir={cache!r}, data_dir={data!r}){index})
listed = len(manager.list_plugins())
t2 = time.perf_counter()
discovery = getattr(manager, "_discovery", None)
print((t1 - t0, t2 - t1, listed, getattr(discovery, "scanned", None)))
"""


# The CLI children discard the command's output (printing is not start-up)
# and print its exit code; ``--version`` ends with SystemExit, as in the script.
_CLI = """
import os, sys
sys.stdout = open(os.devnull, "w")
from victor_core.cli import main
try:
    code = main({argv!r})
except SystemExit as exc:
    code = exc.code or 0
sys.stdout = sys.__stdout__
print(code)
"""

_CONSTRUCT = """
from victor_core import AgentOrchestrator
AgentOrchestrator()
"""


def _write_dist(site: Path, name: str, groups: dict[str, dict[str, str]]) -> None:
    from victor_core.plugins._distributions import make_distribution

    make_distribution(site, name, groups)


def make_plugin_site(site: Path, count: int = PLUGINS, work: int = PLUGIN_WORK) -> None:
    """Write ``count`` plugin distributions (spread over the families) into ``site``."""
    families = list(_FAMILIES)
    for index in range(count):
        family = families[index % len(families)]
        module = f"victor_bench_plugin_{index}"
        (site / f"{module}.py").parent.mkdir(parents=True, exist_ok=True)
        (site / f"{module}.py").write_text(
            _PLUGIN_SOURCE.format(index=index, family=family, work=work, impl=_FAMILIES[family]),
            encoding="utf-8",
        )
        _write_dist(
            site,
            f"victor-bench-plugin-{index}",
            {f"victor_core.{family}": {f"bench-{index}": module}},
        )


def make_crowded_site(site: Path, count: int = MANY) -> None:
    """Write ``count`` distributions that have nothing to do with victor-core."""
    site.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        _write_dist(
            site,
            f"unrelated-dist-{index}",
            {"console_scripts": {f"unrelated-{index}": f"unrelated_{index}.cli:main"}},
        )


def _env(site: Path) -> dict[str, str]:
    env = dict(os.environ)
    # Installed plugins have their bytecode cached; so do ours after the warm-up run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONSTARTUP", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    previous = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(site) + (os.pathsep + previous if previous else "")
    return env


def _children_cpu() -> float:
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _spawn(code: str, env: dict[str, str], cwd: Path) -> tuple[float, float, Any]:
    """Run ``python -c code``; return its wall time, its CPU time and what it printed.

    The CPU time (user + system, of the child alone) barely moves when other
    processes compete for the machine, where the wall time does.
    """
    # cwd is on sys.path (as ''): a quiet, empty one keeps the runs comparable.
    cpu = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchmarkError(f"start-up child process failed: {tail}", group="startup")
    out = proc.stdout.strip()
    return wall, cpu, ast.literal_eval(out) if out else None


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000.0


def run(iterations: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Measure start-up over ``iterations`` interleaved rounds (see the module docstring)."""
    rounds = max(1, iterations)
    root = Path(tempfile.mkdtemp(prefix="victor-bench-startup-"))
    try:
        return _run(root, rounds, progress)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(root: Path, rounds: int, progress: Callable[[str], None]) -> dict[str, Any]:
    progress(f"writing {PLUGINS} plugin distributions and {MANY} unrelated ones")
    plugins, crowded, empty = root / "plugins", root / "crowded", root / "empty"
    plugins.mkdir()
    empty.mkdir()
    make_plugin_site(plugins, PLUGINS, PLUGIN_WORK)
    make_crowded_site(crowded, MANY)

    def orchestrator(tag: str, *, eager: bool = False, dispatch: bool = False) -> str:
        return _ORCHESTRATOR.format(
            cache=str(root / f"cache-{tag}"),
            data=str(root / f"data-{tag}"),
            extra=", lazy_loading_enabled=False" if eager else "",
            dispatch=dispatch,
        )

    def discover(tag: str, *, index: bool = True) -> str:
        return _DISCOVER.format(
            cache=str(root / f"cache-{tag}"),
            data=str(root / f"data-{tag}"),
            index="" if index else ", index_path=None",
        )

    plugin_env, empty_env, crowded_env = _env(plugins), _env(empty), _env(crowded)
    cli_env = {
        **plugin_env,
        "VICTOR_CACHE_DIR": str(root / "cache-cli"),
        "VICTOR_DATA_DIR": str(root / "data-cli"),
    }
    for name in [n for n in cli_env if n.startswith("VICTOR_")]:
        if name not in ("VICTOR_CACHE_DIR", "VICTOR_DATA_DIR"):
            del cli_env[name]  # the user's own settings would change what runs
    variants: dict[str, tuple[str, dict[str, str]]] = {
        "bare": ("pass", plugin_env),
        "floor": ("import pluggy, attrs", plugin_env),
        "lazy": (orchestrator("lazy"), plugin_env),
        "eager": (orchestrator("eager", eager=True), plugin_env),
        "first_dispatch": (orchestrator("first", dispatch=True), plugin_env),
        "discover_0": (discover("empty"), empty_env),
        "discover_many": (discover("crowded"), crowded_env),
        "cold_many": (discover("cold", index=False), crowded_env),
        "orchestrator": (_CONSTRUCT, cli_env),
        **{
            f"cli_{name}": (_CLI.format(argv=list(argv)), cli_env)
            for name, argv in CLI_COMMANDS.items()
        },
    }
    progress("warming up (bytecode and discovery indexes)")
    for code, env in variants.values():
        _spawn(code, env, empty)
    walls: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    inner: dict[str, list[Any]] = {name: [] for name in variants}
    names = list(variants)
    for round_no in range(rounds):
        progress(f"round {round_no + 1}/{rounds}")
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            code, env = variants[name]
            wall, cpu, out = _spawn(code, env, empty)
            walls[name].append(wall)
            cpus[name].append(cpu)
            inner[name].append(out)
    for name, argv in CLI_COMMANDS.items():
        codes = {code for code in inner[f"cli_{name}"] if code != 0}
        if codes:
            raise BenchmarkError(
                f"victor {' '.join(argv)} exited with {sorted(codes)!r}",
                group="startup",
            )
    return _report(rounds, walls, cpus, inner)


def _col(rows: list[Any], i: int) -> list[float]:
    return [float(row[i]) for row in rows]


def _report(
    rounds: int,
    walls: dict[str, list[float]],
    cpus: dict[str, list[float]],
    inner: dict[str, list[Any]],
) -> dict[str, Any]:
    cli_names = ["orchestrator", *(f"cli_{name}" for name in CLI_COMMANDS)]
    cli_wall = {name: _median_ms(walls.pop(name)) for name in cli_names}
    cli_cpu = {name: _median_ms(cpus.pop(name)) for name in cli_names}
    wall = {name: _median_ms(values) for name, values in walls.items()}
    cpu = {name: _median_ms(values) for name, values in cpus.items()}
    lazy_in = _median_ms(
        [a + b for a, b in zip(_col(inner["lazy"], 0), _col(inner["lazy"], 1), strict=True)]
    )
    eager_in = _median_ms(
        [a + b for a, b in zip(_col(inner["eager"], 0), _col(inner["eager"], 1), strict=True)]
    )
    construct_lazy = _median_ms(_col(inner["lazy"], 1))
    construct_eager = _median_ms(_col(inner["eager"], 1))
    rss_lazy = statistics.median(_col(inner["lazy"], 3)) / 1024.0
    rss_eager = statistics.median(_col(inner["eager"], 3)) / 1024.0
    disc_0 = _median_ms(_col(inner["discover_0"], 1))
    disc_many = _median_ms(_col(inner["discover_many"], 1))
    cold_many = _median_ms(_col(inner["cold_many"], 1))
    first = _median_ms(_col(inner["first_dispatch"], 2))
    ratios = {
        "lazy_vs_floor": wall["lazy"] / wall["floor"],
        "eager_vs_lazy": wall["eager"] / wall["lazy"],
        "lazy_vs_bare": wall["lazy"] / wall["bare"],
        "floor_vs_bare": wall["floor"] / wall["bare"],
        "lazy_vs_floor_cpu": _ratio(cpu["lazy"], cpu["floor"]),
        "eager_vs_lazy_cpu": _ratio(cpu["eager"], cpu["lazy"]),
        "lazy_vs_bare_cpu": _ratio(cpu["lazy"], cpu["bare"]),
        "eager_vs_lazy_in_process": eager_in / lazy_in,
        "lazy_vs_eager_memory": rss_lazy / rss_eager,
        f"discovery_{MANY}_vs_0": disc_many / disc_0,
        f"discovery_{MANY}_vs_0_process": wall["discover_many"] / wall["discover_0"],
        "cold_vs_warm_discovery": cold_many / disc_many,
    }
    for name in CLI_COMMANDS:
        ratios[f"cli_{name}_vs_orchestrator"] = cli_wall[f"cli_{name}"] / cli_wall["orchestrator"]
        ratios[f"cli_{name}_vs_orchestrator_cpu"] = _ratio(
            cli_cpu[f"cli_{name}"], cli_cpu["orchestrator"]
        )
    details = {
        "rounds": rounds,
        "plugins": PLUGINS,
        "plugin_work_hashes": PLUGIN_WORK,
        "installed_distributions_many": MANY,
        "process_ms": wall,
        "process_cpu_ms": cpu,
        "lazy_import_and_construct_ms": lazy_in,
        "eager_import_and_construct_ms": eager_in,
        "lazy_construct_ms": construct_lazy,
        "eager_construct_ms": construct_eager,
        "plugin_import_ms_each": (wall["eager"] - wall["lazy"]) / PLUGINS,
        "first_dispatch_ms": first,
        "first_dispatch_plugins_imported": int(statistics.median(_col(inner["first_dispatch"], 4))),
        "lazy_plugins_imported": int(max(_col(inner["lazy"], 4))),
        "eager_plugins_imported": int(min(_col(inner["eager"], 4))),
        "lazy_modules_loaded": int(statistics.median(_col(inner["lazy"], 5))),
        "eager_modules_loaded": int(statistics.median(_col(inner["eager"], 5))),
        "rss_lazy_mb": rss_lazy,
        "rss_eager_mb": rss_eager,
        "warm_discovery_0_ms": disc_0,
        f"warm_discovery_{MANY}_ms": disc_many,
        f"cold_discovery_{MANY}_ms": cold_many,
        "warm_discovery_used_index": not any(row[3] for row in inner["discover_many"]),
        "plugins_listed": int(inner["discover_0"][0][2]) if inner["discover_0"] else None,
        "cli_process_ms": cli_wall,
        "cli_process_cpu_ms": cli_cpu,
        "cli_plugins_list_target": CLI_TARGET,
        "cli_plugins_list_within_target": (
            cli_wall["cli_plugins_list"] <= CLI_TARGET * cli_wall["orchestrator"]
        ),
    }
    return {
        "latency_ms": wall["lazy"],
        "throughput": 1000.0 / wall["lazy"],
        "hit_rate": None,
        "ratios": ratios,
        "details": details,
    }


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None
