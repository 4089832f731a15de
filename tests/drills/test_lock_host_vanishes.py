"""Drill: the worker host holding a run lock vanishes from the network.

A crashed or cut-off host closes nothing: its session stays open on the server, and with it the advisory
lock, until the server finds out the peer is gone. With only the OS's keepalive that takes two hours, so
the RUNNING row cannot be swept and the retry waits in pg_advisory_lock. Here the holder runs in a network
namespace (a host of its own) and takes the lock through llf's lock code; then its link goes down.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llf.control.lock import RunLockBusy, process_run_lock
from tests.drills.conftest import BUSINESS_DATE
from tests.support import netns

RELEASED_WITHIN = 30  # seconds after the cut; the lock session's keepalives give up after about 12
HOLDER_START_TIMEOUT = 90  # importing llf in a fresh interpreter on two busy cores

HOLDER = (
    "import datetime, sys, time\n"
    "from llf.control.lock import process_run_lock\n"
    "with process_run_lock(sys.argv[1], 'p', datetime.date.fromisoformat(sys.argv[2])):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(600)\n"
)

pytestmark = pytest.mark.skipif(bool(reason := netns.unavailable()), reason=reason or "")


def _free(url: str) -> bool:
    """Whether another session can take the lock of `p` now (taken through llf's lock code, then let go)."""
    try:
        with process_run_lock(url, "p", BUSINESS_DATE, wait_limit=dt.timedelta(seconds=1)):
            return True
    except RunLockBusy:
        return False


def _wait_until_held(url: str, holder: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + HOLDER_START_TIMEOUT
    while time.monotonic() < deadline and holder.poll() is None:
        if not _free(url):
            return
        time.sleep(0.5)
    raise AssertionError(f"the holder did not take the lock (exit code {holder.poll()})")


def test_given_a_lock_held_from_another_host_when_that_host_is_cut_off_then_the_lock_is_free_within_30_s(
    tmp_path: Path,
):
    with netns.other_host() as host, netns.tcp_postgres(tmp_path / "pgdata", host.server_address) as url:
        environment = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
        holder = subprocess.Popen(host.command(sys.executable, "-c", HOLDER, url, BUSINESS_DATE.isoformat()),
                                  env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            _wait_until_held(url, holder)

            host.cut_off()
            cut = time.monotonic()
            while not (released := _free(url)) and time.monotonic() - cut < RELEASED_WITHIN:
                time.sleep(0.5)
            waited = time.monotonic() - cut

            print(f"\nlock {'free again' if released else 'still held'} {waited:.1f} s after its host was cut off")
            assert released, f"the lock of a vanished host was still held {waited:.0f} s later"
            assert holder.poll() is None  # the host did not close anything: it is cut off, not dead
        finally:
            holder.kill()
            holder.wait(timeout=30)
