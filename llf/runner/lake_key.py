"""The lake key a notebook kernel gets: its stream's own temporary MinIO key (llf.services.lake.stream_keys).

The runner holds llf's key and the kernel must not: on an `s3://` lake the kernel's LLF_MINIO_* variables are
replaced by a key that reaches `streams/<stream>/` only and outlives the notebook's timeout, minted here, after
the bucket is made (a stream's key may not create it). A folder lake needs no key: the kernel's OS user is
what confines it (llf.runner.kernel_user).
"""

from __future__ import annotations

from llf.services.lake import open_lake
from llf.services.lake.s3 import MinioLake
from llf.services.lake.stream_keys import stream_key_env
from llf.settings import LAKE_KEY_SECONDS, LAKE_STREAM_KEYS, LAKE_URL

_TIMEOUT_MARGIN_SECONDS = 300
_MAX_SECONDS = 31_536_000  # MinIO's longest temporary key: a year


def kernel_lake_key(strem_nm: str | None, timeout_min: float | None) -> dict[str, str]:
    """The kernel's LLF_MINIO_* variables for stream `strem_nm` (none for a folder lake or with
    LLF_LAKE_STREAM_KEYS off); ConfigurationError, with its sentence, when MinIO will not mint the key."""
    url = LAKE_URL.read()
    if not url or not url.startswith("s3://") or not LAKE_STREAM_KEYS.value():
        return {}
    lake = open_lake(url)
    if isinstance(lake, MinioLake):
        lake.ensure_bucket()
    seconds = LAKE_KEY_SECONDS.value()
    if timeout_min:
        seconds = max(seconds, int(timeout_min * 60) + _TIMEOUT_MARGIN_SECONDS)
    return stream_key_env(url, strem_nm, min(seconds, _MAX_SECONDS))
