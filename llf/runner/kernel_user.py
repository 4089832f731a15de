"""The OS user a notebook's kernel runs as: its stream's own, never the worker's.

A kernel running as the worker's user can read the worker's secrets in /proc/<pid>/environ (the owner's DB URL,
Airflow's keys), rewrite the kernelspec and the installed packages every later kernel runs, and read another
stream's live kernel's connection file (its HMAC key: code execution in that kernel). So each kernel runs under a
uid and gid of its stream's (LLF_KERNEL_UID_BASE + strem_id), with no supplementary group:
the tenant is the stream, so two kernels of one stream may share a uid and kernels of two streams never do.

The switch is Popen's own (user=, group=, extra_groups=, umask=): the forked child drops groups, gid and uid in C,
between fork and exec, so no Python code ever runs privileged on the kernel's side, and the kernel's environment
goes straight to execve, never on a command line (/proc/<pid>/cmdline is world-readable). setreuid sets the real,
effective and saved uid at once, so the kernel cannot regain root; it starts with no capabilities (and, under
compose's no-new-privileges, can never gain any).

The task itself is made non-dumpable before any kernel starts: then even a kernel of the worker's own user (the
switch off, or a worker that is not root) cannot read the task's /proc/<pid>/environ.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from llf.exceptions import ConfigurationError, LlfError
from llf.services.lake import open_lake
from llf.services.lake.folder import FolderLake
from llf.services.lake.streams import stream_prefix
from llf.settings import KERNEL_UID_BASE, KERNEL_USERS, state_dir

log = logging.getLogger(__name__)

HIGHEST_UID = 65533  # below nobody/nogroup (65534) and the 16-bit 65535 many tools still read as "no uid"
# What the task needs to start and manage a kernel of another uid: the switch (SETUID, SETGID), handing it its
# folder (CHOWN), reaching that folder's sockets and cleaning up after it (DAC_OVERRIDE), stopping it (KILL).
NEEDED_CAPABILITIES = {0: "CAP_CHOWN", 1: "CAP_DAC_OVERRIDE", 5: "CAP_KILL", 6: "CAP_SETGID", 7: "CAP_SETUID"}
NOT_ISOLATED = ("notebook kernels are not isolated: {problem}, so each kernel runs as the worker's own user and can "
                "write the kernelspec, the installed packages and llf's state, read other streams' kernels' "
                "connection files, and read /proc/<pid>/environ of every other process of that user (this task's "
                "own is closed: it is not dumpable). Run the workers as root with those capabilities (compose does) "
                "and LLF_KERNEL_USERS on (docs, Security)")
_PR_SET_DUMPABLE, _PR_GET_DUMPABLE = 4, 3


@dataclass(frozen=True)
class KernelUser:
    """Who a kernel runs as: its stream's uid and gid."""

    uid: int
    gid: int

    def popen_arguments(self) -> dict[str, object]:
        """What Popen switches to in the kernel's child before exec: no supplementary group at all, and umask 022,
        so what a kernel writes (its stream's part of a folder lake) the others may read, never change."""
        return {"user": self.uid, "group": self.gid, "umask": 0o022, "extra_groups": []}


def uid_for(strem_id: int) -> int:
    """The uid (and gid) of stream `strem_id`'s kernels; ConfigurationError past the range."""
    uid = KERNEL_UID_BASE.value() + strem_id
    if strem_id < 1 or uid > HIGHEST_UID:
        raise ConfigurationError(
            f"stream {strem_id} would run its kernels as uid {uid}, past {HIGHEST_UID}: lower LLF_KERNEL_UID_BASE "
            f"(now {KERNEL_UID_BASE.value()}) so that it plus the highest stream id stays at most {HIGHEST_UID}")
    return uid


def isolation_problem(euid: int | None = None, capabilities: int | None = None) -> str | None:
    """Why kernels cannot run under their streams' users here, as a clause; None when they can.

    `euid` and `capabilities` (a CapEff mask) default to this process's.
    """
    if not KERNEL_USERS.value():
        return "LLF_KERNEL_USERS is off"
    if not sys.platform.startswith("linux"):
        return f"kernel users need Linux, not {sys.platform}"
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        return f"this worker runs as uid {euid}, not root"
    capabilities = effective_capabilities() if capabilities is None else capabilities
    missing = [name for bit, name in sorted(NEEDED_CAPABILITIES.items()) if not capabilities >> bit & 1]
    if missing:
        return f"this worker runs as root but lacks {', '.join(sorted(missing))}"
    return interpreter_problem()


def interpreter_problem() -> str | None:
    """Why a kernel user could not run this Python or import ipykernel (a folder on its way closed to other
    users, e.g. a pyenv under a 0700 /root), as a clause; None when every folder from / to the interpreter, its
    prefixes and ipykernel lets others through. Checked, not found out by runs failing "Permission denied"."""
    kernel = importlib.util.find_spec("ipykernel")
    packages = [] if kernel is None or kernel.origin is None else [Path(kernel.origin)]
    for path in (Path(sys.executable), Path(os.path.realpath(sys.executable)), Path(sys.prefix),
                 Path(sys.base_prefix), *packages):
        closed = closed_to_others(path)
        if closed is not None:
            return (f"the Python at {sys.executable} or its packages cannot be used by another user: {closed} is "
                    f"closed to other users (mode {closed.stat().st_mode & 0o777:o}; they need at least o+x on it)")
    return None


def closed_to_others(path: Path) -> Path | None:
    """The first folder from / down to `path` that other users may not pass (o+x), or `path` itself when they may
    not use it (a folder they cannot pass, a file they can neither read nor run); None when all is open."""
    for step in (*reversed(path.parents), path):
        try:
            mode = step.stat().st_mode
        except OSError:
            return step
        is_file = step == path and not stat.S_ISDIR(mode)
        if not mode & (0o005 if is_file else 0o001):
            return step
    return None


