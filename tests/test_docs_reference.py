"""The documentation site's generated reference pages are what their scripts make of the current code: every
`llf` command's --help and the Makefile's targets (scripts/docs_reference.py). A command, option or target
changed without rerunning the script fails here. The settings page is held by tests/test_settings_docs.py,
the data dictionary by tests/deploy/test_pictures.py; `make lint` builds the whole site with --strict."""

from __future__ import annotations

import importlib.util
import sys

from llf.cli import parser
from llf.settings import PROJECT_ROOT


def _docs_reference():
    path = PROJECT_ROOT / "scripts" / "docs_reference.py"
    spec = importlib.util.spec_from_file_location("docs_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_given_the_code_when_the_reference_pages_are_regenerated_then_they_are_the_committed_pages():
    script = _docs_reference()

    for path, wanted in script.pages().items():
        committed = path.read_text(encoding="utf-8")
        assert committed == wanted, f"{path.relative_to(PROJECT_ROOT)} is stale: run python scripts/docs_reference.py"


def test_given_the_cli_then_its_page_has_one_section_per_runnable_command_and_the_groups():
    script = _docs_reference()
    page = script.cli_page()

    for words, _ in script._subcommands(parser(), "llf"):
        assert page.count(f"\n## `{words}`\n") == 1, words
    assert "\n## `llf local demo`\n" in page and "\n## `llf db upgrade`\n" in page


def test_given_the_makefile_then_every_target_with_a_comment_is_on_the_page_and_the_docs_target_exists():
    page = _docs_reference().make_page()

    for target in ("demo", "stop", "test", "lint", "docs", "lock", "pictures", "bench", "venv", "chromium", "redis"):
        assert f"| `make {target}` |" in page, target
