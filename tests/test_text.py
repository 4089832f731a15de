"""`llf.text`: one line for every error, and one rule for a typed business date, the CLI's and the UI's."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi import HTTPException

from llf.cli import parser
from llf.text import control_character, one_line, parse_date
from llf.ui.sources import _date as ui_date

GOOD = {"2026-01-01": dt.date(2026, 1, 1), "2024-02-29": dt.date(2024, 2, 29)}
BAD = ["20260101", "2026-W01-1", "2026-1-1", "2026-02-30", "2026-13-01", "tomorrow", " 2026-01-01", "2026-01-01\n",
       "2026-01-01T00:00"]


@pytest.mark.parametrize(("text", "day"), GOOD.items())
def test_given_a_yyyy_mm_dd_date_when_typed_in_the_cli_or_the_ui_then_both_read_the_same_day(text, day):
    assert parse_date(text) == day
    assert parser().parse_args(["status", "--date", text]).date == day
    assert ui_date(text) == day


@pytest.mark.parametrize("text", BAD)
def test_given_any_other_form_when_typed_in_the_cli_or_the_ui_then_both_refuse_it_with_one_sentence(text, capsys):
    sentence = f"{text} is not a date (YYYY-MM-DD)"
    with pytest.raises(ValueError, match="is not a date"):
        parse_date(text)

    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["status", "--date", text])
    assert exited.value.code == 2
    assert one_line(sentence) in capsys.readouterr().err

    with pytest.raises(HTTPException) as refused:
        ui_date(text)
    assert refused.value.status_code == 422
    assert sentence in refused.value.detail


def test_given_no_date_in_the_url_when_read_by_the_ui_then_it_means_the_latest():
    assert ui_date(None) is None and ui_date("") is None


def test_given_text_over_several_lines_when_made_one_line_then_whitespace_runs_become_one_space():
    assert one_line("  relation \"x\"\n  does not\texist \n") == 'relation "x" does not exist'
    assert one_line(ValueError("a\nb")) == "a b"


def test_given_a_limit_when_the_line_is_longer_then_it_is_cut_with_an_ellipsis_to_exactly_the_limit():
    assert one_line("abcdef", limit=4) == "abc…"
    assert one_line("abcd", limit=4) == "abcd"
    assert one_line("a " * 1000) == " ".join(["a"] * 1000)  # no limit: all of it


@pytest.mark.parametrize(("text", "found"), [("a\x00b", "\x00"), ("a\nb\x00", "\n"), ("\x1b[2J", "\x1b"),
                                             ("a\x7f", "\x7f"), ("a\x85", "\x85"), ("runs/ä é/x-1.html", None),
                                             ("", None)])
def test_given_a_text_when_checked_for_control_characters_then_the_first_one_is_named(text: str,
                                                                                      found: str | None) -> None:
    assert control_character(text) == found
