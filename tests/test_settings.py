from __future__ import annotations

from pathlib import Path

import pytest

from victor_core import Settings
from victor_core.exceptions import SettingsError, VictorError
from victor_core.settings import PROFILES, SettingsWarning, UnknownSettingError

GUIDE_NAMES = {
    # part 1
    "lazy_loading_enabled": True,
    "lazy_loading_memory_threshold": 500,
    "lazy_loading_cpu_threshold": 0.7,
    "lazy_load_planning": True,
    "lazy_load_memory": True,
    "lazy_load_skills": True,
    "lazy_load_personas": True,
    "lazy_load_tool_executor": True,
    "parallel_execution_enabled": True,
    "max_parallel_workers": 8,
    "parallel_threshold": 2,
    "skill_chaining_parallel_enabled": True,
    "tool_selection_cache_enabled": True,
    "tool_selection_cache_size": 1000,
    "tool_selection_cache_ttl": 3600,
    "tool_selection_cache_query": True,
    "tool_selection_cache_context": True,
    "tool_selection_cache_rl": True,
    "response_cache_enabled": True,
    "response_cache_size": 2000,
    "response_cache_ttl": 1800,
    "embedding_cache_enabled": True,
    "embedding_cache_size": 10000,
    "cache_auto_invalidate": False,
    "cache_auto_invalidate_interval": 3600,
    "memory_limit_mb": 4000,
    "memory_warning_threshold": 0.8,
    "episodic_memory_max_episodes": 2000,
    "semantic_memory_max_facts": 10000,
    "use_memory_pools": False,
    "memory_pool_size": 1000,
    # part 2
    "connection_pool_size": 20,
    "connection_pool_max_overflow": 10,
    "local_provider_timeout": 120,
    "local_provider_batch_size": 8,
    "openai_timeout": 30,
    "openai_max_retries": 3,
    "openai_concurrent_requests": 10,
    "enable_episodic_memory": True,
    "enable_semantic_memory": True,
    "enable_hierarchical_planning": True,
    "tool_selection_max_tools": 10,
    "provider": "",
    "model": "",
    # design extras
    "strict_plugins": False,
    "disabled_plugins": (),
    "tool_execution_timeout": 30,
}


@pytest.mark.parametrize(("name", "default"), sorted(GUIDE_NAMES.items()))
def test_every_guide_setting_exists_with_its_default(name: str, default: object) -> None:
    assert getattr(Settings(), name) == default


def test_dirs_default_to_user_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "d"))
    s = Settings()
    assert s.cache_dir == tmp_path / "c" / "victor-core"
    assert s.data_dir == tmp_path / "d" / "victor-core"


def test_assignment_as_the_guide_does() -> None:
    s = Settings()
    s.lazy_loading_enabled = True
    s.max_parallel_workers = 4
    s.tool_selection_cache_size *= 2
    s.tool_selection_cache_ttl *= 1.5
    s.cache_dir = "~/x"  # type: ignore[assignment]
    assert s.tool_selection_cache_size == 2000
    assert s.tool_selection_cache_ttl == 5400.0
    assert s.cache_dir == Path("~/x").expanduser()


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        (
            "max_parallel_workers",
            0,
            "max_parallel_workers must be an int between 1 and 256 (got 0)",
        ),
        ("max_parallel_workers", "8", "(got '8')"),
        ("max_parallel_workers", True, "(got True)"),
        ("lazy_loading_enabled", 1, "lazy_loading_enabled must be a bool"),
        ("lazy_loading_cpu_threshold", 1.5, "at most 1"),
        ("tool_selection_cache_ttl", -1, "greater than 0"),
        ("memory_warning_threshold", 0, "greater than 0"),
        ("disabled_plugins", 3, "a list of strings"),
        ("cache_dir", 3, "a path"),
    ],
)
def test_bad_values_name_field_value_and_accepted(field: str, value: object, fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings(**{field: value})
    assert fragment in str(info.value)
    assert info.value.field == field
    s = Settings()
    with pytest.raises(ValueError, match=field):
        setattr(s, field, value)
    # a failed assignment leaves the old value
    assert getattr(s, field) == getattr(Settings(), field)


def test_wrong_types_are_also_type_errors() -> None:
    with pytest.raises(TypeError, match="max_parallel_workers"):
        Settings(max_parallel_workers="8")
    with pytest.raises(TypeError, match="lazy_loading_enabled"):
        Settings().lazy_loading_enabled = "yes"  # type: ignore[assignment]
    with pytest.raises(TypeError, match="unknown setting"):
        Settings(no_such_setting=1)
    # out of range is a ValueError, not a TypeError
    with pytest.raises(ValueError, match="max_parallel_workers") as info:
        Settings(max_parallel_workers=1000)
    assert not isinstance(info.value, TypeError)


def test_unknown_names_are_rejected_with_a_suggestion() -> None:
    with pytest.raises(UnknownSettingError, match="did you mean 'max_parallel_workers'"):
        Settings(max_paralel_workers=3)
    s = Settings()
    with pytest.raises(AttributeError, match="unknown setting 'nope'"):
        s.nope = 1  # type: ignore[attr-defined]
    with pytest.raises(VictorError):
        s.evolve(nope=1)


def test_from_env_parses_types() -> None:
    env = {
        "VICTOR_MAX_PARALLEL_WORKERS": "16",
        "VICTOR_LAZY_LOADING_ENABLED": "off",
        "VICTOR_TOOL_SELECTION_CACHE_TTL": "7200",
        "VICTOR_DISABLED_PLUGINS": "a, b ,c",
        "VICTOR_PROVIDER": "ollama",
        "VICTOR_CACHE_DIR": "/tmp/v",
        "UNRELATED": "1",
    }
    s = Settings.from_env(env)
    assert s.max_parallel_workers == 16
    assert s.lazy_loading_enabled is False
    assert s.tool_selection_cache_ttl == 7200.0
    assert s.disabled_plugins == ("a", "b", "c")
    assert s.provider == "ollama"
    assert s.cache_dir == Path("/tmp/v")


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("VICTOR_MAX_PARALLEL_WORKERS", "many"),
        ("VICTOR_STRICT_PLUGINS", "maybe"),
        ("VICTOR_MAX_PARALLEL_WORKERS", "0"),
    ],
)
def test_from_env_bad_values(key: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=key.removeprefix("VICTOR_").lower()):
        Settings.from_env({key: raw})


