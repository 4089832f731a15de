"""`llf log` names each attempt's own outputs: the failed try's notebook and its retry's are two places."""

from __future__ import annotations

import json

from llf.cli import main
from tests.runner.retried_run import run_flaky_twice, stored_notebook


def test_given_a_run_retried_after_a_failed_try_when_log_is_asked_then_each_row_names_its_own_notebook(
    registry, notebooks_dir, tmp_path, lake_dir, capsys
):
    run_flaky_twice(registry, notebooks_dir, tmp_path)
    capsys.readouterr()

    assert main(["log", "--process", "p", "--json"]) == 0

    retry, first = json.loads(capsys.readouterr().out)
    assert (first["try_number"], first["status"], retry["try_number"], retry["status"]) == (1, "FAILED", 2, "SUCCESS")
    assert "the first try breaks here" in stored_notebook(first["output_path"])
    assert "the first try breaks here" not in stored_notebook(retry["output_path"])


def test_given_a_retried_run_when_log_prints_its_table_then_each_row_shows_its_try_folder(
    registry, notebooks_dir, tmp_path, lake_dir, capsys, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "400")
    run_flaky_twice(registry, notebooks_dir, tmp_path)
    capsys.readouterr()

    main(["log", "--process", "p"])

    out = capsys.readouterr().out
    assert "/run_p/try-1/" in out and "/run_p/try-2/" in out
