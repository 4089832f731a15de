"""The data lake: one interface over a local folder (`file://`) and MinIO / S3 (`s3://bucket/prefix`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llf.exceptions import ConfigurationError
from llf.services.lake.base import Lake, LakePathError, default_lake_url
from llf.settings import LAKE_URL

if TYPE_CHECKING:
    from llf.services.lake.s3 import MinioKeys

LAKE_URL_ENV = LAKE_URL.name

__all__ = ["LAKE_URL_ENV", "Lake", "LakePathError", "open_lake"]


def open_lake(url: str | None = None, *, keys: MinioKeys | None = None) -> Lake:
    """The lake at `url`, else LLF_LAKE_URL, else the folder `lake/` of the project root. An `s3://` lake is
    opened with the key pair of the settings `keys` (default llf's LLF_MINIO_ACCESS_KEY / _SECRET_KEY); a folder
    lake needs none."""
    url = url or LAKE_URL.read() or default_lake_url()
    if url.startswith("file://"):
        from llf.services.lake.folder import FolderLake

        return FolderLake.from_url(url)
    if url.startswith("s3://"):
        from llf.services.lake.s3 import MinioLake

        return MinioLake.from_url(url, keys) if keys else MinioLake.from_url(url)
    raise ConfigurationError(
        f"{LAKE_URL_ENV}={url!r} is not a lake URL: use file:///absolute/folder or s3://bucket/prefix."
    )
