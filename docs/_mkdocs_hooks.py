"""MkDocs hooks of the victor-core documentation.

- ``on_config``: the pages live in ``docs/`` beside ``mkdocs.yml``. MkDocs
  rejects a ``docs_dir`` equal to the config file's folder when it validates
  the file, so ``mkdocs.yml`` names an existing sub-folder and this hook sets
  ``docs_dir`` to ``docs/`` once validation is over. It also drops from the
  navigation the pages that do not exist, so a page is listed from the commit
  that adds it.
- ``on_page_markdown``: a line ``<!-- include: PATH -->`` is replaced by the
  file at PATH (relative to ``docs/``) without its first heading; the
  changelog page includes ``../CHANGELOG.md`` that way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_INCLUDE = re.compile(r"^<!-- include: (?P<path>[^ ]+) -->$", re.MULTILINE)


def _prune(nav: Any, docs: Path) -> Any:
    if isinstance(nav, list):
        items = [_prune(item, docs) for item in nav]
        return [item for item in items if item not in (None, [], {})]
    if isinstance(nav, dict):
        pruned = {key: _prune(value, docs) for key, value in nav.items()}
        return {key: value for key, value in pruned.items() if value not in (None, [], {})}
    if isinstance(nav, str) and not nav.startswith(("http://", "https://")):
        return nav if (docs / nav).is_file() else None
    return nav


def on_config(config: Any) -> Any:
    docs = Path(config.config_file_path).resolve().parent
    config.docs_dir = str(docs)
    if config.nav:
        config.nav = _prune(config.nav, docs)
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    docs = Path(config.docs_dir)

    def include(match: re.Match[str]) -> str:
        text = (docs / match.group("path")).read_text(encoding="utf-8")
        return re.sub(r"\A\s*# [^\n]*\n", "", text)

    return _INCLUDE.sub(include, markdown)
