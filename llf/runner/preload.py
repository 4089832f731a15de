"""What every llf task loads, loaded once per Airflow worker instead of once per task.

Airflow (3.3+) can start its LocalExecutor workers from a forkserver that imported given modules,
and each task process is forked from a worker, so it inherits them. Set

    AIRFLOW__CORE__MP_START_METHOD=forkserver
    AIRFLOW__CORE__MP_FORKSERVER_PRELOAD=llf.runner.preload

and a task no longer spends about 3 s of CPU importing papermill and nbconvert and compiling the HTML
templates and lexer (bench/overhead.py shows where that goes); on a small machine running several
notebooks at once that CPU is wall time. The local stack and the tests' Airflow set both. Celery workers
(docker-compose.yml, local mode with --executor celery) import this module through
`[celery] extra_celery_config = {"imports": ["llf.runner.preload"]}`, in the worker's parent before its pool
forks. The forkserver ignores a preload module that fails to import, so a LocalExecutor worker without llf still
starts; a Celery worker whose image lacks llf stops at start, which is what a worker that cannot run llf should do.
"""

from __future__ import annotations

import llf.runner.tasks  # noqa: F401 - the runner, papermill, jupyter_client, the control-table model
from llf.runner.outputs import warm_html_exporter

warm_html_exporter()
