"""The lake as a local folder: the default in local mode, no server needed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from llf.exceptions import ConfigurationError
from llf.services.lake.base import LakeData, clean_key, clean_prefix, to_bytes


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
        if not os.access(root, os.W_OK | os.X_OK):
            raise ConfigurationError(f"The lake folder {root} (LLF_LAKE_URL) is not writable.")
        return cls(root.resolve())

    def _file(self, path: str) -> Path:
        return self.root / clean_key(path)

    def put(self, path: str, data: LakeData) -> str:
        target = self._file(path)
        content = to_bytes(data)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            temporary.write_bytes(content)
            temporary.replace(target)  # readers never see half a file
        except OSError as error:
            raise ConfigurationError(
                f"Cannot write {target} in the lake folder (LLF_LAKE_URL): {error.strerror or error}."
            ) from error
        return target.as_uri()

    def get(self, path: str) -> bytes:
        target = self._file(path)
        if not target.is_file():
            raise FileNotFoundError(f"No object {clean_key(path)!r} in the lake {self.root.as_uri()}.")
        return target.read_bytes()

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


def _is_temporary(key: str) -> bool:
    return key.rsplit("/", 1)[-1].startswith(".") and key.endswith(".tmp")
