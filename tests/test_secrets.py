"""`llf.secrets.redact` and the errors of `llf.db.connect`: no form of connection string shows its secrets.

Every secret below is distinctive (`pw…`, `kp…`), so "it does not appear" cannot pass by accident.
"""

from __future__ import annotations

import traceback

import pytest

from llf.db import connect
from llf.exceptions import ControlDatabaseError
from llf.secrets import redact, redact_message

HIDDEN = [
    # keyword DSNs
    ("host=x password=pwPlain dbname=y", "host=x password=*** dbname=y", ["pwPlain"]),
    ("host=x password='pw quoted' dbname=y", "host=x password=*** dbname=y", ["pw quoted", "quoted"]),
    ("host=x password = 'pw\\'esc' dbname=y", "host=x password = *** dbname=y", ["pw\\'esc", "esc"]),
    ("password=pwFirst host=x", "password=*** host=x", ["pwFirst"]),
    ("host=x dbname=y password=pwLast", "host=x dbname=y password=***", ["pwLast"]),
    ("host=x sslpassword=kpKey password=pwTwo", "host=x sslpassword=*** password=***", ["kpKey", "pwTwo"]),
    ("host=x password=pwOne password=pwAgain", "host=x password=*** password=***", ["pwOne", "pwAgain"]),
    ("host=x password=pwMal formed dbname=y", "host=x password=*** dbname=y", ["pwMal", "formed"]),
    ("host=x password='pwUnterminated dbname=y", "host=x password=***", ["pwUnterminated"]),
    ("dbname='host=h password=pwNested'", "dbname='host=h password=***'", ["pwNested"]),
    ("dbname=postgresql://u:pwInner@h/db host=x", "dbname=postgresql://u:***@h/db host=x", ["pwInner"]),
    # URLs: userinfo
    ("postgresql://u:pwUser@h:5432/db", "postgresql://u:***@h:5432/db", ["pwUser"]),
    ("postgres://u:pw%40%2F%3Fenc@h/db", "postgres://u:***@h/db", ["pw%40%2F%3Fenc", "pw@/?enc", "enc"]),
    ("postgresql://u:pwAt@sign@h/db", "postgresql://u:***@h/db", ["pwAt", "sign"]),
    ("postgresql://u:pwQ?mark@h/db", "postgresql://u:***@h/db", ["pwQ", "mark"]),
    ("postgresql://u:pwHash#tag@h/db", "postgresql://u:***@h/db", ["pwHash", "tag"]),
    ("postgresql://u:pwSl/ash@h/db", "postgresql://u:***@h/db", ["pwSl", "ash"]),
    ("postgresql://u:pwMulti@h1:5432,h2:5433/db", "postgresql://u:***@h1:5432,h2:5433/db", ["pwMulti"]),
    ("postgresql://u:pwV6@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db", ["pwV6"]),
    # URLs: query parameters
    ("postgresql://h/db?password=pwQuery", "postgresql://h/db?password=***", ["pwQuery"]),
    ("postgresql://h/db?user=u&password=pwMid&sslmode=require",
     "postgresql://h/db?user=u&password=***&sslmode=require", ["pwMid"]),
    ("postgresql:///db?host=/tmp/s&password=pw%20sp&sslpassword=kpSsl",
     "postgresql:///db?host=/tmp/s&password=***&sslpassword=***", ["pw%20sp", "pw sp", "kpSsl"]),
    ("postgresql://h/db?pass%77ord=pwEncodedName", "postgresql://h/db?pass%77ord=***", ["pwEncodedName"]),
    ("postgresql://h/db?password=pwAmp&ersand&sslmode=require",
     "postgresql://h/db?password=***&sslmode=require", ["pwAmp", "ersand"]),
    ("postgresql://u:pwBoth@h/db?password=pwAlso", "postgresql://u:***@h/db?password=***", ["pwBoth", "pwAlso"]),
    # other services' URLs
    ("https://api.example.com/v1?api-key=kpApi", "https://api.example.com/v1?api-key=***", ["kpApi"]),
    ("http://user:kpProxy@ollama:11434", "http://user:***@ollama:11434", ["kpProxy"]),
    ("postgresql+psycopg2://u:pwAlchemy@h/db", "postgresql+psycopg2://u:***@h/db", ["pwAlchemy"]),
]


@pytest.mark.parametrize(("url", "expected", "secrets"), HIDDEN, ids=[case[0] for case in HIDDEN])
def test_given_a_connection_string_with_secrets_when_redacted_then_none_shows_and_the_rest_stays(
    url: str, expected: str, secrets: list[str]
) -> None:
    redacted = redact(url)

    assert redacted == expected
    assert not [secret for secret in secrets if secret in redacted]


@pytest.mark.parametrize("url", [
    "postgresql://u@h:5432/db",
    "postgresql://h/db?sslmode=require&application_name=a@b",
    "postgresql:///db?host=/tmp/socket",
    "postgresql://postgres:@/postgres?host=/tmp/pg",
    "host=x port=5432 dbname=y user=u",
    "http://127.0.0.1:11434",
    "/models/gemma-3-270m.gguf",
    "",
])
def test_given_a_string_without_secrets_when_redacted_then_it_is_unchanged(url: str) -> None:
    assert redact(url) == url


@pytest.mark.parametrize(("url", "secrets"), [
    ("host=/nonexistent password=pwBroken frag dbname=y", ["pwBroken", "frag"]),  # libpq: missing "=" after "frag"
    ("postgresql://u:pwPort/xyz@h/db", ["pwPort", "xyz"]),  # libpq: invalid integer value "pwPort" for port
    ("postgresql://u:pw%zzBad@h/db", ["pw%zzBad", "zzBad"]),  # libpq: invalid percent-encoded token
    ("postgresql://h/db?password=pwAmp&tail", ["pwAmp", "tail"]),  # libpq: missing separator in "tail"
    ("postgresql://u:pwWhole@[::1/db", ["pwWhole"]),  # libpq quotes the whole URL
    ('postgresql://u:pwA@b"c@/d', ["pwA", 'b"c']),  # libpq: could not translate host name "b"c@"
    ('host=/nonexistent password=pwQuo"te fr"ag dbname=y', ["pwQuo", '"te', 'fr"ag']),  # quotes in the quoted piece
    ("postgresql://u:pw%C5Utf@/d", ["pw%C5Utf", "Utf"]),  # percent-encodes no UTF-8
    ("postgresql://u:pwDown@127.0.0.1:9/db", ["pwDown"]),  # unreachable
    ("postgresql:///db?host=/nonexistent&password=pwSocket", ["pwSocket"]),  # no such socket
])
def test_given_a_bad_or_unreachable_url_when_connecting_then_neither_the_error_nor_its_traceback_shows_a_secret(
    url: str, secrets: list[str]
) -> None:
    with pytest.raises(ControlDatabaseError) as raised:
        connect(url, connect_timeout=1)

    told = "".join(traceback.format_exception(raised.value))
    assert "control database" in str(raised.value)
    assert not [secret for secret in secrets if secret in told], told


def test_given_a_driver_message_quoting_part_of_a_password_when_redacted_then_that_part_goes() -> None:
    url = "host=h password=pwLeft right dbname=y"

    message = redact_message('invalid dsn: missing "=" after "right" in connection info string', url)

    assert message == 'invalid dsn: missing "=" after "***" in connection info string'
