"""`llf pin`: re-pin a registered notebook after reviewing its change; `llf validate` names what is not pinned."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from llf.cli import main
from tests.support.notebooks import write_notebook


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pins(sql) -> dict[str, str | None]:
    return dict(sql("SELECT p.prcs_nm, f.content_sha256 FROM cntl_af.cntl_cfg_sys_file f "
                    "JOIN cntl_af.cntl_cfg_prcs p USING (prcs_id)"))


@pytest.fixture
def registered(registry, notebooks_dir):
    """Processes a and b run daily/x.ipynb, c runs y.ipynb; none pinned (registered by plain INSERTs)."""
    group = registry.group(registry.stream("s"), "g")
    for name, notebook in (("a", "daily/x.ipynb"), ("b", "daily/x.ipynb"), ("c", "y.ipynb")):
        registry.process(group, name, notebook=notebook)
    return {"x": write_notebook(notebooks_dir / "daily" / "x.ipynb", "x = 1"),
            "y": write_notebook(notebooks_dir / "y.ipynb", "y = 1")}


def test_given_a_changed_pinned_notebook_when_pinned_then_old_and_new_short_hashes_are_printed(
        registered, sql, capsys):
    assert main(["pin", "daily/x.ipynb"]) == 0
    first = _sha256(registered["x"])
    assert f"pinned daily/x.ipynb: not pinned → {first[:8]} (a, b)" in capsys.readouterr().out
    write_notebook(registered["x"], "x = 2")

    assert main(["pin", "daily/x.ipynb"]) == 0

    assert f"pinned daily/x.ipynb: {first[:8]} → {_sha256(registered['x'])[:8]} (a, b)" in capsys.readouterr().out
    assert _pins(sql) == {"a": _sha256(registered["x"]), "b": _sha256(registered["x"]), "c": None}


def test_given_an_unchanged_pinned_notebook_when_pinned_again_then_it_says_unchanged(registered, capsys):
    assert main(["pin", "y.ipynb"]) == 0
    capsys.readouterr()

    assert main(["pin", "y.ipynb"]) == 0

    assert f"y.ipynb: {_sha256(registered['y'])[:8]}, unchanged (c)" in capsys.readouterr().out


def test_given_a_path_of_the_notebook_file_itself_when_pinned_then_its_registration_is_pinned(
        registered, notebooks_dir, sql, monkeypatch):
    monkeypatch.chdir(notebooks_dir.parent)

    assert main(["pin", "notebooks/daily/x.ipynb"]) == 0

    assert _pins(sql)["a"] == _sha256(registered["x"])


def test_given_all_when_pinned_with_dry_run_then_every_notebook_is_listed_and_nothing_changes(
        registered, sql, capsys):
    assert main(["pin", "--all", "--dry-run"]) == 0

    out = capsys.readouterr().out
    assert f"would pin daily/x.ipynb: not pinned → {_sha256(registered['x'])[:8]} (a, b)" in out
    assert f"would pin y.ipynb: not pinned → {_sha256(registered['y'])[:8]} (c)" in out
    assert "Dry run: nothing pinned." in out
    assert _pins(sql) == {"a": None, "b": None, "c": None}
    assert main(["pin", "--all"]) == 0
    assert None not in _pins(sql).values()


def test_given_a_file_no_process_registers_when_pinned_then_a_sentence_names_it_and_exit_1(
        registered, notebooks_dir, capsys):
    write_notebook(notebooks_dir / "draft.ipynb", "z = 1")

    assert main(["pin", "draft.ipynb", "y.ipynb"]) == 1

    captured = capsys.readouterr()
    assert ("draft.ipynb: no process registers this notebook (cntl_af.cntl_cfg_sys_file.file_path); "
            "register it first (`llf sync` or `llf db apply`)") in captured.err
    assert "pinned y.ipynb" in captured.out  # the other file is pinned all the same


def test_given_a_registered_notebook_missing_when_pinned_then_a_sentence_names_the_row_and_path(
        registered, notebooks_dir, sql, capsys):
    registered["y"].unlink()

    assert main(["pin", "y.ipynb"]) == 1

    err = capsys.readouterr().err
    assert f"y.ipynb (c): not pinned: notebook not found at {notebooks_dir.resolve() / 'y.ipynb'}" in err
    assert _pins(sql)["c"] is None


def test_given_no_file_and_no_all_when_pinning_then_a_usage_error(registered, capsys):
    assert main(["pin"]) == 2
    assert "give the notebook(s) to pin" in capsys.readouterr().err


def test_given_unpinned_and_changed_notebooks_when_validated_then_warnings_name_them_and_llf_pin(
        registered, sql, capsys):
    assert main(["pin", "y.ipynb"]) == 0
    write_notebook(registered["y"], "y = 2")
    capsys.readouterr()

    code = main(["validate"])

    captured = capsys.readouterr()
    assert code == 1  # a changed pinned notebook fails its runs: a problem, not just a warning
    assert ("warning: daily/x.ipynb (a, b) is not pinned: it runs whatever the file holds; review it, then run "
            "`llf pin daily/x.ipynb`") in captured.err
    assert "y.ipynb (c) changed since it was pinned (pinned " in captured.out
    assert "review it, then run `llf pin y.ipynb`" in captured.out


def test_given_every_notebook_pinned_when_validated_then_no_warning(registered, capsys):
    assert main(["pin", "--all"]) == 0
    capsys.readouterr()

    assert main(["validate"]) == 0
    assert "warning" not in capsys.readouterr().err