def effective_capabilities() -> int:
    """This process's effective capability mask (CapEff in /proc/self/status); 0 when it cannot be read."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def kernel_user_for(strem_id: int | None) -> KernelUser | None:
    """The user stream `strem_id`'s kernel runs as; None (with the warning saying what that leaves open, once per
    task: one call per attempt) when this worker cannot switch users or the switch is off."""
    problem = isolation_problem()
    if problem is not None:
        log.warning(NOT_ISOLATED.format(problem=problem))
        return None
    if strem_id is None:
        raise ConfigurationError("the process belongs to no stream, so its kernel has no user of its own")
    uid = uid_for(strem_id)
    return KernelUser(uid, uid)


def make_non_dumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0) for this process: its /proc/<pid>/environ, mem and fds then belong to root, and
    another process of the same user cannot read them. Linux only; elsewhere, and where prctl fails, nothing."""
    _prctl(_PR_SET_DUMPABLE, 0)


def dumpable() -> bool | None:
    """Whether this process is dumpable (None where that cannot be asked)."""
    answer = _prctl(_PR_GET_DUMPABLE, 0)
    return None if answer is None else answer == 1


def _prctl(option: int, value: int) -> int | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        answer = int(libc.prctl(option, value, 0, 0, 0))
    except (OSError, AttributeError):
        return None
    return None if answer < 0 else answer


def close_state_dir() -> None:
    """Take every right of "others" off llf's state dir (the snapshot cache, unstored outputs), so a kernel user
    can neither read nor write it; owner and group keep theirs (compose shares it through group 0)."""
    folder = state_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        mode = folder.stat().st_mode
        if mode & 0o007:
            folder.chmod(mode & ~0o007 & 0o7777)
    except OSError as error:
        log.warning("could not close llf's state dir %s to kernel users: %s", folder, error.strerror or error)


def open_stream_folder(root: Path, prefix: str, user: KernelUser) -> None:
    """Let a stream's kernels write its part of the folder lake (`prefix`, llf.services.lake.streams), and nothing
    else: the lake's root and `streams/` stay the task's, readable by all and writable by none of the kernels; the
    stream's folder is its user's. A folder made before kernels had users of their own is handed over with all it
    holds, once (lchown: a link in it is not followed)."""
    folder = root / prefix
    folder.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    for shared in (root, folder.parent):  # the lake's root and streams/: the task's alone to write, whatever umask
        mode = shared.stat().st_mode
        if mode & 0o022:
            shared.chmod(mode & ~0o022 & 0o7777)
    folder.mkdir(mode=0o755, exist_ok=True)
    if folder.lstat().st_uid == user.uid:
        return
    for path, folders, files in os.walk(folder):
        for name in (*folders, *files):
            os.lchown(os.path.join(path, name), user.uid, user.gid)
    os.chown(folder, user.uid, user.gid)


# The worker's own writable folders a kernel would otherwise be pointed at (allowlisted in kernel_env for a kernel of
# the worker's user): a kernel under its own user writes its caches and temporary files in its private HOME, and must
# never write where the worker's Python looks (a bytecode cache planted there runs in the worker).
WORKER_FOLDER_VARIABLES = frozenset({
    "IPYTHONDIR", "MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
    "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "PYTHONPYCACHEPREFIX", "TMP", "TEMP", "TMPDIR",
})


def without_worker_folders(env: dict[str, str]) -> dict[str, str]:
    """`env` less the worker's writable folders (WORKER_FOLDER_VARIABLES)."""
    return {name: value for name, value in env.items() if name not in WORKER_FOLDER_VARIABLES}


def private_home(folder: Path, user: KernelUser) -> dict[str, str]:
    """A HOME (and TMPDIR inside it) in the kernel's own folder, owned by its user, 0700: where IPython,
    matplotlib and notebook code keep caches and temporary files; removed with the folder when the run ends."""
    home = folder / "home"
    temporary = home / "tmp"
    for made in (home, temporary):
        made.mkdir(mode=0o700)
        os.chown(made, user.uid, user.gid)
    name = f"llf-kernel-{user.uid}"
    return {"HOME": str(home), "TMPDIR": str(temporary), "USER": name, "LOGNAME": name}


def hand_over(connection_file: Path, user: KernelUser) -> None:
    """Give the kernel its folder (sockets, HOME) and connection file: owned by its user, 0700 and 0600, so the
    task (root) still reaches them and no other stream's user can open the key in it."""
    folder = connection_file.parent
    for path, mode in ((folder, 0o700), (connection_file, 0o600)):
        path.chmod(mode)  # before chown: a root without CAP_FOWNER (compose) may chmod only what it owns
        os.chown(path, user.uid, user.gid)


def lake_folder() -> Path | None:
    """The folder lake's root; None for an s3 lake, or a lake that cannot be opened (storing the outputs fails
    later with the lake's own error, after the notebook ran, as it always did)."""
    try:
        lake = open_lake()
    except LlfError:
        return None
    return lake.root if isinstance(lake, FolderLake) else None


def prepare(strem_id: int | None, strem_nm: str | None) -> KernelUser | None:
    """The user this attempt's kernel runs as, with what it must and must not reach made so: llf's state dir
    closed to it, its stream's part of a folder lake its own. None: not isolated (warned)."""
    user = kernel_user_for(strem_id)
    if user is None:
        return None
    close_state_dir()
    folder = lake_folder()
    if folder is not None:
        open_stream_folder(folder, stream_prefix(strem_nm), user)
    return user
