"""Pinned notebooks (issue 26): the registration records each notebook's content hash.

Who pins: `llf db apply` (the rows the applied SQL registered that have no pin yet), `llf sync` (each notebook
its YAML registers, when it has no pin yet); the migration's column, its trigger, and that notebook code cannot
re-pin. `llf pin` itself: tests/cli/test_pin.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg2
import pytest

from llf.cli import main
from tests.support.notebooks import write_notebook

REGISTRATION = """\
INSERT INTO cntl_af.cntl_cfg_strem (strem_nm) VALUES ('sales') ON CONFLICT (strem_nm) DO NOTHING;
INSERT INTO cntl_af.cntl_cfg_prcs_grp (strem_id, prcs_grp_nm)
SELECT strem_id, 'extract' FROM cntl_af.cntl_cfg_strem WHERE strem_nm = 'sales' ON CONFLICT DO NOTHING;
INSERT INTO cntl_af.cntl_cfg_prcs (prcs_grp_id, prcs_nm)
SELECT prcs_grp_id, '{process}' FROM cntl_af.cntl_cfg_prcs_grp WHERE prcs_grp_nm = 'extract' ON CONFLICT DO NOTHING;
INSERT INTO cntl_af.cntl_cfg_sys_file (prcs_id, file_path)
SELECT prcs_id, '{notebook}' FROM cntl_af.cntl_cfg_prcs WHERE prcs_nm = '{process}' ON CONFLICT DO NOTHING;
"""

STREAM_FILE = """\
stream: daily
groups:
  - name: extract
    processes:
      - name: d_extract
        notebook: daily/extract.ipynb
      - name: d_again
        notebook: daily/extract.ipynb
