"""The executed notebook copied to the lake while it runs, so a task killed before it can store its outputs
still leaves them where its row points.

Airflow gives a stopped task 5 s between SIGTERM and SIGKILL (the supervisor's escalation), and a worker can be
SIGKILLed or lose its host at any moment. The runner stores the final notebook when the kernel ends; on a busy
worker the kernel's death alone can take longer than those 5 s to reach papermill, and then nothing was stored:
the sweep closes the row "abandoned" with no notebook to open (seen in the chaos soak at load 16). papermill saves
the executed notebook after every cell; this thread puts each saved version in the attempt's run folder, so the
lake holds the notebook as far as it had run a couple of seconds before any death. The final store overwrites it
with the complete notebook and adds the HTML.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from llf.context import RunContext
from llf.services.lake import open_lake
from llf.services.lake.runs import notebook_key, run_folder
from llf.text import one_line

log = logging.getLogger(__name__)

# How often the saved notebook is looked at: a death loses at most this much of the notebook's progress.
# Each look is one stat; a put happens only when papermill saved a new version (after a cell).
MIRROR_INTERVAL_S = 2.0
JOIN_TIMEOUT_S = 3.0


class _Mirror(threading.Thread):
    def __init__(self, context: RunContext, executed: Path, interval: float) -> None:
        super().__init__(name=f"llf-mirror-{context.prcs_nm}", daemon=True)
        self.executed, self.interval = executed, interval
        self.key = notebook_key(run_folder(context), context.prcs_nm)
        self.done = threading.Event()
        self._seen: tuple[int, int] | None = None
        self._warned = False

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.copy()

    def copy(self) -> None:
        """Put the saved notebook in the lake when papermill saved a new, complete version since the last put."""
        try:
            stat = self.executed.stat()
            version = (stat.st_mtime_ns, stat.st_size)
            if version == self._seen:
                return
            data = self.executed.read_bytes()
            json.loads(data)  # papermill writes in place: a half-written file waits for the next look
            open_lake().put(self.key, data)
            self._seen = version
        except FileNotFoundError:
            return  # papermill has not written it yet
        except ValueError:
            return
        except Exception as error:  # noqa: BLE001 - a copy is a safety net: the final store reports the lake's errors
            if not self._warned:
                log.warning("could not copy the running notebook to the lake (%s); its outputs are stored when it "
                            "ends", one_line(error))
                self._warned = True


@contextmanager
def mirrored(context: RunContext, executed: Path, interval: float = MIRROR_INTERVAL_S) -> Iterator[None]:
    """Copy `executed` to the attempt's run folder in the lake every `interval` seconds while the block runs.

    Stopped before the caller stores the final notebook, so no late copy overwrites it: the join waits for a put
    in progress, up to JOIN_TIMEOUT_S (a stopped task has 5 s in all), after which a lake that slow is said.
    """
    mirror = _Mirror(context, executed, interval)
    mirror.start()
    try:
        yield
    finally:
        mirror.done.set()
        mirror.join(JOIN_TIMEOUT_S)
        if mirror.is_alive():
            log.warning("the copy of the running notebook to the lake is still writing after %.0f s; the final "
                        "notebook is stored now and may be overwritten by that older copy", JOIN_TIMEOUT_S)
