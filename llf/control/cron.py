"""Whether a schedule is one Airflow takes and fires: an IANA time zone, and a cron expression that
Airflow's CronTriggerTimetable accepts, fires on some date and describes within the column Airflow stores.

The DAG builder hands cron_expr to Airflow unchanged; refusing it here turns a DAG that would fail to load
into a problem naming the field and the reason.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from llf.control.model import CRON_DESCRIPTION_MAX_LENGTH
from llf.text import one_line

_CRON_FIX = "use minute hour day-of-month month day-of-week, e.g. '0 6 * * 1-5', or an alias such as '@daily'"

# The aliases Airflow's CronTriggerTimetable expands (airflow.sdk.definitions.timetables._cron.CRON_PRESETS,
# checked by tests/control/test_validation.py): the DAG builder hands cron_expr to it unchanged.
CRON_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}

# (name, lowest, highest, names croniter also takes) of the five fields, in order.
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ("L",)),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day-of-week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)


def schedule_problems(cron_expr: str, timezone: str) -> list[tuple[str, str]]:
    """(message, fix) for what Airflow would refuse of a schedule: its time zone, then its cron expression."""
    problems = []
    try:
        zone: ZoneInfo | None = ZoneInfo(timezone)
    except (KeyError, ValueError, OSError, TypeError):  # ZoneInfoNotFoundError is a KeyError; the rest on odd keys
        zone = None
        problems.append((f"timezone {one_line(repr(timezone), 80)} is not an IANA time zone",
                         "use a name such as 'UTC' or 'Europe/Paris'"))
    problem = _cron_problem(cron_expr, zone)
    if problem:
        problems.append(problem)
    return problems


def _cron_problem(expression: str, timezone: ZoneInfo | None) -> tuple[str, str] | None:
    """What Airflow's CronTriggerTimetable would refuse (or never fire), with the field and the reason.

    Airflow expands its aliases, then asks croniter; so does this. croniter decides; the field-by-field
    reading only explains its refusal ("out of range" names no field), so the two can never disagree.
    """
    from croniter import croniter

    quoted = one_line(repr(expression), 120)
    fields = CRON_ALIASES.get(expression.strip(), expression).split()
    if len(fields) == 1 and fields[0].startswith("@"):
        return (f"cron_expr {quoted} is not an alias Airflow expands ({', '.join(CRON_ALIASES)})", _CRON_FIX)
    if len(fields) != 5:
        return (f"cron_expr {quoted} has {len(fields)} field(s); Airflow takes exactly five "
                "(minute hour day-of-month month day-of-week)", _CRON_FIX)
    try:
        cron = croniter(" ".join(fields), dt.datetime.now(timezone or dt.UTC))  # what Airflow's timetable checks
    except (ValueError, TypeError) as error:  # croniter's CroniterError family; TypeError on mixed ranges
        reason = _cron_field_reason(fields) or one_line(str(error), 120)
        return f"cron_expr {quoted} is not a valid cron expression: {reason}", _CRON_FIX
    try:
        cron.get_next(dt.datetime)
        cron.get_prev(dt.datetime)
    except ValueError:  # CroniterBadDateError (a ValueError): no matching date within croniter's search
        return (f"cron_expr {quoted} never fires (no such date, e.g. 31 February)",
                "correct day-of-month and month, e.g. '0 6 28 2 *'")
    description = _cron_description(" ".join(fields))
    if len(description) > CRON_DESCRIPTION_MAX_LENGTH:
        return (f"cron_expr {quoted} is described in {len(description)} characters; "
                f"Airflow stores at most {CRON_DESCRIPTION_MAX_LENGTH}", "use ranges and steps instead of long lists")
    return None


def _cron_field_reason(fields: list[str]) -> str:
    """The first value out of its field's range, bad step or unknown name, e.g. "the hour field 25 is outside
    0-23"; "" when none is found (croniter's own message is quoted then)."""
    for (name, low, high, names), field in zip(_CRON_FIELDS, fields, strict=True):
        for part in field.split(","):
            body, slash, step = part.partition("/")
            if slash and not (step.isdigit() and int(step) > 0):
                return f"the {name} field {field} has step {step!r}; a step is a whole number from 1"
            for value in [] if body in ("*", "?") else body.split("-"):
                where = f"the {name} field {value}" if value == field else f"the {name} field {field}: {value}"
                if value.isdigit() and not low <= int(value) <= high:
                    return f"{where} is outside {low}-{high}"
                if value.isalpha() and value.upper() not in names:
                    return (f"{where} is not a number {low}-{high}"
                            + (f" or one of {', '.join(names)}" if names else ""))
                if not value:
                    return f"the {name} field {field} has an empty value"
    return ""


def _cron_description(expression: str) -> str:
    """The description Airflow stores with a cron schedule (airflow.timetables._cron.CronMixin), or ""."""
    from cron_descriptor import CasingTypeEnum, ExpressionDescriptor, FormatException, MissingFieldException

    def describe(fields: list[str]) -> str:
        return ExpressionDescriptor(" ".join(fields), casing_type=CasingTypeEnum.Sentence,
                                    use_24hour_time_format=True).get_description()

    fields = expression.split()
    try:
        if fields[2] != "*" and fields[4] != "*":  # day of month OR day of week, described as both
            return f"{describe([*fields[:4], '*'])} (or) {describe([*fields[:2], '*', *fields[3:]])}"
        return describe(fields)
    except (FormatException, MissingFieldException):  # what Airflow catches to store ""
        return ""
