"""Files only their owner may read: the secrets local mode hands its servers (the broker's password, Jupyter's
token) go in a file, never on a command line, which every user of the machine reads in /proc/<pid>/cmdline."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """`text` into `path`, readable by its owner only from the first byte on (an existing file is narrowed too)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
