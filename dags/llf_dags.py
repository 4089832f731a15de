"""llf's Airflow DAGs, built from the control tables: nothing to edit here (llf.dags)."""
from llf.dags import build

globals().update(build())
