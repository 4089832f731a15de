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
    # a web or S3 URL's user name with no password is the credential itself (a Git token, an API key)
    ("https://ghp_tkGitHub@github.com/org/repo.git", "https://***@github.com/org/repo.git", ["ghp_tkGitHub"]),
    ("https://sk_tkStripe:@api.stripe.com/v1", "https://***:@api.stripe.com/v1", ["sk_tkStripe"]),
    ("git+https://tkPip@git.example.com/r.git", "git+https://***@git.example.com/r.git", ["tkPip"]),
    ("s3://AKtkAccess@bucket/prefix", "s3://***@bucket/prefix", ["AKtkAccess"]),
    ("https://tkBoth@h/x?sig=kpBoth", "https://***@h/x?sig=***", ["tkBoth", "kpBoth"]),
    # query parameters named for a signature, an auth code or a token, beside the pass/secret/token/key ones
    ("https://acct.blob.core.windows.net/c/b?sv=2024&se=2026&sp=r&sig=kpSas%2Bsig",
     "https://acct.blob.core.windows.net/c/b?sv=2024&se=2026&sp=r&sig=***", ["kpSas%2Bsig", "kpSas+sig"]),
    ("https://fn.azurewebsites.net/api/f?code=kpFunction", "https://fn.azurewebsites.net/api/f?code=***",
     ["kpFunction"]),
    ("https://app.example.com/cb?state=s1&code=kpOauth", "https://app.example.com/cb?state=s1&code=***",
     ["kpOauth"]),
    ("https://h/feed?auth=kpAuth&page=2", "https://h/feed?auth=***&page=2", ["kpAuth"]),
    ("https://h/x?Authorization=kpBearer", "https://h/x?Authorization=***", ["kpBearer"]),
    ("https://h/x?SIG=kpUpper", "https://h/x?SIG=***", ["kpUpper"]),
    ("https://h/x?pwd=pwShort", "https://h/x?pwd=***", ["pwShort"]),
    ("https://h/x?jwt=kpJwt", "https://h/x?jwt=***", ["kpJwt"]),
    ("https://h/x?access_token=kpAccess", "https://h/x?access_token=***", ["kpAccess"]),
    ("https://h/x?apikey=kpApikey", "https://h/x?apikey=***", ["kpApikey"]),
    ("https://b.s3.amazonaws.com/k?X-Amz-Credential=AKkpId%2F2026&X-Amz-Signature=kpAmzSig",
     "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***", ["AKkpId", "kpAmzSig"]),
    ("https://h/x?X-Amz-Security-Token=kpSession", "https://h/x?X-Amz-Security-Token=***", ["kpSession"]),
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
    # a database login name is not a secret, with or without an empty password
    "postgresql://llf_notebook@h/db",
    "postgresql://tkLogin:@h/db",
    "postgres+psycopg2://llf_owner@h/db",
    # a login or container in the user name of other schemes, an '@' in a path, harmless query names
    "ssh://git@github.com/org/repo.git",
    "abfss://container@acct.dfs.core.windows.net/path",
    "https://medium.com/@someone/a-post",
    "https://h/x?design=a&country_code=DE&signal=1&author=me",
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


def test_given_a_driver_message_quoting_a_token_user_name_when_redacted_then_the_token_goes() -> None:
    url = "https://ghp_tkQuoted@github.com/org/repo.git"

    message = redact_message('could not read from "https://ghp_tkQuoted@github.com": 403', url)

    assert "ghp_tkQuoted" not in message
