"""`llf run` / `llf backfill` refusing to start: one line naming what to fix, exit 2, never a traceback or a
password. No Airflow is needed to prove these: each is found before a run could be triggered."""

from __future__ import annotations

import pytest

from llf.cli import main
from llf.local.airflow import free_port
from tests.support.cli import one_line_error
from tests.support.standins.airflow_api import airflow_api

SECRET = "s3cret-pw-4f9a"


@pytest.fixture
def stream(registry) -> str:
    registry.process(registry.group(registry.stream("s"), "g"), "p")
    return "s"


@pytest.mark.parametrize("command", [["run", "--date", "2026-05-01", "--wait"],
                                     ["backfill", "--from", "2026-05-01", "--to", "2026-05-02"]])
def test_given_an_unknown_stream_when_run_or_backfill_then_exit_2_naming_it(control_db_url, capsys, command):
    code = main([command[0], "--stream", "nope", *command[1:]])

    assert code == 2
    assert "--stream nope: no stream of that name is registered" in one_line_error(capsys)


def test_given_an_inactive_stream_when_run_then_exit_2_saying_nothing_is_active(control_db_url, registry, capsys):
    registry.process(registry.group(registry.stream("off", active=False), "g"), "p")

    assert main(["run", "--stream", "off", "--date", "2026-05-01"]) == 2
    assert "inactive or has no active process" in one_line_error(capsys)


def test_given_airflow_unreachable_when_run_then_exit_2_naming_llf_airflow_url_without_its_password(
    control_db_url, stream, capsys, monkeypatch
):
    monkeypatch.setenv("LLF_AIRFLOW_URL", f"http://admin:{SECRET}@127.0.0.1:{free_port()}")

    code = main(["run", "--stream", stream, "--date", "2026-05-01", "--wait"])

    error = one_line_error(capsys)
    assert code == 2
    assert "Cannot reach Airflow at http://" in error and "set LLF_AIRFLOW_URL" in error
    assert SECRET not in error


def test_given_no_airflow_url_and_local_mode_down_when_backfill_then_exit_2_pointing_at_local_up(
    control_db_url, stream, capsys, monkeypatch
):
    monkeypatch.delenv("LLF_AIRFLOW_URL", raising=False)
    monkeypatch.setenv("LLF_LOCAL_PORT", str(free_port()))

    code = main(["backfill", "--stream", stream, "--from", "2026-05-01", "--to", "2026-05-03"])

    error = one_line_error(capsys)
    assert code == 2
    assert "local mode's address; LLF_AIRFLOW_URL is unset" in error and "llf local up" in error


def test_given_a_password_without_a_user_when_run_then_exit_2_naming_the_missing_setting_not_the_password(
    control_db_url, stream, capsys, monkeypatch
):
    monkeypatch.delenv("LLF_AIRFLOW_USER", raising=False)
    monkeypatch.setenv("LLF_AIRFLOW_PASSWORD", SECRET)

    assert main(["run", "--stream", stream, "--date", "2026-05-01"]) == 2
    error = one_line_error(capsys)
    assert "LLF_AIRFLOW_USER is not set" in error and SECRET not in error


def test_given_to_before_from_when_backfill_then_exit_2(control_db_url, stream, capsys):
    assert main(["backfill", "--stream", stream, "--from", "2026-05-03", "--to", "2026-05-01"]) == 2
    assert "--to 2026-05-01 is before --from 2026-05-03" in one_line_error(capsys)


def test_version_prints_the_installed_package_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])

    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"llf {version('llf')}"


def test_given_an_airflow_url_httpx_cannot_parse_when_run_then_exit_2_naming_llf_airflow_url_without_its_password(
    control_db_url, stream, capsys, monkeypatch
):
    monkeypatch.setenv("LLF_AIRFLOW_URL", f"http://admin:{SECRET}@127.0.0.1:80x")

    code = main(["run", "--stream", stream, "--date", "2026-05-01"])

    error = one_line_error(capsys)
    assert code == 2
    assert "LLF_AIRFLOW_URL" in error and "127.0.0.1:80x is not a valid URL (Invalid port)" in error
    assert SECRET not in error


@pytest.mark.parametrize("token", [{}, [], "x", {"token": "t"}], ids=["empty", "list", "string", "other key"])
def test_given_something_answering_json_without_a_token_when_run_then_exit_2_naming_llf_airflow_url(
    control_db_url, stream, capsys, monkeypatch, token
):
    with airflow_api() as (url, behaviour):
        behaviour.token = token
        monkeypatch.setenv("LLF_AIRFLOW_URL", url)

        code = main(["run", "--stream", stream, "--date", "2026-05-01"])

    error = one_line_error(capsys)
    assert code == 2
    assert f"{url} did not answer like Airflow's API" in error and "set LLF_AIRFLOW_URL" in error
    assert behaviour.triggered == []
