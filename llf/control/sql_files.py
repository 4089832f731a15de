"""`llf db apply`: run registration scripts (plain SQL INSERTs) against the control database.

Each file runs in its own transaction, so a failing file leaves nothing half-registered.
"""

from __future__ import annotations

from pathlib import Path

import psycopg2

from llf.db import transaction
from llf.exceptions import RegistrationError


def apply_files(url: str, paths: list[Path]) -> None:
    """Run each file in one transaction, stopping at the first that fails and naming it."""
    for path in paths:
        statements = path.read_text(encoding="utf-8")
        try:
            with transaction(url) as cursor:
                cursor.execute(statements)
        except psycopg2.Error as error:
            raise RegistrationError(f"{path}: {str(error).strip()} (nothing from this file was applied)") from error
