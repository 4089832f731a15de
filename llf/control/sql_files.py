"""`llf db apply`: run registration scripts (plain SQL INSERTs) against the control database.

Each file runs in its own transaction, so a failing file leaves nothing half-registered. Its statements
run one by one (split by sqlparse, which yoyo-migrations uses too), so a refusal names the statement's line,
and an INSERT that inserted nothing because its SELECT found nothing is caught.

That last one is the silent failure of SQL registration: `INSERT ... SELECT prcs_grp_id, 'x' FROM
cntl_cfg_prcs_grp WHERE prcs_grp_nm = 'extrct'` (a typo) inserts no row and succeeds. A rowcount of 0
cannot tell it from a legitimate re-apply, where `ON CONFLICT DO NOTHING` skipped rows that exist. So each
INSERT runs under `EXPLAIN (ANALYZE)`, which executes it exactly once, as written, and reports how many rows
its source produced (the ModifyTable node's input) apart from how many conflicts it skipped: a source of 0
rows is a lost registration; conflicts are not. Such a file is rolled back whole (nothing half-registered,
as for an error), its empty INSERTs are reported, later files are not applied, and `llf db apply` exits 1.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import sqlparse

from llf.control.constraints import explain
from llf.control.pins import Pin, pin_rows, registered_rows, unpinned_new_rows
from llf.db import one_row, transaction
from llf.exceptions import RegistrationError
from llf.text import one_line

_EXPLAIN = "EXPLAIN (ANALYZE, TIMING OFF, SUMMARY OFF, FORMAT JSON) "


@dataclass(frozen=True)
class Statement:
    path: Path
    line: int  # of its first line that is not a comment
    sql: str

    @property
    def first_line(self) -> str:
        return _code_lines(self.sql)[0].strip()[:120] if _code_lines(self.sql) else self.sql[:120]


@dataclass(frozen=True)
class EmptyInsert:
    """An INSERT whose source (VALUES or SELECT) produced no row: what it meant to register is missing."""

    statement: Statement
    table: str

    def __str__(self) -> str:
        return (f"{self.statement.path}:{self.statement.line}: `{self.statement.first_line}` inserted no row into "
                f"{self.table}: its SELECT found nothing (a misspelt name in its WHERE?)")


class _RollBack(Exception):
    """Raised inside a file's transaction to undo it when it lost a registration."""


def apply_files(url: str, paths: list[Path], notebooks_dir: Path | None = None,
                pinned: list[Pin] | None = None) -> list[EmptyInsert]:
    """Apply each file in one transaction, in order; stop at the first that fails or loses a registration.

    Returns the empty INSERTs of the file it stopped at (that file rolled back), [] when all were applied.
    Every file is read first, so a missing or unreadable one stops the command before anything is applied.
    With `notebooks_dir`, the notebooks each file registered (rows it added or pointed at another file, with no
    pin) are pinned in its transaction (llf.control.pins), and their pins appended to `pinned`.
    """
    scripts = [(path, _read(path)) for path in paths]
    for path, text in scripts:
        statements = split_statements(path, text)
        try:
            with transaction(url) as cursor:
                before = registered_rows(cursor) if notebooks_dir is not None else []
                empty = [found for statement in statements if (found := _execute(cursor, statement))]
                if empty:
                    raise _RollBack
                new_pins = [] if notebooks_dir is None else \
                    pin_rows(cursor, unpinned_new_rows(cursor, before), notebooks_dir)
        except _RollBack:
            return empty
        except psycopg2.Error as error:  # a refusal while committing (deferred constraints)
            raise _refused(Statement(path, 1, text), error) from error
        if pinned is not None:  # committed
            pinned.extend(new_pins)
    return []


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise RegistrationError(f"{path}: cannot be read ({reason}); no file was applied") from None


def split_statements(path: Path, text: str) -> list[Statement]:
    """The file's statements, each with the line it starts on, for messages a user can find."""
    statements, offset = [], 0
    for sql in sqlparse.split(text):
        start = max(text.find(sql, offset), offset)
        offset = start + len(sql)
        first = next((n for n, line in enumerate(sql.splitlines()) if _is_code(line)), None)
        if first is not None:  # a file ending in comments yields one "statement" of comments
            statements.append(Statement(path, text.count("\n", 0, start) + 1 + first, sql))
    return statements


def _is_code(line: str) -> bool:
    return bool(line.strip()) and not line.strip().startswith("--")


def _code_lines(sql: str) -> list[str]:
    return [line for line in sql.splitlines() if _is_code(line)]


_LEADING_COMMENTS = re.compile(r"\A(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)


def _is_insert(sql: str) -> bool:
    """Whether the statement is an INSERT: by its first word; sqlparse's full parse only for WITH ...,
    since it is slow on the long VALUES lists registration files hold."""
    head = _LEADING_COMMENTS.sub("", sql, count=1)[:6].upper()
    if head.startswith("WITH"):
        return sqlparse.parse(sql)[0].get_type() == "INSERT"
    return head == "INSERT"


def _execute(cursor: psycopg2.extensions.cursor, statement: Statement) -> EmptyInsert | None:
    """Run one statement; an INSERT through EXPLAIN ANALYZE, to learn how many rows its source produced."""
    is_insert = _is_insert(statement.sql)
    try:
        cursor.execute(_EXPLAIN + statement.sql if is_insert else statement.sql)
        if not is_insert:
            return None
        (document,) = one_row(cursor)
    except psycopg2.Error as error:
        raise _refused(statement, error) from error
    plan = (json.loads(document) if isinstance(document, str) else document)[0]["Plan"]
    if plan.get("Node Type") != "ModifyTable" or plan.get("Operation") != "Insert":
        return None  # rewritten by a rule, or something else: nothing to judge
    sources = [child for child in plan.get("Plans", []) if child.get("Parent Relationship") == "Outer"]
    produced = sum(child.get("Actual Rows", 0) * child.get("Actual Loops", 1) for child in sources)
    if sources and produced == 0:
        return EmptyInsert(statement, plan.get("Relation Name", "?"))
    return None


def _refused(statement: Statement, error: psycopg2.Error) -> RegistrationError:
    """One line: the file and line, the statement, why (the constraint's meaning), and that nothing stayed."""
    primary = one_line((error.diag.message_primary if error.diag else None) or str(error))
    reason = explain(error) or primary
    return RegistrationError(f"{statement.path}:{statement.line}: `{statement.first_line}` failed: {reason} "
                             "(nothing from this file was applied)")
