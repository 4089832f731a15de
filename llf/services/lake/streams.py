"""A stream's part of the lake: `streams/<stream>/`, the only keys nb.lake() reads and writes in a stream's kernel.

The SDK's view: a notebook of stream S names keys as before (`examples/s/2024-01-31/raw.csv`), and they are stored
under streams/S/; a key climbing out of it (`../T/x`, an absolute path) is refused. The view alone stops no
hostile code (the kernel holds the lake's credentials); what enforces it is the lake itself, through the same
prefix (stream_prefix): the folder lake by the permissions of the kernel's OS user, MinIO by a policy per stream
(docs, Security). Run outputs stay under runs/ (llf.services.lake.runs): the runner writes them, not notebooks.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from llf.services.lake.base import CHUNK_BYTES, Lake, LakeData, LakePathError, clean_key, clean_prefix
from llf.services.lake.runs import NO_STREAM

STREAMS_PREFIX = "streams/"
_STREAM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}")  # cntl_cfg_strem.strem_nm's own check (0002)


def stream_prefix(strem_nm: str | None) -> str:
    """The lake prefix of a stream's notebooks, ending in '/': streams/<stream>/ (streams/_no_stream/ for a
    process run on its own). One definition for the SDK, the folder lake's permissions and MinIO's policies."""
    name = strem_nm or NO_STREAM
    if not _STREAM_NAME.fullmatch(name) or name in (".", ".."):
        raise LakePathError(f"{name!r} is not a stream name: letters, digits, _ . - (and not . or ..)")
    return f"{STREAMS_PREFIX}{name}/"


class StreamLake:
    """`lake` seen from one stream: every key below stream_prefix(strem_nm), and no other."""

    def __init__(self, lake: Lake, strem_nm: str | None) -> None:
        self.lake = lake
        self.prefix = stream_prefix(strem_nm)

    def _key(self, path: str) -> str:
        return self.prefix + clean_key(path)  # clean_key refuses '..' and absolute paths: nothing climbs out

    def _relative(self, key: str | None) -> str | None:
        return key[len(self.prefix):] if key is not None and key.startswith(self.prefix) else None

    def put(self, path: str, data: LakeData) -> str:
        return self.lake.put(self._key(path), data)

    def get(self, path: str) -> bytes:
        return self.lake.get(self._key(path))

    def stream(self, path: str, size: int = CHUNK_BYTES) -> Iterator[bytes]:
        return self.lake.stream(self._key(path), size)

    def list(self, prefix: str = "") -> list[str]:
        """Keys relative to the stream's prefix, as the notebook put them."""
        keys = self.lake.list(self.prefix + clean_prefix(prefix))
        return [key for key in map(self._relative, keys) if key is not None]

    def exists(self, path: str) -> bool:
        return self.lake.exists(self._key(path))

    def url(self, path: str) -> str:
        return self.lake.url(self._key(path))

    def location(self, path: str) -> str:
        return self.lake.location(self._key(path))

    def key_of(self, location: str) -> str | None:
        """The stream-relative key of a location of this stream's part of the lake; None for any other."""
        return self._relative(self.lake.key_of(location))

    def stored_key(self, path: str) -> str:
        """As Lake.stored_key, and LakePathError when a link leads out of the stream's part."""
        key = self._relative(self.lake.stored_key(self._key(path)))
        if key is None:
            raise LakePathError(f"Lake path {path!r} leads out of {self.prefix}")
        return key
