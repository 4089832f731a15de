"""The control-plane UI plugin for an Airflow whose llf is not installed with its `airflow.plugins` entry point
(a checkout on the path, an older install); otherwise Airflow has it from the entry point, and this file offers
nothing, so it is never registered twice (llf.ui.plugin)."""

from llf.ui import plugin

if not plugin.loaded_by_entry_point():
    LlfControlPlanePlugin = plugin.LlfControlPlanePlugin
