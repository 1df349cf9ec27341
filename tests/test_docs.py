"""The documentation: its examples run, and its reference pages are complete.

- Every ```python block of every page in docs/ runs as a script, exactly as
  printed: no top-level ``await`` (an example that awaits defines
  ``async def main()`` and calls ``asyncio.run(main())``). The blocks of a
  page build on each other, so they run in order as one script
  (``python page.py``) in a subprocess whose working directory is an empty
  temporary folder; afterwards that folder and the user's home, cache, data
  and config directories (redirected to empty folders) must still be empty:
  an example writes only into a temporary directory it names. A block whose
  code defines ``test_*`` functions is run with pytest instead, so it can use
  the ``victor_core.testing`` fixtures. Put ``<!-- skip-example: why -->`` on
  the line before a block that must not run.
- docs/configuration.md lists every setting (the table is generated: run
  ``python tests/test_docs.py`` after changing ``Settings``).
- docs/hooks.md documents every hookspec; docs/cli.md every command.
- mkdocs.yml lists every page, and links between pages resolve.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, NamedTuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md"))

_FENCE = re.compile(
    r"^(?P<indent> {0,3})```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```\s*$",
    re.MULTILINE | re.DOTALL,
)
_SKIP = re.compile(r"<!--\s*skip-example:\s*(?P<why>.+?)\s*-->\s*$")


class Block(NamedTuple):
    page: Path
    line: int  # of the first line of code, 1-based
    lang: str
    code: str
    skip: str | None


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of ``page``."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = _SKIP.search(before)
        line = text.count("\n", 0, match.start("body")) + 1
        found.append(
            Block(
                page,
                line,
                match.group("lang"),
                textwrap.dedent(match.group("body")),
                skip.group("why") if skip else None,
            )
        )
    return found


def _python_blocks(page: Path) -> list[Block]:
    return [b for b in blocks(page) if b.lang in ("python", "py") and b.skip is None]


def _defines_tests(code: str) -> bool:
    tree = ast.parse(code)
    return any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")
        for node in tree.body
    )


# Pages whose examples are still being rewritten (top-level ``await`` run in-process);
# shrink this, never grow it.
_PENDING_SCRIPT_PAGES: set[str] = set()


class Sandbox(NamedTuple):
    work: Path  # the working directory: must stay empty
    user: Path  # the user's home, cache, data and config directories: must stay empty
    scripts: Path  # where the test writes the scripts it runs
    env: dict[str, str]


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A working folder and a user's home, each empty, that the examples must leave empty."""
    for key in list(os.environ):
        if key.startswith("VICTOR_"):
            monkeypatch.delenv(key)
    user = tmp_path / "user"
    for name, sub in (
        ("XDG_CACHE_HOME", "cache"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_CONFIG_HOME", "config"),
        ("HOME", "home"),
    ):
        (user / sub).mkdir(parents=True)
        monkeypatch.setenv(name, str(user / sub))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    work = tmp_path / "work"
    work.mkdir()
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    monkeypatch.chdir(work)
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return Sandbox(work, user, scripts, env)


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def script_of(page: Path) -> str:
    """The page's examples as one script: each block's text exactly as printed, at its line.

    The blocks of a page build on each other, as in a tutorial, so they run in order
    in one interpreter; blank lines between them keep tracebacks pointing at the page.
    """
    lines: list[str] = []
    for block in _python_blocks(page):
        if _defines_tests(block.code):
            continue
        lines += [""] * (block.line - 1 - len(lines))
        lines += block.code.splitlines()
    return "\n".join(lines) + "\n"


_EXAMPLE_PAGES = [p for p in PAGES if _python_blocks(p)]


@pytest.mark.parametrize(
    "block",
    [
        b
        for p in PAGES
        if p.name not in _PENDING_SCRIPT_PAGES
        for b in blocks(p)
        if b.lang in ("python", "py")
    ],
    ids=lambda b: f"{b.page.name}:{b.line}",
)
def test_example_is_valid_python_without_top_level_await(block: Block) -> None:
    # A script cannot await at the top level: an example that awaits wraps its
    # work in ``async def main()`` and ends with ``asyncio.run(main())``.
    try:
        compile(block.code, f"{block.page.name}:{block.line}", "exec", dont_inherit=True)
    except SyntaxError as exc:
        pytest.fail(f"{block.page.name}:{block.line} does not run as a script: {exc}")


@pytest.mark.parametrize("page", _EXAMPLE_PAGES, ids=lambda p: p.name)
def test_examples_run(page: Path, sandbox: Sandbox) -> None:
    if page.name in _PENDING_SCRIPT_PAGES:
        _run_in_process(page)
    elif any(not _defines_tests(b.code) for b in _python_blocks(page)):
        # A prefix keeps a page's script from shadowing a package (mcp.md -> mcp.py).
        script = sandbox.scripts / f"page_{page.stem.replace('-', '_')}.py"
        script.write_text(script_of(page), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, str(script)],
            cwd=sandbox.work,
            capture_output=True,
            text=True,
            env=sandbox.env,
            check=False,
        )
        assert proc.returncode == 0, (
            f"the examples of {page.name} failed as a script:\n"
            + proc.stdout[-2000:]
            + proc.stderr[-4000:]
        )
    test_blocks = [b for b in _python_blocks(page) if _defines_tests(b.code)]
    if test_blocks:
        _run_test_blocks(page, test_blocks, sandbox)
    if page.name not in _PENDING_SCRIPT_PAGES:
        in_work, in_user = _leftovers(sandbox.work), _leftovers(sandbox.user)
        assert not in_work, (
            f"the examples of {page.name} wrote into the current folder: {in_work}; "
            "write into a temporary directory the example names"
        )
        assert not in_user, (
            f"the examples of {page.name} wrote into the user's directories: {in_user}; "
            "pass cache_dir and data_dir in a temporary directory"
        )


