"""Issue 26: notebook kernels run under their streams' own OS users (llf/runner/kernel_user.py). The workers run as
root with only the capabilities that switch needs, no container gains privileges, and the image leaves kernel users
nothing to write: checked on the compose model the real binary renders, and on the Dockerfile."""

from __future__ import annotations

import pytest

from llf.runner.kernel_user import NEEDED_CAPABILITIES
from tests.deploy.test_compose import AIRFLOW_COMPONENTS, WORKERS
from tests.deploy.test_image import DOCKERFILE

PLAIN_USER_SERVICES = (*AIRFLOW_COMPONENTS, "llf-init", "llf-pools", "flower", "jupyter")


@pytest.mark.parametrize("name", WORKERS)
def test_given_workers_then_root_with_only_the_switchs_capabilities_and_no_new_privileges(services, name):
    worker = services[name]

    assert worker["user"] == "0:0"
    assert worker["cap_drop"] == ["ALL"]
    assert sorted(worker["cap_add"]) == sorted(name.removeprefix("CAP_") for name in NEEDED_CAPABILITIES.values())
    assert "no-new-privileges:true" in worker["security_opt"]


@pytest.mark.parametrize("name", PLAIN_USER_SERVICES)
def test_given_the_other_airflow_services_and_jupyter_then_a_plain_user_no_capability_no_new_privileges(services,
                                                                                                     name):
    service = services[name]

    assert not service["user"].startswith("0:")
    assert service["cap_drop"] == ["ALL"]
    assert not service.get("cap_add")
    assert "no-new-privileges:true" in service["security_opt"]


def test_given_the_image_then_llfs_state_dir_and_the_task_logs_are_closed_to_kernel_users():
    assert "chmod -R o-rwx /opt/airflow/llf /opt/airflow/logs" in DOCKERFILE


def test_given_the_image_then_kernel_users_may_read_pythons_packages_and_write_none():
    assert "chmod -R o+rX,o-w" in DOCKERFILE
    assert "getusersitepackages" in DOCKERFILE and 'get_paths()["purelib"]' in DOCKERFILE
