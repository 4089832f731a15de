"""Airflow plugin: the llf control plane as a page of the Airflow UI (logic in llf.ui).

`fastapi_apps` mounts the read-only app in the api-server at /llf; `external_views` adds "Control plane"
to Airflow's navigation, shown inside the Airflow UI. The app requires Airflow's own login and shows each user
only the streams and processes whose DAGs Airflow's auth manager lets them read (llf.ui.auth).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from llf.ui import MOUNT_PREFIX, create_app


class LlfControlPlanePlugin(AirflowPlugin):
    name = "llf_control_plane"
    fastapi_apps = [{"app": create_app(), "url_prefix": MOUNT_PREFIX, "name": "llf control plane"}]
    external_views = [{
        "name": "Control plane",
        "href": MOUNT_PREFIX.lstrip("/") + "/",  # relative to Airflow's base URL, so proxies with a prefix work
        "destination": "nav",
        "url_route": "llf-control-plane",
    }]
