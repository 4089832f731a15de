"""CHANGELOG.md keeps up with the code: its newest version is the package's (`llf --version`), and every
migration has its upgrade note, so a migration that needs an action cannot land without saying which."""

from __future__ import annotations

import re
from pathlib import Path

import llf

CHECKOUT = Path(__file__).resolve().parents[1]
CHANGELOG = CHECKOUT / "CHANGELOG.md"
MIGRATIONS = Path(llf.__file__).parent / "control" / "sql"


def test_the_newest_changelog_section_is_the_package_version() -> None:
    versions = re.findall(r"^## \[([^\]]+)\]", CHANGELOG.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert versions, "CHANGELOG.md has no version section"
    assert versions[0] == llf.__version__


def test_every_migration_has_a_row_in_the_upgrade_notes() -> None:
    text = CHANGELOG.read_text(encoding="utf-8")
    noted = set(re.findall(r"^\| `(\d{4}_[a-z0-9_]+\.sql)` \|", text, flags=re.MULTILINE))
    shipped = {path.name for path in MIGRATIONS.glob("*.sql")}
    assert shipped - noted == set(), "migrations without an upgrade note in CHANGELOG.md"
    assert noted - shipped == set(), "upgrade notes for migrations that do not exist"
