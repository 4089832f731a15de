"""The Airflow plugin: the llf control plane as a page of the Airflow UI (the app itself: llf.ui.app).

Airflow loads it through the package's `airflow.plugins` entry point (pyproject.toml), so an Airflow with llf
installed needs no plugins folder. `fastapi_apps` mounts the read-only app in the api-server at /llf;
`external_views` adds "Control plane" to Airflow's navigation, shown inside the Airflow UI. The app requires
Airflow's own login and shows each user only the streams and processes whose DAGs Airflow's auth manager lets
them read (llf.ui.auth).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from airflow.plugins_manager import AirflowPlugin

from llf.ui.app import MOUNT_PREFIX, create_app

ENTRY_POINT_GROUP = "airflow.plugins"


class LlfControlPlanePlugin(AirflowPlugin):
    name = "llf_control_plane"
    fastapi_apps = [{"app": create_app(), "url_prefix": MOUNT_PREFIX, "name": "llf control plane"}]
    external_views = [{
        "name": "Control plane",
        "href": MOUNT_PREFIX.lstrip("/") + "/",  # relative to Airflow's base URL, so proxies with a prefix work
        "destination": "nav",
        "url_route": "llf-control-plane",
    }]


def loaded_by_entry_point() -> bool:
    """Whether the installed llf declares this plugin as an entry point, which Airflow loads by itself: then a
    plugins-folder file must not offer it too (Airflow would skip the second and list it as an import error)."""
    target = f"{__name__}:{LlfControlPlanePlugin.__name__}"
    return any(point.value == target for point in entry_points(group=ENTRY_POINT_GROUP))
