"""The control plane inside the Airflow UI: a read-only FastAPI app mounted by the plugin (llf.ui.plugin).

`create_app()` builds it; the plugin only registers it with Airflow.
"""

from llf.ui.app import MOUNT_PREFIX, create_app

__all__ = ["MOUNT_PREFIX", "create_app"]
