"""The runner's connection lookup (llf.runner.connections) inside a generated task: Airflow's Task SDK.

`Connection.get` is what a hook in the task would call: on a worker it asks the secrets backends configured for
workers (the environment's AIRFLOW_CONN_<ID>, a Vault or cloud secrets backend) and then Airflow's execution API,
which reads the connections of the metadata DB (Admin → Connections) for the task; so it works on Celery workers
with no metadata DB access. Airflow also registers the password with its log masker, so the task log hides it.
"""

from __future__ import annotations

from airflow.sdk import Connection as AirflowConnection
from airflow.sdk.exceptions import AirflowNotFoundException

from llf.services.connections import Connection


def airflow_connection(conn_id: str) -> Connection | None:
    """The connection `conn_id` as Airflow has it, in the form the kernel gets; None when Airflow has none of that
    id. Any other failure (the execution API unreachable, a backend refusing access) is raised: the runner ends
    the attempt naming it."""
    try:
        found = AirflowConnection.get(conn_id)
    except AirflowNotFoundException:
        return None
    return Connection(conn_id=conn_id, conn_type=found.conn_type, host=found.host, port=found.port,
                      login=found.login, password=found.password, schema=found.schema,
                      extra=dict(found.extra_dejson), uri=found.get_uri())
