"""What a project's DAG file imports: every llf DAG, one `stream__<strem_nm>` per active stream and one
`process__<prcs_nm>` per active process, built from the control tables (llf.dagbuild).

Here in the package, so a project's DAG file (`llf init` writes `dags/llf_dags.py`) is two lines that never
change when llf does. The Airflow modules below are imported here on purpose: the dag-processor imports this
module once, so every later parse of the DAG file finds them loaded.
"""

from __future__ import annotations

import airflow.providers.standard.operators.empty
import airflow.providers.standard.operators.python
import airflow.providers.standard.operators.trigger_dagrun
import airflow.sdk  # noqa: F401
from airflow.sdk import DAG

from llf.dagbuild import build_dags


def build() -> dict[str, DAG]:
    """The DAGs by id, for the DAG file's module globals (where Airflow looks for them)."""
    return build_dags()