def test_from_env_profile() -> None:
    s = Settings.from_env(
        {"VICTOR_PROFILE": "high_throughput", "VICTOR_MAX_PARALLEL_WORKERS": "32"}
    )
    assert s.max_parallel_workers == 32
    assert s.connection_pool_size == 50
    assert s.enable_episodic_memory is False


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profiles(name: str) -> None:
    s = Settings.profile(name)
    for field, value in PROFILES[name].items():
        assert getattr(s, field) == value


def test_unknown_profile() -> None:
    with pytest.raises(SettingsError, match=r"profile must be one of .*'nope'"):
        Settings.profile("nope")


def test_load_toml_variants(tmp_path: Path) -> None:
    plain = tmp_path / "victor.toml"
    plain.write_text('max_parallel_workers = 3\ndisabled_plugins = ["x"]\n')
    assert Settings.load(plain).max_parallel_workers == 3
    table = tmp_path / "t.toml"
    table.write_text('[victor]\nprofile = "low_latency"\nresponse_cache_ttl = 60\n')
    s = Settings.load(table)
    assert s.tool_selection_cache_size == 2000
    assert s.response_cache_ttl == 60.0
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n[tool.victor]\nstrict_plugins = true\n')
    assert Settings.load(pyproject).strict_plugins is True


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.load(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("max_parallel_workers = = 3")
    with pytest.raises(SettingsError, match="not valid TOML"):
        Settings.load(broken)
    bad = tmp_path / "bad.toml"
    bad.write_text("max_parallel_workers = 0")
    with pytest.raises(SettingsError, match="max_parallel_workers must be"):
        Settings.load(bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'")
    with pytest.warns(SettingsWarning, match=r"unknown.toml:1: 'colour' is not a setting"):
        assert Settings.load(unknown) == Settings()


def test_discover_from_a_project_folder(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src" / "deep").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.victor]\nmax_parallel_workers = 5\nprofile = "low_latency"\n'
    )
    env = {"VICTOR_RESPONSE_CACHE_TTL": "60", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    settings, sources = Settings.discover(cwd=project / "src" / "deep", environ=env)
    assert settings.max_parallel_workers == 5
    assert sources["max_parallel_workers"].label == f"{project / 'pyproject.toml'}:5"
    assert settings.tool_selection_cache_size == 2000  # from the profile, line 6
    assert sources["tool_selection_cache_size"].line == 6
    assert sources["response_cache_ttl"].to_dict() == {
        "source": "env",
        "variable": "VICTOR_RESPONSE_CACHE_TTL",
    }
    assert sources["cache_dir"].label == "default"
    assert Settings() != settings  # plain Settings() stays the defaults


def test_discover_order_of_files(tmp_path: Path) -> None:
    user = tmp_path / "cfg" / "victor" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("max_parallel_workers = 2\n")
    here = tmp_path / "here"
    here.mkdir()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert Settings.discover(cwd=here, environ=env)[0].max_parallel_workers == 2
    (tmp_path / "pyproject.toml").write_text("[tool.victor]\nmax_parallel_workers = 3\n")
    assert Settings.discover(cwd=here, environ=env)[0].max_parallel_workers == 3
    (here / "victor.toml").write_text("max_parallel_workers = 4\n")
    assert Settings.discover(cwd=here, environ=env)[0].max_parallel_workers == 4
    named = tmp_path / "named.toml"
    named.write_text("max_parallel_workers = 6\n")
    env["VICTOR_CONFIG"] = str(named)
    assert Settings.discover(cwd=here, environ=env)[0].max_parallel_workers == 6
    env["VICTOR_MAX_PARALLEL_WORKERS"] = "7"
    settings, sources = Settings.discover(cwd=here, environ=env)
    assert settings.max_parallel_workers == 7
    explicit = tmp_path / "explicit.toml"
    explicit.write_text("max_parallel_workers = 8\n")
    assert Settings.discover(cwd=here, environ=env, config=explicit)[0].max_parallel_workers == 8
    settings, sources = Settings.discover(
        cwd=here, environ=env, config=explicit, overrides={"max_parallel_workers": 9}
    )
    assert (settings.max_parallel_workers, sources["max_parallel_workers"].label) == (
        9,
        "command line",
    )
    env["VICTOR_CONFIG"] = str(tmp_path / "missing.toml")
    with pytest.raises(SettingsError, match="VICTOR_CONFIG names"):
        Settings.discover(cwd=here, environ=env)


@pytest.mark.parametrize(
    "table",
    [
        "[tool.victor]\nmax_parallel_workers = 3\n",
        '[ tool . "victor" ]\nmax_parallel_workers = 3\n',
        "[tool]\nvictor = { max_parallel_workers = 3 }\n",
        "[tool]\nvictor.max_parallel_workers = 3\n",
        "[tool]\n'victor' . max_parallel_workers = 3\n",
        "tool.victor.max_parallel_workers = 3\n",
        "tool = { victor = { max_parallel_workers = 3 } }\n",
        '[tool]\nnote = """\n[not.a.table]\n"""\nvictor = { max_parallel_workers = 3 }\n',
    ],
)
def test_a_victor_table_in_pyproject_is_found_in_any_spelling(tmp_path: Path, table: str) -> None:
    from victor_core.settings._sources import find_config_file

    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(table + '[project]\nname = "x"\ndependencies = ["victor-core"]\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path / "none")}
    assert find_config_file(cwd=tmp_path, environ=env) == (pyproject, "pyproject.toml")
    assert Settings.discover(cwd=tmp_path, environ=env)[0].max_parallel_workers == 3


def test_a_pyproject_naming_victor_only_as_a_dependency_is_not_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from victor_core.settings import _sources

    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "my-victor-plugin"\n'
        'dependencies = [\n  "victor-core>=0.1",\n]\n'
        '[project.entry-points."victor_core.tools"]\nmine = "my_victor_plugin.plugin"\n'
        '[project.scripts]\nvictor = "victor_core.cli:main"\n'
        '[tool.ruff]\nsrc = ["victor_plugin"]\n'
    )

    def no_parse() -> None:
        raise AssertionError("the pyproject.toml was parsed")

    monkeypatch.setattr(_sources, "_toml", no_parse)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "none")}
    assert _sources.find_config_file(cwd=tmp_path, environ=env) is None


def test_discover_warns_on_unknown_names_and_names_the_source_of_bad_values(
    tmp_path: Path,
) -> None:
    (tmp_path / "victor.toml").write_text("max_paralel_workers = 3\n")
    env = {"VICTOR_RESPONSE_CACHE_TLL": "1", "XDG_CONFIG_HOME": str(tmp_path)}
    with pytest.warns(SettingsWarning) as caught:
        Settings.discover(cwd=tmp_path, environ=env)
    env_msg, file_msg = sorted((str(w.message) for w in caught), key=lambda m: "VICTOR_" not in m)
    assert "VICTOR_RESPONSE_CACHE_TLL" in env_msg and "did you mean 'response_cache_ttl'" in env_msg
    assert "victor.toml:1: 'max_paralel_workers'" in file_msg
    assert "did you mean 'max_parallel_workers'" in file_msg
    (tmp_path / "victor.toml").write_text("max_parallel_workers = 0\n")
    with pytest.raises(SettingsError, match=r"max_parallel_workers must be .*victor.toml:1"):
        Settings.discover(cwd=tmp_path, environ={})


def test_evolve_to_dict_and_repr() -> None:
    s = Settings(max_parallel_workers=4)
    t = s.evolve(parallel_threshold=3)
    assert (t.max_parallel_workers, t.parallel_threshold) == (4, 3)
    assert s.parallel_threshold == 2
    d = t.to_dict()
    assert d["max_parallel_workers"] == 4
    assert isinstance(d["cache_dir"], str)
    assert repr(t) == "Settings(max_parallel_workers=4, parallel_threshold=3)"


def test_is_lazy() -> None:
    assert Settings().is_lazy("tools")
    assert not Settings(lazy_load_memory=False).is_lazy("memory")
    assert Settings(lazy_load_memory=False).is_lazy("skills")
    assert not Settings(lazy_loading_enabled=False).is_lazy("skills")
    assert Settings().is_lazy("custom-family")


def test_field_docs_cover_every_field() -> None:
    docs = Settings.field_docs()
    assert set(docs) == set(Settings().to_dict())
    for _default, doc, accepts in docs.values():
        assert doc
        assert accepts
