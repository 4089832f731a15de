"""What the control-plane UI reads with: a database login and a lake key that can only read, not llf's own.

The UI shows the control tables and streams run outputs; it never writes. So it connects with LLF_UI_DB_URL (a
login in llf_ui_reader: SELECT on what the pages show, llf/control/sql/0032_ui_reader.sql) and opens an `s3://`
lake with LLF_UI_MINIO_ACCESS_KEY / _SECRET_KEY (a MinIO user that may only get objects under runs/,
docker/minio/init-lake.sh). Where they are not set, the UI still works, with llf's own URL and key (an
installation from before these settings), and the api-server log says once per setting which one to set: a
missing least-privilege setting never takes the control plane down.
"""

from __future__ import annotations

import logging

from llf.services.lake import Lake, open_lake
from llf.settings import (
    CONTROL_DB_URL,
    LAKE_URL,
    MINIO_ACCESS_KEY,
    UI_DB_URL,
    UI_MINIO_ACCESS_KEY,
    UI_MINIO_SECRET_KEY,
    control_db_url,
)

log = logging.getLogger(__name__)

_warned: set[str] = set()  # settings already named in the log by this process


def _warn_once(setting: str, message: str) -> None:
    """One warning per setting and process: the URL and the lake are resolved per request."""
    if setting not in _warned:
        _warned.add(setting)
        log.warning(message)


def ui_db_url() -> str:
    """LLF_UI_DB_URL, else the control DB URL (the owner of cntl_af), with one warning naming the setting."""
    url = UI_DB_URL.read()
    if url:
        return url
    _warn_once(UI_DB_URL.name, f"{UI_DB_URL.name} is not set: the llf control plane reads the control tables as "
                               f"their owner ({CONTROL_DB_URL.name}), who may also change them. Set it to a login "
                               "in the role llf_ui_reader (docs, Security).")
    return control_db_url()


def ui_lake() -> Lake:
    """The lake opened with the UI's read-only MinIO key pair; llf's own pair, with one warning naming the
    settings, when the UI's is not (fully) set. A folder lake needs no key."""
    access, secret = UI_MINIO_ACCESS_KEY.read(), UI_MINIO_SECRET_KEY.read()
    if access and secret:
        return open_lake(keys=(UI_MINIO_ACCESS_KEY, UI_MINIO_SECRET_KEY))
    if (LAKE_URL.read() or "").startswith("s3://"):
        missing = " and ".join(s.name for s, v in ((UI_MINIO_ACCESS_KEY, access), (UI_MINIO_SECRET_KEY, secret))
                               if not v)
        _warn_once(UI_MINIO_ACCESS_KEY.name, f"{missing} not set: the llf control plane reads the lake with "
                                             f"{MINIO_ACCESS_KEY.name}, which may also write it. Set both to a MinIO "
                                             "user that may only read runs/ (docs, Security).")
    return open_lake()
