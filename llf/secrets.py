"""Hiding the secrets of connection strings and service URLs before they are shown anywhere.

A connection string reaches messages, logs, the run log and output notebooks only through `redact` (and a
driver error about it only through `redact_message`). Connection strings come in two forms libpq reads:
URLs (`postgresql://user:pw@host/db?sslpassword=...`) and keyword DSNs (`host=h password='a b'`), and a
secret can sit in the userinfo, in a query parameter or in a keyword, percent-encoded, quoted, several
times, or in a malformed string libpq rejects while quoting the piece it could not read. Providers of
other services (an LLM endpoint, a vector store) hide their URLs here too, without touching a database.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import psycopg2
from psycopg2.extensions import make_dsn, parse_dsn

MASK = "***"
# Parameter names whose value is hidden: libpq's password and sslpassword, and the API keys, tokens and
# signatures of other services' URLs (an OpenAI-compatible base URL, a presigned S3 URL). Over-matching
# (sslkey, passfile: file paths) only hides a path.
_SECRET_NAME = re.compile(r"pass|secret|token|key|signature|credential", re.IGNORECASE)
# Short names that are secrets as a whole name only: `sig` (an Azure SAS signature), `code` (an OAuth
# authorization code, an Azure Functions key), `auth`, `authorization`, `pwd`, `jwt`. Inside a longer name they
# mostly are not (`design`, `country_code`, `author`), and hiding those would hide ordinary data.
_SECRET_WHOLE_NAMES = frozenset(("sig", "code", "auth", "authorization", "pwd", "jwt"))
# Schemes whose URL user name, given with no password, is itself the credential: Git hosts take a token as the
# user name (https://<token>@github.com), APIs a key (https://<key>:@api.stripe.com), S3 URLs an access key.
# Elsewhere a lone user name is a login (postgresql://llf_notebook@h, ssh://git@h) or a container
# (abfss://container@account) and stays visible.
_TOKEN_USER_SCHEMES = frozenset(("http", "https", "s3", "s3a", "s3n", "ws", "wss"))
_URL_SCHEME = re.compile(r"\s*[A-Za-z][A-Za-z0-9+.-]*://")
# libpq's connection keywords (PostgreSQL 17; `ssl` is a URL alias). Only one of them ends an unquoted secret
# value: in `password=a b=c dbname=d` the password is `a b=c` (libpq rejects the string, quoting `b`).
_LIBPQ_KEYWORDS = frozenset((
    "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "require_auth", "channel_binding",
    "connect_timeout", "client_encoding", "options", "application_name", "fallback_application_name",
    "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
    "replication", "gssencmode", "sslmode", "requiressl", "sslnegotiation", "sslcompression", "sslcert", "sslkey",
    "sslpassword", "sslcertmode", "sslrootcert", "sslcrl", "sslcrldir", "sslsni", "requirepeer",
    "ssl_min_protocol_version", "ssl_max_protocol_version", "krbsrvname", "gsslib", "gssdelegation", "service",
    "target_session_attrs", "load_balance_hosts", "min_protocol_version", "max_protocol_version", "ssl",
))
_NEXT_KEYWORD = "|".join(sorted(_LIBPQ_KEYWORDS, key=len, reverse=True))
# libpq's `keyword = value`: a value is single-quoted (backslash escapes), or runs to the whitespace before
# the next libpq `keyword =`, so an unquoted value with spaces is hidden whole.
_KEYWORD = re.compile(
    r"(?<![\w.-])(?P<key>[A-Za-z_][\w.-]*)\s*=\s*"
    rf"(?P<value>'(?:\\.|[^\\'])*(?:'|$)|.*?(?=\s+(?:{_NEXT_KEYWORD})\s*=|\s*$))",
    re.DOTALL,
)
_QUERY_PARAM = re.compile(r"[?&]([^?&=]*)=")
_PLAIN_QUERY = re.compile(r"[A-Za-z_][\w.%-]*=[^&]*(?:&[A-Za-z_][\w.%-]*=[^&]*)*")

Span = tuple[int, int]


def redact(url: str) -> str:
    """`url` (a connection URL, keyword DSN or any service URL) with every secret replaced by ***.

    Anything else is returned unchanged. What libpq itself reads as a password is checked last: should
    the string fool the masking, the canonical `key=value` form is returned with those values hidden.
    """
    redacted = _masked(url, _secret_spans(url))
    return redacted if _libpq_sees_no_secret(redacted, url) else _canonical(url)


def redact_message(message: str, url: str) -> str:
    """`message` (e.g. a driver error about `url`) without any piece of the secrets `redact` hides.

    libpq quotes what it could not read (`missing "=" after "b"`, `invalid integer value "pa"`), which
    can be part of a malformed password, itself holding quotes. So the text between any two quotes goes
    when it overlaps a secret or comes from where one is in `url`; and each secret goes wherever it is.
    """
    spans, secrets = _secret_spans(url), _secret_pieces(url)
    if not secrets:
        return message
    segments = message.split('"')
    for index in range(1, len(segments) - 1):  # each stretch between two quotes
        piece = segments[index]
        if piece and (any(_overlap(piece, secret) for secret in secrets) or _taken_from(piece, url, spans)):
            segments[index] = MASK
    message = '"'.join(segments)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 3:  # shorter ones would mangle every word; they are hidden when quoted
            message = message.replace(secret, MASK)
    return message


def _overlap(piece: str, secret: str) -> bool:
    """Whether a quoted piece holds a secret or part of one (three characters in a row, or all of a shorter one)."""
    if piece in secret or secret in piece:
        return True
    return any(piece[at:at + 3] in secret for at in range(len(piece) - 2))


def _taken_from(piece: str, url: str, spans: list[Span]) -> bool:
    """Whether `piece` occurs in `url` overlapping one of the secret `spans`."""
    at = url.find(piece)
    while at >= 0:
        if any(start < at + len(piece) and at < end for start, end in spans):
            return True
        at = url.find(piece, at + 1)
    return False


def _masked(text: str, spans: list[Span]) -> str:
    parts, last = [], 0
    for start, end in sorted(spans):
        if start >= last:
            parts += [text[last:start], MASK]
            last = end
        elif end > last:
            last = end
    return "".join([*parts, text[last:]])


def _secret_spans(text: str) -> list[Span]:
    """Where the secrets of `text` are: a URL's userinfo password and secret query parameters, or a DSN's."""
    scheme = _URL_SCHEME.match(text)
    return _url_spans(text, scheme.end()) if scheme else _keyword_spans(text)


def _url_spans(url: str, start: int) -> list[Span]:
    """The password in the userinfo and the secret query parameters of a URL (`start`: after `://`)."""
    at = _userinfo_end(url, start)
    spans = []
    if at >= 0:
        colon = url.find(":", start, at)
        if 0 <= colon < at - 1:
            spans.append((colon + 1, at))
        elif _user_is_token(url, start, at if colon < 0 else colon):
            spans.append((start, at if colon < 0 else colon))
    return spans + _query_spans(url, start)


def _user_is_token(url: str, start: int, end: int) -> bool:
    """Whether the user name `url[start:end]`, given with no password, is a credential: on a scheme of
    _TOKEN_USER_SCHEMES (alone or in a `git+https` pair), and plainly a user name (no '/', '?' or '#' in it:
    `https://medium.com/@someone` has an '@' in its path, not a user)."""
    scheme = url[:start].strip().removesuffix("://").lower()
    return (end > start and not _TOKEN_USER_SCHEMES.isdisjoint(scheme.split("+"))
            and not any(mark in url[start:end] for mark in "/?#"))


def _is_secret_name(name: str) -> bool:
    """Whether a query parameter or keyword called `name` (percent-decoded) holds a secret."""
    return bool(_SECRET_NAME.search(name)) or name.lower() in _SECRET_WHOLE_NAMES


def _userinfo_end(url: str, start: int) -> int:
    """The '@' ending the userinfo, -1 when there is none.

    libpq ends the userinfo at the first '@' before a '/', urllib at the last '@' before one of '/?#'.
    When they agree and no other '@' could end it (none in the path, none in a query libpq would not read),
    that is the one; otherwise an unencoded '/', '?', '#' or '@' in the password makes the URL ambiguous,
    and everything up to the last '@' may be the password.
    """
    libpq_at = url.find("@", start, _index(url, "/", start))
    urllib_at = url.rfind("@", start, min(_index(url, mark, start) for mark in "/?#"))
    after = max(urllib_at + 1, start)
    query = _index(url, "?", after)
    if libpq_at == urllib_at and "@" not in url[after:query] and (
            "@" not in url[query:] or _readable_query(url, query)):
        return urllib_at
    return url.rfind("@", start)


def _readable_query(url: str, query: int) -> bool:
    """Whether the query from index `query` is plain `name=value&...`, and read by libpq for its URLs."""
    if not _PLAIN_QUERY.fullmatch(url, query + 1):
        return False
    if not url.lstrip().startswith(("postgresql://", "postgres://")):
        return True
    return _libpq_secrets(url) is not None  # None: libpq cannot parse it


def _query_spans(url: str, start: int) -> list[Span]:
    """Secret values of `?a=1&password=x`, anywhere after `start` (in a malformed URL the query can seem to
    start inside the password). A value runs to the next `&name=`, so an unencoded '&' in it stays hidden."""
    params = list(_QUERY_PARAM.finditer(url, start))
    libpq = url.lstrip().startswith(("postgresql://", "postgres://"))
    next_params = [param.start() for param in params if url[param.start()] == "&"  # '?' starts none in a query
                   and (not libpq or unquote(param.group(1)) in _LIBPQ_KEYWORDS)]
    spans = []
    for param in params:
        if _is_secret_name(unquote(param.group(1))):
            end = next((at for at in next_params if at > param.end()), len(url))
            if end > param.end():
                spans.append((param.end(), end))
    return spans


def _keyword_spans(text: str) -> list[Span]:
    """Secret values of a keyword DSN, and the secrets of any value that is itself a connection string
    (libpq expands a `dbname` holding one)."""
    spans = []
    for match in _KEYWORD.finditer(text):
        start, end = match.span("value")
        value = match.group("value")
        if _is_secret_name(match.group("key")):
            if end > start:
                spans.append((start, end))
        elif "=" in value or "://" in value:
            inner = 1 if value.startswith("'") else 0
            closing = 1 if inner and len(value) > 1 and value.endswith("'") else 0
            spans += [(start + inner + s, start + inner + e)
                      for s, e in _secret_spans(text[start + inner:end - closing])]
    return spans


def _index(text: str, mark: str, start: int) -> int:
    found = text.find(mark, start)
    return len(text) if found < 0 else found


def _libpq_secrets(dsn: str) -> list[str] | None:
    """The secret values libpq reads in `dsn` (a nested connection string in dbname too); None: unparsable."""
    try:
        options = parse_dsn(dsn)
    except (psycopg2.ProgrammingError, UnicodeDecodeError):  # malformed, or percent-encodes no UTF-8
        return None
    found = [value for key, value in options.items() if _is_secret_name(key)]
    nested = options.get("dbname", "")
    if "=" in nested or "://" in nested:
        found += _libpq_secrets(nested) or []
    return found


def _libpq_sees_no_secret(redacted: str, original: str) -> bool:
    """Whether libpq reads nothing but *** where `original` had secrets (true when it cannot read it)."""
    if not _libpq_secrets(original):
        return True
    left = _libpq_secrets(redacted)
    return left is not None and all(value == MASK for value in left)


def _canonical(url: str) -> str:
    """libpq's reading of `url` as `key=value` pairs, secrets hidden: the fallback when masking the text
    itself left one visible."""
    options = parse_dsn(url)
    for key, value in options.items():
        if _is_secret_name(key):
            options[key] = MASK
        elif key == "dbname" and ("=" in value or "://" in value):
            options[key] = redact(value)
    return make_dsn(**options)


def _secret_pieces(url: str) -> set[str]:
    """Every form a secret of `url` can take in a message: as written, unquoted, percent-decoded, as read."""
    pieces = set(_libpq_secrets(url) or [])
    for start, end in _secret_spans(url):
        raw = url[start:end]
        pieces |= {raw, raw.strip("'"), unquote(raw), unquote(raw).strip("'")}
    return {piece for piece in pieces if piece and piece != MASK}
