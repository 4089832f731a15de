"""Every llf DAG: one `stream__<strem_nm>` per active stream, one `process__<prcs_nm>` per active process.

Built from the control tables (schema cntl_af) by llf.dagbuild; nothing to edit here. The airflow
imports below are unused on purpose: the dag-processor pre-imports them once for all parses.
"""

import airflow.providers.standard.operators.empty
import airflow.providers.standard.operators.python
import airflow.providers.standard.operators.trigger_dagrun
import airflow.sdk  # noqa: F401

from llf.dagbuild import build_dags

globals().update(build_dags())
