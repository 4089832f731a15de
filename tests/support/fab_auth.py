"""The real FAB auth manager (apache-airflow-providers-fab) for the UI tests: its tables, roles and users.

FAB keeps users, roles and permissions in the metadata database (`ab_*` tables). The tables are created
from FAB's own models (the metadata FABDBManager creates from the ORM), and a role is what FAB's security
manager stores: permissions made of an action (`can_read`) and a resource (`DAG Runs`, `DAGs`, or a
per-DAG resource `DAG:<dag_id>`), the resource names taken from FAB's `permissions` module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"


def create_fab_tables(engine: Any) -> None:
    """FAB's `ab_*` tables in the metadata database behind `engine`."""
    from airflow.providers.fab.auth_manager.models import model_metadata

    model_metadata.create_all(engine)


def dag_resource(dag_id: str) -> str:
    """FAB's resource name of one DAG (`DAG:<dag_id>`)."""
    from airflow.providers.fab.www.security import permissions

    return permissions.resource_name(dag_id, permissions.RESOURCE_DAG)


def add_fab_user(session: Any, readable: Iterable[str]) -> Any:
    """A new active FAB user whose one role holds `can_read` on each resource in `readable`; committed."""
    from airflow.providers.fab.auth_manager.models import Action, Permission, Resource, Role, User
    from airflow.providers.fab.www.security import permissions

    read = _get_or_add(session, Action, name=permissions.ACTION_CAN_READ)
    grants = [_get_or_add(session, Permission, action=read, resource=_get_or_add(session, Resource, name=name))
              for name in readable]
    name = f"ui-{uuid.uuid4().hex[:8]}"
    role = Role(name=f"role-{name}", permissions=grants)
    user = User(first_name=name, last_name="tester", username=name, email=f"{name}@example.test", active=True,
                roles=[role])
    session.add(user)
    session.commit()
    return user


def _get_or_add(session: Any, model: Any, **unique: Any) -> Any:
    """The row of `model` with the `unique` values (FAB keeps one action, resource or permission of each), added
    when missing."""
    row = session.query(model).filter_by(**unique).one_or_none()
    if row is None:
        row = model(**unique)
        session.add(row)
        session.flush()
    return row
