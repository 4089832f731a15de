"""What every lake backend shares: the interface, key checking, and turning data into bytes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Protocol, Union, cast

from llf.exceptions import LlfError
from llf.settings import default_lake_folder
from llf.text import control_character

if TYPE_CHECKING:
    import pandas

LakeData = Union[bytes, str, Path, IO[bytes], "pandas.DataFrame"]


# Data is copied into the lake in pieces of this size, so a large file or stream never sits whole in memory.
CHUNK_BYTES = 8 * 1024 * 1024


class LakePathError(LlfError, ValueError):
    """A lake path is absolute, climbs out of the lake root or holds a control character; lake paths are
    printable relative keys."""


class LakeWriteError(LlfError, OSError):
    """A write to the lake failed and stored nothing: the object there before, if any, is unchanged.

    An OSError too, so code that handled the disk or network errors of a write still does.
    """


class Lake(Protocol):
    """A store of objects addressed by relative keys such as `runs/s1/p1/2024-01-31/run_1/out.ipynb`."""

    def put(self, path: str, data: LakeData) -> str:
        """Store `data` at `path`; return the stored location (a file:// or s3:// URL)."""

    def get(self, path: str) -> bytes:
        """The bytes stored at `path`; FileNotFoundError when there are none."""

    def stream(self, path: str, size: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The bytes stored at `path` in pieces of at most `size`, so a large object never sits whole in memory.

        The object is opened now: FileNotFoundError comes before the first piece, while an HTTP answer can
        still be a 404. The object is closed when the pieces run out or the iterator is closed.
        """

    def list(self, prefix: str = "") -> list[str]:
        """Every key starting with `prefix`, sorted."""

    def exists(self, path: str) -> bool:
        """Whether an object is stored at `path`."""

    def url(self, path: str) -> str:
        """A URL a browser can open (presigned on MinIO)."""

    def location(self, path: str) -> str:
        """Where `path` is stored, as `put` returns it and the run log records it (file:// or s3:// URL); a
        path ending in '/' names a folder and keeps its '/'."""

    def key_of(self, location: str) -> str | None:
        """The key of a location of this lake (the inverse of `location`); None for a location elsewhere or
        one that is not a clean key (absolute, or climbing out with '..')."""

    def stored_key(self, path: str) -> str:
        """The key of the object actually read at `path`: on a folder lake a symbolic link is followed, so a
        check of the key and the read concern the same file; LakePathError when it leads out of the lake."""


def default_lake_url() -> str:
    """The folder `lake/` of the project (llf.settings.project_dir), for local mode with no setting at all."""
    return default_lake_folder().resolve().as_uri()


def clean_key(path: str | PurePosixPath) -> str:
    """`path` as a normalised relative key; absolute paths and `..` are refused: no write leaves the lake."""
    raw = str(path).replace("\\", "/")
    _refuse_control_characters(raw)
    key = PurePosixPath(raw)
    if key.is_absolute() or (len(raw) > 1 and raw[1] == ":"):
        raise LakePathError(f"Lake path {raw!r} is absolute; lake paths are relative keys like 'runs/x.csv'.")
    if ".." in key.parts:
        raise LakePathError(f"Lake path {raw!r} contains '..'; it would escape the lake root.")
    parts = [part for part in key.parts if part not in ("", ".")]
    if not parts:
        raise LakePathError(f"Lake path {raw!r} is empty; name an object such as 'runs/x.csv'.")
    return "/".join(parts)


def _refuse_control_characters(raw: str) -> None:
    """LakePathError for a key holding a control character (NUL, newline, DEL, C1...): a NUL makes every file
    system call fail with ValueError, a newline forges log lines, and no run writes such a key. Refused here,
    where every key is confined, so each caller (the runner, notebooks, the UI's outputs route) gets the same
    sentence instead of an error from deep in the backend."""
    found = control_character(raw)
    if found is not None:
        raise LakePathError(f"Lake path {raw!r} contains the control character {found!r}; "
                            "lake paths are printable keys like 'runs/x.csv'.")


def key_under(base: str, location: str) -> str | None:
    """The clean key of `location` below the lake location `base` (ending in '/'), else None."""
    if not location.startswith(base):
        return None
    try:
        return clean_key(location[len(base):])
    except LakePathError:
        return None


def clean_prefix(prefix: str) -> str:
    """A listing prefix: like a key, but empty is allowed and a trailing '/' is kept."""
    if not prefix:
        return ""
    key = clean_key(prefix)
    return key + "/" if prefix.endswith("/") else key


def to_bytes(data: LakeData) -> bytes:
    """Bytes for any accepted input: bytes, text (UTF-8), a local Path, a binary file, a DataFrame (CSV)."""
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, Path):
        return data.read_bytes()
    if hasattr(data, "to_csv"):
        buffer = io.StringIO()
        data.to_csv(buffer, index=False)
        return buffer.getvalue().encode("utf-8")
    if hasattr(data, "read"):
        content = data.read()
        return content.encode("utf-8") if isinstance(content, str) else bytes(content)
    raise TypeError(
        f"Cannot store a {type(data).__name__} in the lake: pass bytes, str, a Path, a file or a DataFrame."
    )


def byte_chunks(data: LakeData) -> Iterator[bytes]:
    """The bytes of `data` in pieces of at most CHUNK_BYTES: files and streams are read as they are written.

    The type is checked now, so an unsupported input fails before a write has started.
    """
    if isinstance(data, Path):
        return _file_chunks(data)
    if hasattr(data, "read") and not hasattr(data, "to_csv"):
        return _stream_chunks(cast("IO[bytes]", data))  # a file or stream: what has read() but is no DataFrame
    return iter([to_bytes(data)])


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        yield from _stream_chunks(file)


def _stream_chunks(stream: IO) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