"""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pins(sql) -> dict[str, str | None]:
    return dict(sql("SELECT p.prcs_nm, f.content_sha256 FROM cntl_af.cntl_cfg_sys_file f "
                    "JOIN cntl_af.cntl_cfg_prcs p USING (prcs_id)"))


def _apply(tmp_path: Path, capsys, text: str) -> tuple[int, str, str]:
    path = tmp_path / "reg.sql"
    path.write_text(text, encoding="utf-8")
    capsys.readouterr()
    code = main(["db", "apply", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_pin_column_says_what_it_is_and_who_sets_it(sql):
    ((comment,),) = sql("SELECT col_description('cntl_af.cntl_cfg_sys_file'::regclass, attnum) FROM pg_attribute "
                        "WHERE attrelid = 'cntl_af.cntl_cfg_sys_file'::regclass AND attname = 'content_sha256'")
    assert "SHA-256" in comment and "llf pin" in comment and "llf sync" in comment


def test_given_a_malformed_pin_when_inserted_then_refused_with_its_sentence(registry, tmp_path, capsys):
    code, _, err = _apply(tmp_path, capsys, REGISTRATION.format(process="p", notebook="p.ipynb")
                          + "UPDATE cntl_af.cntl_cfg_sys_file SET content_sha256 = 'abc';\n")
    assert code == 2
    assert "content_sha256 must be the 64 lower-case hex digits" in err


def test_given_a_pinned_row_when_the_notebook_login_updates_its_pin_then_permission_denied(
        registry, notebook_db_url, sql):
    prcs_id = registry.process(registry.group(registry.stream("s"), "g"), "p")
    sql("UPDATE cntl_af.cntl_cfg_sys_file SET content_sha256 = repeat('a', 64)")

    with psycopg2.connect(notebook_db_url) as connection, connection.cursor() as cursor, \
            pytest.raises(psycopg2.errors.InsufficientPrivilege, match="permission denied"):
        cursor.execute("UPDATE cntl_af.cntl_cfg_sys_file SET content_sha256 = repeat('b', 64) WHERE prcs_id = %s",
                       (prcs_id,))
    assert _pins(sql) == {"p": "a" * 64}


def test_given_a_pinned_row_when_pointed_at_another_file_then_its_pin_is_cleared(registry, sql):
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    sql("UPDATE cntl_af.cntl_cfg_sys_file SET content_sha256 = repeat('a', 64)")

    sql("UPDATE cntl_af.cntl_cfg_sys_file SET updated_ts = now()")  # the same file: the pin stays
    assert _pins(sql) == {"p": "a" * 64}
    sql("UPDATE cntl_af.cntl_cfg_sys_file SET file_path = 'other.ipynb'")
    assert _pins(sql) == {"p": None}


def test_given_a_registration_file_when_applied_then_its_new_notebook_is_pinned_and_a_reapply_changes_nothing(
        registry, notebooks_dir, sql, tmp_path, capsys):
    notebook = write_notebook(notebooks_dir / "daily" / "extract.ipynb", "x = 1")
    registry.process(registry.group(registry.stream("old"), "g"), "older")  # registered before: no pin
    text = REGISTRATION.format(process="sales_extract", notebook="daily/extract.ipynb")

    code, out, _ = _apply(tmp_path, capsys, text)

    assert code == 0
    assert _pins(sql) == {"sales_extract": _sha256(notebook), "older": None}  # only what the file registered
    assert f"pinned daily/extract.ipynb: not pinned → {_sha256(notebook)[:8]} (sales_extract)" in out
    write_notebook(notebook, "x = 2")  # edited after it was pinned: re-applying does not re-pin it
    assert _apply(tmp_path, capsys, text)[0] == 0
    assert _pins(sql)["sales_extract"] != _sha256(notebook)


def test_given_a_registration_whose_notebook_is_not_here_when_applied_then_applied_unpinned_with_a_note(
        notebooks_dir, sql, tmp_path, capsys):
    code, out, _ = _apply(tmp_path, capsys, REGISTRATION.format(process="p", notebook="elsewhere.ipynb"))

    assert code == 0
    assert _pins(sql) == {"p": None}
    assert "elsewhere.ipynb (p): not pinned: notebook not found at" in out
    assert "`llf pin elsewhere.ipynb`" in out


def test_given_a_stream_file_when_synced_then_each_notebook_it_registers_is_pinned(
        control_db_url, notebooks_dir, sql, tmp_path, capsys):
    notebook = write_notebook(notebooks_dir / "daily" / "extract.ipynb", "x = 1")
    stream_file = tmp_path / "daily.yaml"
    stream_file.write_text(STREAM_FILE, encoding="utf-8")

    assert main(["sync", str(stream_file), "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert _pins(sql) == {}
    assert f"would pin daily/extract.ipynb: not pinned → {_sha256(notebook)[:8]} (d_again, d_extract)" in dry

    assert main(["sync", str(stream_file)]) == 0
    out = capsys.readouterr().out
    assert _pins(sql) == {"d_extract": _sha256(notebook), "d_again": _sha256(notebook)}
    assert f"pinned daily/extract.ipynb: not pinned → {_sha256(notebook)[:8]} (d_again, d_extract)" in out

    write_notebook(notebook, "x = 2")  # a pinned notebook that changed is re-pinned by `llf pin` only
    assert main(["sync", str(stream_file)]) == 0
    assert _pins(sql)["d_extract"] != _sha256(notebook)
    assert "Nothing to change" in capsys.readouterr().out


def test_given_unpinned_rows_of_a_synced_stream_when_synced_again_then_they_are_pinned(
        control_db_url, notebooks_dir, sql, tmp_path, capsys):
    notebook = write_notebook(notebooks_dir / "daily" / "extract.ipynb", "x = 1")
    stream_file = tmp_path / "daily.yaml"
    stream_file.write_text(STREAM_FILE, encoding="utf-8")
    assert main(["sync", str(stream_file)]) == 0
    sql("UPDATE cntl_af.cntl_cfg_sys_file SET content_sha256 = NULL")  # as registered before 0027
    capsys.readouterr()

    assert main(["sync", str(stream_file)]) == 0

    assert _pins(sql) == {"d_extract": _sha256(notebook), "d_again": _sha256(notebook)}
    assert "pinned daily/extract.ipynb" in capsys.readouterr().out


def test_given_a_file_larger_than_llf_reads_when_hashed_then_refused_with_the_bound_without_reading_it(tmp_path):
    from llf.control.notebooks import NOTEBOOK_MAX_BYTES
    from llf.control.pins import file_sha256

    huge = tmp_path / "huge.ipynb"
    with huge.open("wb") as file:  # sparse: costs no disk, would cost 33 MiB of memory if read whole
        file.truncate(NOTEBOOK_MAX_BYTES + 2**20)

    with pytest.raises(ValueError, match=r"33 MiB, more than the 32 MiB llf reads"):
        file_sha256("huge.ipynb", tmp_path)


def test_given_a_fifo_named_as_a_notebook_when_hashed_then_refused_at_once_not_blocked(tmp_path):
    import os

    from llf.control.pins import file_sha256

    os.mkfifo(tmp_path / "pipe.ipynb")  # a read would wait for a writer forever

    with pytest.raises(ValueError, match="not a regular file"):
        file_sha256("pipe.ipynb", tmp_path)
