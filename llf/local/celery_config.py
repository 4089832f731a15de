"""The Celery configuration of local mode's workers, which also preloads the runner into each worker.

`airflow celery worker` imports `[celery] celery_config_options` in its parent process, before Celery's prefork
pool forks its children; each task's supervisor then forks from a child, so whatever this module imported is
already in memory when a task starts. That is the Celery counterpart of LocalExecutor's forkserver preload
(llf.runner.preload, `[core] mp_forkserver_preload`): without it each task would import papermill and nbconvert
and compile the HTML exporter again. Only the workers point at this module; the scheduler keeps the
provider's default (same settings, nothing preloaded it does not need).
"""

from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

from llf.runner.tasks import warm_html_exporter

warm_html_exporter()

CELERY_CONFIG = DEFAULT_CELERY_CONFIG
