"""The victor_core.testing pytest plugin, as a plugin author uses it."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_fixtures_in_a_plugin_authors_test_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_author="""
        import sys
        from victor_core import Tool, hookimpl

        class Inline:
            @hookimpl
            def victor_tools(self):
                return [Tool(name="inline", description="d", func=lambda: 1)]

        def test_settings_use_tmp_dirs(victor_settings, tmp_path):
            assert tmp_path in victor_settings.cache_dir.parents
            assert tmp_path in victor_settings.data_dir.parents

        def test_register_inline(victor_plugin_manager, victor_register):
            victor_register(Inline(), name="inline")
            names = [t.name for batch in victor_plugin_manager.hook.victor_tools() for t in batch]
            assert "inline" in names

        def test_entry_points_are_lazy(victor_entry_points, victor_settings):
            from victor_core import PluginManager
            victor_entry_points.add(
                "victor-author-demo",
                {"victor_core.skills": {"author": "author_demo"}},
                modules={"author_demo": "from victor_core import hookimpl\\n"
                         "@hookimpl\\ndef victor_skills():\\n    return []\\n"},
            )
            pm = PluginManager(victor_settings)
            assert "author" in [p.name for p in pm.list_plugins()]
            assert "author_demo" not in sys.modules
            pm.hook.victor_skills()
            assert "author_demo" in sys.modules

        def test_orchestrator(victor_orchestrator, victor_settings):
            assert victor_orchestrator.settings is victor_settings
        """
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=4)


def test_make_distribution_rejects_bad_names(tmp_path: object) -> None:
    from pathlib import Path

    from victor_core.testing import make_distribution

    with pytest.raises(ValueError, match="distribution name must be"):
        make_distribution(Path(str(tmp_path)), "bad name!", {})
