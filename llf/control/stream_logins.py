"""Stream logins: the database login a stream's notebook kernel connects as, so that what it creates in llf_results
and llf_vectors is its stream's alone (llf/control/sql/0031_stream_logins.sql).

Each stream's role, llf_nb_<strem_id>_<database hash> (cntl_af.stream_role), is a member of llf_notebook and
owns what its notebooks create; the other streams' roles cannot read, write or drop it. Its password is derived,
not stored: HMAC-SHA256 keyed by the shared notebook login's password (LLF_NOTEBOOK_DB_URL, which the worker holds
and kernels never get) over the role's name. So there is no new secret to configure or rotate (changing the
notebook password changes every stream's with it, at each stream's next run), and no table holds one. The runner,
as the owner of cntl_af, makes the role a LOGIN with that password before the kernel starts (only its SCRAM
verifier travels, hashed on this side).

An owner that may not create roles (no CREATEROLE) keeps the shared login: each run warns once, naming what is not
isolated, and the run goes on as before.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from llf.db import transaction

log = logging.getLogger(__name__)

STREAM_OF_PROCESS_SQL = (
    "SELECT s.strem_nm, cntl_af.stream_role(s.strem_nm) FROM cntl_af.cntl_cfg_prcs p "
    "JOIN cntl_af.cntl_cfg_prcs_grp g ON g.prcs_grp_id = p.prcs_grp_id "
    "JOIN cntl_af.cntl_cfg_strem s ON s.strem_id = g.strem_id WHERE p.prcs_nm = %s"
)
ENSURE_LOGIN_SQL = "SELECT cntl_af.ensure_stream_role(%s, %s, %s)"
# Kernels of one stream starting together take turns (until commit): two ALTER ROLE of one role at once can fail
# with "tuple concurrently updated". Seeded like llf.control.lock's run locks, so it meets no other lock.
LOGIN_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%s, hashtextextended('llf.stream-login', 0)))"

NOT_ISOLATED = ("the notebooks of every stream share {login}: each can read, write and drop the llf_results tables "
                "and llf_vectors collections of the others")


def stream_password(notebook_password: str, role: str) -> str:
    """The password of a stream's login: stable for a notebook password and role, different for each role, and
    of no use for finding the notebook password or another stream's."""
    return hmac.new(notebook_password.encode("utf-8"), role.encode("utf-8"), hashlib.sha256).hexdigest()


def kernel_login_url(owner_url: str, notebook_url: str, prcs_nm: str, connection_limit: int) -> str:
    """The URL a kernel of `prcs_nm` connects with: its registered stream's login, made ready first; the shared
    notebook URL, with a warning, when the owner may not create or alter roles."""
    notebook = psycopg2.extensions.parse_dsn(notebook_url)
    password = notebook.get("password")
    try:
        role = _ensure_login(owner_url, prcs_nm, password, connection_limit)
    except psycopg2.errors.InsufficientPrivilege as refused:
        login = notebook.get("user") or "the notebook login"
        log.warning("%s: no login of its own for this stream (%s); %s. Give the owner of cntl_af CREATEROLE "
                    "(docs, Security).", prcs_nm, str(refused).strip().splitlines()[0],
                    NOT_ISOLATED.format(login=login))
        return notebook_url
    if role is None:
        return notebook_url
    return with_login(notebook_url, role, stream_password(password, role) if password else None)


def _ensure_login(owner_url: str, prcs_nm: str, password: str | None, connection_limit: int) -> str | None:
    """The login of the process's registered stream (never the run conf's word), made a LOGIN with the derived
    password and the limit; None for a process in no registered stream."""
    with transaction(owner_url) as cursor:
        cursor.execute(STREAM_OF_PROCESS_SQL, (prcs_nm,))
        row = cursor.fetchone()
        if row is None:
            return None
        strem_nm, role = row
        verifier = None
        if password:
            verifier = psycopg2.extensions.encrypt_password(stream_password(password, role), role, cursor.connection)
        cursor.execute(LOGIN_LOCK_SQL, (role,))
        cursor.execute(ENSURE_LOGIN_SQL, (strem_nm, verifier, connection_limit))
        return role


def with_login(url: str, user: str, password: str | None) -> str:
    """`url` (a postgresql:// URL or a keyword DSN) connecting as `user` with `password` (None: none): whatever user
    and password it named, in its credentials or its parameters, are gone, so the shared login's never leaks."""
    if "://" not in url:
        fields = {key: value for key, value in psycopg2.extensions.parse_dsn(url).items()
                  if key not in ("user", "password")}
        return psycopg2.extensions.make_dsn(**fields, user=user, **({"password": password} if password else {}))
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(key, value) for key, value in pairs if key not in ("user", "password")]
    query = parts.query if len(kept) == len(pairs) else urlencode(kept)
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}", query=query))