def test_a_page_script_is_its_blocks_at_their_lines() -> None:
    page = DOCS / "execution.md"
    script = script_of(page).splitlines()
    for block in _python_blocks(page):
        code = block.code.splitlines()
        assert script[block.line - 1 : block.line - 1 + len(code)] == code


def _run_in_process(page: Path) -> None:
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    loop = asyncio.new_event_loop()
    try:
        for block in _python_blocks(page):
            if _defines_tests(block.code):
                continue
            source = "\n" * (block.line - 1) + block.code
            code = compile(source, str(page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            # The docs are our own text: running their examples is the point.
            result = eval(code, namespace)
            if inspect.iscoroutine(result):
                loop.run_until_complete(result)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _run_test_blocks(page: Path, test_blocks: list[Block], sandbox: Sandbox) -> None:
    test_file = sandbox.scripts / f"test_docs_{page.stem.replace('-', '_')}.py"
    test_file.write_text("\n\n".join(b.code for b in test_blocks), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=sandbox.work,
        capture_output=True,
        text=True,
        env=sandbox.env,
        check=False,
    )
    assert proc.returncode == 0, (
        f"the test examples of {page.name} (lines {[b.line for b in test_blocks]}) failed:\n"
        + proc.stdout[-3000:]
        + proc.stderr[-2000:]
    )


def test_every_page_has_a_title() -> None:
    for page in PAGES:
        first = page.read_text(encoding="utf-8").lstrip().splitlines()[0]
        assert first.startswith("# "), f"{page.name} must start with a '# Title' line"


def test_blocks_are_parsed() -> None:
    # A guard for the fence parser: the hooks page has one example per hook.
    langs = [b.lang for b in blocks(DOCS / "hooks.md")]
    assert langs.count("python") >= 11


# -- configuration -----------------------------------------------------------------------------

_START = "<!-- settings:start (generated by python tests/test_docs.py) -->"
_END = "<!-- settings:end -->"


def _sections() -> dict[str, str]:
    """Setting name -> the section it is declared in (from the comments in settings.py)."""
    from victor_core.settings import Settings

    source = inspect.getsource(Settings)
    section = "General"
    out: dict[str, str] = {}
    for line in source.splitlines():
        header = re.match(r"^\s*# (?P<title>[A-Z][\w ,/-]+?) -{3,}", line)
        if header:
            section = header.group("title").strip()
            continue
        field = re.match(r"^    (?P<name>[a-z_][a-z0-9_]*): .+= ", line)
        if field:
            out[field.group("name")] = section
    return out


def _fmt_default(name: str, value: Any) -> str:
    if isinstance(value, Path):
        return "the user's cache directory" if name == "cache_dir" else "the user's data directory"
    if isinstance(value, tuple):
        return "`[]`" if not value else f"`{list(value)!r}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value!r}`"


def render_settings_table() -> str:
    """The generated part of docs/configuration.md."""
    from victor_core.settings import Settings

    docs = Settings.field_docs()
    sections = _sections()
    lines = [_START, ""]
    current = None
    for name, (default, doc, accepts) in docs.items():
        section = sections.get(name, current or "General")
        if section != current:
            if current is not None:
                lines.append("")
            lines += [f"### {section}", "", "| setting | default | meaning | accepts |"]
            lines.append("|---|---|---|---|")
            current = section
        cell = doc.replace("|", "\\|")
        lines.append(f"| `{name}` | {_fmt_default(name, default)} | {cell} | {accepts} |")
    lines += ["", _END]
    return "\n".join(lines)


def _configuration_text() -> str:
    return (DOCS / "configuration.md").read_text(encoding="utf-8")


def test_configuration_documents_every_setting() -> None:
    from victor_core.settings import Settings

    text = _configuration_text()
    missing = [name for name in Settings.field_docs() if f"| `{name}` |" not in text]
    assert not missing, (
        f"docs/configuration.md does not document {missing}; run: python tests/test_docs.py"
    )


def test_configuration_table_is_up_to_date() -> None:
    text = _configuration_text()
    assert _START in text and _END in text
    current = text[text.index(_START) : text.index(_END) + len(_END)]
    assert current == render_settings_table(), (
        "docs/configuration.md is out of date with Settings; run: python tests/test_docs.py"
    )


def test_configuration_documents_no_unknown_setting() -> None:
    from victor_core.settings import Settings

    text = _configuration_text()
    table = text[text.index(_START) : text.index(_END)]
    named = set(re.findall(r"^\| `([a-z_0-9]+)` \|", table, re.MULTILINE))
    assert named == set(Settings.field_docs())


# -- hooks --------------------------------------------------------------------------------------


def hookspecs() -> dict[str, Any]:
    """Every hookspec function of victor_core.hookspecs, by name."""
    from victor_core._markers import PROJECT_NAME
    from victor_core.hookspecs import FAMILIES

    found = {}
    for module in FAMILIES.values():
        for name, obj in vars(module).items():
            if callable(obj) and getattr(obj, f"{PROJECT_NAME}_spec", None) is not None:
                found[name] = obj
    return found


def test_there_are_hookspecs() -> None:
    assert {"victor_tools", "victor_plan", "victor_add_hookspecs"} <= set(hookspecs())


@pytest.mark.parametrize("name", sorted(hookspecs()))
def test_hooks_reference_documents_every_hookspec(name: str) -> None:
    from victor_core._markers import PROJECT_NAME

    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    spec = hookspecs()[name]
    params = ", ".join(inspect.signature(spec).parameters)
    assert f"### `{name}`" in text, f"docs/hooks.md has no section '### `{name}`'"
    section = text.split(f"### `{name}`", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    assert f"{name}({params})" in section, f"the signature {name}({params}) is not documented"
    assert "**When**" in section
    examples = [b.code for b in blocks(DOCS / "hooks.md") if b.lang == "python"]
    assert any(f"def {name}(" in code for code in examples), f"no example implements {name}"
    opts = getattr(spec, f"{PROJECT_NAME}_spec")
    if opts.get("firstresult"):
        assert "first result" in section.split("\n", 5)[3] or "first result" in section
    if opts.get("historic"):
        assert "historic" in section


# -- command line -------------------------------------------------------------------------------


def _commands() -> dict[str, list[str]]:
    """Every ``victor`` command and sub-command (``cache stats``) with its long options."""
    import argparse

    from victor_core.cli import build_parser

    found: dict[str, list[str]] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    command = f"{prefix} {name}".strip()
                    found[command] = [
                        option
                        for a in sub._actions
                        for option in a.option_strings
                        if option.startswith("--") and option != "--help"
                    ]
                    walk(sub, command)

    parser = build_parser()
    found[""] = [
        option
        for a in parser._actions
        for option in a.option_strings
        if option.startswith("--") and option != "--help"
    ]
    walk(parser, "")
    return found


def test_cli_reference_documents_every_command() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = [c for c in _commands() if c and f"victor {c}" not in text]
    assert not missing, f"docs/cli.md does not document {missing}"


def test_cli_reference_documents_every_option() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = [
        f"victor {command} {option}".replace("  ", " ")
        for command, options in _commands().items()
        for option in options
        if option not in text
    ]
    assert not missing, f"docs/cli.md does not document {missing}"


# -- the site -----------------------------------------------------------------------------------


def _nav_pages() -> list[str]:
    text = (DOCS / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text.split("\nnav:", 1)[1]
    return re.findall(r":\s*([\w./-]+\.md)\s*$", nav, re.MULTILINE)


def test_every_page_is_in_the_navigation() -> None:
    listed = set(_nav_pages())
    orphans = [p.name for p in PAGES if p.name not in listed]
    assert not orphans, f"add {orphans} to the nav of docs/mkdocs.yml"


def test_links_between_pages_resolve() -> None:
    bad = []
    for page in PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
        for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            if not (page.parent / target).resolve().is_file():
                bad.append(f"{page.name} -> {target}")
    assert not bad, f"broken links: {bad}"


def test_changelog_page_includes_the_changelog() -> None:
    text = (DOCS / "changelog.md").read_text(encoding="utf-8")
    assert "<!-- include: ../CHANGELOG.md -->" in text
    assert (ROOT / "CHANGELOG.md").is_file()


def test_mkdocs_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs is installed in the tox 'docs' environment")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(DOCS / "mkdocs.yml"),
            "-d",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "site" / "hooks" / "index.html").is_file()
    changelog = (tmp_path / "site" / "changelog" / "index.html").read_text(encoding="utf-8")
    assert "Unreleased" in changelog
    # Highlighting is done at build time (Pygments): pages load no script or
    # stylesheet from elsewhere, so they read the same offline.
    page = (tmp_path / "site" / "execution" / "index.html").read_text(encoding="utf-8")
    loaded = re.findall(r"<script\b[^>]*>|<link\b[^>]*stylesheet[^>]*>", page)
    remote = [tag for tag in loaded if re.search(r"(?:src|href)=\"(?:https?:)?//", tag)]
    assert not remote, remote
    assert '<span class="kn">import</span>' in page


def _write_configuration() -> None:
    path = DOCS / "configuration.md"
    text = path.read_text(encoding="utf-8")
    start, end = text.index(_START), text.index(_END) + len(_END)
    path.write_text(text[:start] + render_settings_table() + text[end:], encoding="utf-8")
    print(f"updated {path}")


if __name__ == "__main__":
    _write_configuration()


def _site_hooks() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_mkdocs_hooks", DOCS / "_mkdocs_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_site_hook_drops_missing_pages_from_the_navigation(tmp_path: Path) -> None:
    hooks = _site_hooks()
    (tmp_path / "mkdocs.yml").write_text("", encoding="utf-8")
    (tmp_path / "here.md").write_text("# Here\n", encoding="utf-8")

    class Config:
        config_file_path = str(tmp_path / "mkdocs.yml")
        docs_dir = "elsewhere"
        nav: Any = [
            {"Home": "here.md"},
            {"Gone": "missing.md"},
            {"Section": [{"Also gone": "nope.md"}]},
            {"Site": "https://example.org/"},
        ]

    config = hooks.on_config(Config())
    assert config.docs_dir == str(tmp_path.resolve())
    assert config.nav == [{"Home": "here.md"}, {"Site": "https://example.org/"}]


def test_site_hook_includes_files(tmp_path: Path) -> None:
    hooks = _site_hooks()
    (tmp_path / "part.md").write_text("# Part\n\nbody line\n", encoding="utf-8")

    class Config:
        docs_dir = str(tmp_path)

    page = "# Title\n\n<!-- include: part.md -->\n\nafter\n"
    out = hooks.on_page_markdown(page, page=None, config=Config(), files=None)
    assert out == "# Title\n\n\nbody line\n\n\nafter\n"
    assert "<!-- include" not in out
