"""Headless Chromium (Debian's `chromium`) for tests that look at a page the way a user's browser does."""

from __future__ import annotations

import shutil
import subprocess
import tempfile

import pytest

# Without the background-networking flags Chromium keeps dialling Google's hosts, which this network refuses.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars")
# Airflow's UI is a single-page app: let its scripts fetch and render before the DOM dump or screenshot.
RENDER_BUDGET = "--virtual-time-budget=15000"


def chromium(url: str, *arguments: str) -> str:
    """Run headless Chromium on `url` with a throw-away profile; its stdout (the DOM with --dump-dom)."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail("Debian's chromium is not installed: apt-get install -y --no-install-recommends chromium")
    with tempfile.TemporaryDirectory(prefix="llf-chromium-") as profile:
        done = subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments, url],
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
