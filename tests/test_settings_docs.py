"""The docs' settings table (docs/reference/settings.md) is the registry of llf/settings.py rendered, and every
LLF_* variable the code names is in that registry: a setting cannot be added, renamed or given another default
without the docs following."""

from __future__ import annotations

import importlib.util
import re
import sys

from llf.context import RUN_CONTEXT_ENV
from llf.settings import PROJECT_ROOT, REGISTRY


def _settings_table():
    path = PROJECT_ROOT / "scripts" / "settings_table.py"
    spec = importlib.util.spec_from_file_location("settings_table", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_given_the_registry_then_the_settings_page_holds_its_table_between_the_markers():
    script = _settings_table()
    page = (PROJECT_ROOT / "docs" / "reference" / "settings.md").read_text(encoding="utf-8")

    assert page == script.with_table(page), "docs/reference/settings.md is stale: run python scripts/settings_table.py"
    assert page.index("# Settings") < page.index(script.BEGIN) < page.index(script.END) \
        < page.index("Airflow's own settings llf relies on")


def test_given_the_table_then_every_setting_has_one_row_and_secrets_are_marked():
    table = _settings_table().table()

    for setting in REGISTRY.values():
        if not setting.internal:
            (row,) = [line for line in table.splitlines() if line.startswith(f"| `{setting.name}` |")]
            assert ("(a secret)" in row) == setting.secret, row


def test_given_the_package_sources_then_every_llf_variable_they_name_is_registered_and_none_is_read_directly():
    named: set[str] = set()
    for source in (PROJECT_ROOT / "llf").rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        named |= set(re.findall(r"\bLLF_[A-Z0-9_]*[A-Z0-9]\b", text))
        if source.name != "settings.py" or source.parent.name != "llf":
            assert not re.search(r"environ(?:\.get)?[(\[]\s*[\"']LLF_", text), f"{source} reads LLF_* itself"

    assert named - set(REGISTRY) == set()
    assert RUN_CONTEXT_ENV in REGISTRY and REGISTRY[RUN_CONTEXT_ENV].internal
