"""The host name Airflow records for a task (`[core] hostname_callable`), one per local Celery worker.

Two `airflow celery worker` processes on one machine would both report the machine's name, and the run log
(cntl_cfg_log.hostname) and Airflow's task instances could not tell which of them ran an attempt. Each
worker of the local stack is started with its own name in WORKER_HOSTNAME_ENV; every other process (and a
worker on a real host of its own) falls back to the machine's name, as Airflow's default callable does.
"""

from __future__ import annotations

import socket

from llf.settings import WORKER_HOSTNAME

WORKER_HOSTNAME_ENV = WORKER_HOSTNAME.name
HOSTNAME_CALLABLE = f"{__name__}.worker_hostname"


def worker_hostname() -> str:
    """This process's worker name when the stack gave it one, else the machine's fully qualified name."""
    return WORKER_HOSTNAME.read() or socket.getfqdn()
