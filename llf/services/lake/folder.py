"""The lake as a local folder: the default in local mode, no server needed."""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

from llf.exceptions import ConfigurationError
from llf.services.lake.base import (
    CHUNK_BYTES,
    LakeData,
    LakePathError,
    LakeWriteError,
    byte_chunks,
    clean_key,
    clean_prefix,
    key_under,
)

# Errors that mean the lake folder itself is misconfigured (LLF_LAKE_URL), not that this one write failed.
_SETTING_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS}


@dataclass(frozen=True)
class FolderLake:
    """Objects are files under `root`; keys are their paths relative to it."""

    root: Path

    @classmethod
    def from_url(cls, url: str) -> FolderLake:
        """Open `file:///abs/folder`, creating it, and fail early with the setting to fix when unwritable."""
        parts = urlsplit(url)
        root = Path(unquote(parts.path))
        if parts.netloc not in ("", "localhost") or not root.is_absolute():
            raise ConfigurationError(f"LLF_LAKE_URL={url!r} must be file:///absolute/folder.")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigurationError(
                f"The lake folder {root} (LLF_LAKE_URL) cannot be created: {error.strerror or error}."
            ) from error
        if not os.access(root, os.W_OK | os.X_OK) and not _own_part_writable(root):
            raise ConfigurationError(f"The lake folder {root} (LLF_LAKE_URL) is not writable.")
        return cls(root.resolve())

    def _file(self, path: str) -> Path:
        return self.root / clean_key(path)

    def put(self, path: str, data: LakeData) -> str:
        """Write all of `data` or nothing: readers see the old file or the new one, never a part of one.

        The bytes go to a hidden temporary file beside the target, are flushed to disk, then renamed over
        it; on any failure (disk full, a stream that breaks midway) the temporary file is removed.
        """
        target = self._file(path)
        chunks = byte_chunks(data)  # an unsupported type fails here, before anything is written
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, chunks)
        except OSError as error:
            if self._refused(error):
                raise ConfigurationError(
                    f"Cannot write {target} in the lake folder (LLF_LAKE_URL): {error.strerror or error}."
                ) from error
            raise LakeWriteError(
                f"Writing {clean_key(path)!r} to the lake ({target}) failed; nothing was stored: "
                f"{error.strerror or error}."
            ) from error
        except Exception as error:
            raise LakeWriteError(
                f"Writing {clean_key(path)!r} to the lake ({target}) failed; nothing was stored: "
                f"{type(error).__name__}: {error}"
            ) from error
        return self.location(path)

    def _refused(self, error: OSError) -> bool:
        """A permission or read-only error on the lake folder itself (not on the data being read):
        LLF_LAKE_URL names a folder this process cannot write, a setting to fix rather than one failed write."""
        return error.errno in _SETTING_ERRNOS and str(error.filename or "").startswith(str(self.root))

    def get(self, path: str) -> bytes:
        target = self._file(path)
        if not target.is_file():
            raise FileNotFoundError(f"No object {clean_key(path)!r} in the lake {self.root.as_uri()}.")
        return target.read_bytes()

    def stream(self, path: str, size: int = CHUNK_BYTES) -> Iterator[bytes]:
        target = self._file(path)
        try:
            file = target.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as error:
            raise FileNotFoundError(f"No object {clean_key(path)!r} in the lake {self.root.as_uri()}.") from error
        return _file_pieces(file, size)

    def list(self, prefix: str = "") -> list[str]:
        prefix = clean_prefix(prefix)
        start = self.root / prefix if prefix.endswith("/") or not prefix else (self.root / prefix).parent
        if not start.is_dir():
            return []
        keys = (file.relative_to(self.root).as_posix() for file in start.rglob("*") if file.is_file())
        return sorted(key for key in keys if key.startswith(prefix) and not _is_temporary(key))

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()

    def url(self, path: str) -> str:
        return self._file(path).as_uri()

    def location(self, path: str) -> str:
        return self._file(path).as_uri() + ("/" if path.endswith("/") else "")

    def key_of(self, location: str) -> str | None:
        return key_under(self.root.as_uri() + "/", location)

    def stored_key(self, path: str) -> str:
        target = self._file(path).resolve()
        if not target.is_relative_to(self.root):
            raise LakePathError(f"Lake path {path!r} is a link that leads out of the lake.")
        return target.relative_to(self.root).as_posix()


def _file_pieces(file: IO[bytes], size: int) -> Iterator[bytes]:
    with file:
        while piece := file.read(size):
            yield piece


def _write_atomically(target: Path, chunks: Iterable[bytes]) -> None:
    """Write `chunks` to a temporary file beside `target` and rename it over `target`; no trace on failure.

    The name is unique per call (two threads writing one key never share a file) and starts with '.' and
    ends with '.tmp', so list() never shows it. fsync before the rename: after a crash the target holds
    the old bytes or the new ones, never an empty file.
    """
    temporary = target.with_name(f".{target.name[:200]}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mode as open() would
    try:
        with os.fdopen(descriptor, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with suppress(FileNotFoundError):
            temporary.unlink()
        raise
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable; best effort, as some file systems cannot fsync a directory."""
    with suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _is_temporary(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith(".") and key.endswith(".tmp")


def _own_part_writable(root: Path) -> bool:
    """Whether a kernel under its stream's own OS user may write its stream's part of the lake, where only that
    part is its to write (llf.runner.kernel_user): a lake it cannot write at the root is still its lake."""
    from llf.services.lake.streams import stream_prefix
    from llf.settings import LAKE_STREAM

    stream = LAKE_STREAM.read()
    return bool(stream) and os.access(root / stream_prefix(stream), os.W_OK | os.X_OK)
