"""A run builds the parser of its command only; what it parses must not change."""

from __future__ import annotations

import argparse

import pytest

from victor_core import cli


def _top_commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_command_has_its_module_in_the_table() -> None:
    commands = _top_commands(cli.build_parser())
    assert set(commands) == set(cli._COMMANDS)
    for name, module in cli._COMMANDS.items():
        assert module in cli._COMMAND_MODULES
        assert set(_top_commands(cli._build_parser((module,)))) == {name}


def test_the_long_global_options_are_the_top_parser_s() -> None:
    parser = cli._build_parser(())
    options = {o for a in parser._actions for o in a.option_strings if o.startswith("--")}
    assert options == set(cli._LONG_OPTIONS)
    values = {
        o
        for a in parser._actions
        for o in a.option_strings
        if o.startswith("--") and a.nargs != 0 and not isinstance(a, argparse._CountAction)
    }
    assert values == set(cli._VALUE_OPTIONS)


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (["plugins", "list"], "_plugins"),
        (["-v", "--config", "x.toml", "config"], "_config"),
        (["--config=x.toml", "-vvq", "hooks"], "_hooks"),
        (["--disable", "plugins", "run", "goal"], "_run"),  # the option's value is skipped
        (["--log", "json", "--col", "never", "cache", "stats"], "_cache"),  # prefixes
        (["plugin", "new", "x"], "_plugin_new"),
        (["--version"], ""),
        (["-q"], ""),
        (["--help"], None),
        (["-vh", "plugins"], None),
        (["--co", "x", "plugins"], None),  # ambiguous: argparse says so, with every command
        (["--ver"], None),
        (["bogus"], None),
        (["--", "plugins"], None),
        (["-", "plugins"], None),
        (["-x", "plugins"], None),
    ],
)
def test_command_module(argv: list[str], module: str | None) -> None:
    assert cli._command_module(argv) == module


@pytest.mark.parametrize(
    "argv",
    [
        ["plugins", "list", "--json"],
        ["plugins"],
        ["-v", "plugins", "show", "x", "--json"],
        ["--disable", "a", "plugins", "list", "--disable", "b", "-q"],
        ["--config=c.toml", "--color", "never", "config", "--json"],
        ["--log-format", "json", "hooks"],
        ["cache", "stats"],
        ["memory", "stats"],
        ["completion", "bash"],
        ["run", "a goal"],
        ["bench", "startup", "--json"],
        ["metrics"],
        ["plugin", "new", "victor-x"],
    ],
)
def test_the_one_command_parser_parses_as_the_full_one(argv: list[str]) -> None:
    def parsed(parser: argparse.ArgumentParser) -> dict[str, object]:
        return vars(parser.parse_args(argv))

    assert parsed(cli._parser_for(argv)) == parsed(cli.build_parser())
    assert len(_top_commands(cli._parser_for(argv))) == 1


def test_a_missing_command_module_falls_back_to_every_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(cli._COMMANDS, "ghost", "_ghost")
    monkeypatch.setattr(cli, "_COMMAND_MODULES", (*cli._COMMAND_MODULES, "_ghost"))
    assert cli._command_module(["ghost"]) == "_ghost"
    parser = cli._parser_for(["ghost"])
    assert set(_top_commands(parser)) == set(_top_commands(cli.build_parser()))
    with pytest.raises(SystemExit):
        parser.parse_args(["ghost"])


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for name in cli._COMMANDS:
        assert name in out


def test_building_leaves_argparse_translating(monkeypatch: pytest.MonkeyPatch) -> None:
    import gettext

    cli.build_parser()
    assert argparse._ is gettext.gettext  # type: ignore[attr-defined]
    # With a catalogue for the locale, argparse's own translation is used throughout.
    monkeypatch.setattr(cli, "_has_translation", lambda: True)
    seen: list[str] = []

    def translate(message: str) -> str:
        seen.append(message)
        return message

    monkeypatch.setattr(gettext, "gettext", translate)
    monkeypatch.setattr(argparse, "_", translate)
    cli._build_parser(("_plugins",))
    assert "show this help message and exit" in seen
    assert argparse._ is translate  # type: ignore[attr-defined]
