"""A notebook's own key to Weaviate: a DB user per attempt, whose role reaches its stream's classes and no others.

The kernel is a tenant (docs, Security): whatever code it runs, with the raw client too, it must not read, change
or drop another stream's collections. pgvector gets that from the database (each stream's own login); Weaviate gets
it from its RBAC: a stream's collections are the classes named `LlfS<stream id>_*`, a role per stream
(`llf-stream-<id>`) allows the collection and data actions on that prefix only, and each attempt gets a DB user
(`llf-attempt-<log_id>`) holding that role, whose key is handed to the kernel in place of llf's.

A user per attempt, not per stream: Weaviate shows a DB user's key once, when it is made, and llf stores no secret;
rotating a shared stream user's key would cut off that stream's other running kernels. The runner deletes the user
when the attempt ends; a dead worker's leftovers are found by their name and swept (`attempt_users`).
Making users and roles needs llf's key to be a root user's (AUTHORIZATION_RBAC_ROOT_USERS) on a Weaviate with
AUTHORIZATION_RBAC_ENABLED and AUTHENTICATION_DB_USERS_ENABLED.
"""

from __future__ import annotations

import re

import weaviate
from weaviate.classes.rbac import Permissions, PermissionsInputType
from weaviate.exceptions import UnexpectedStatusCodeError

ATTEMPT_USER_PREFIX = "llf-attempt-"
_ATTEMPT_USER = re.compile(rf"^{ATTEMPT_USER_PREFIX}(\d+)$")
_CONFLICT = 409


def stream_prefix(strem_id: int | None) -> str:
    """The class prefix of stream `strem_id`'s collections. The `_` ends the id, so stream 1's role (`LlfS1_*`)
    does not reach stream 12's classes (`LlfS12_*`). A registration without a stream (none read from the control
    tables) is stream 0."""
    return f"LlfS{strem_id or 0}_"


def stream_role(strem_id: int | None) -> str:
    """The role that reaches stream `strem_id`'s classes."""
    return f"llf-stream-{strem_id or 0}"


def attempt_user(log_id: int) -> str:
    """The DB user of attempt `log_id` (its row in cntl_af.cntl_cfg_log)."""
    return f"{ATTEMPT_USER_PREFIX}{log_id}"


def _stream_permissions(strem_id: int | None) -> PermissionsInputType:
    """Everything nb.vectors() does on the stream's classes: create, read, change (auto-schema adds metadata
    properties) and drop the class; insert, read, update and delete its objects. Nothing else: no other class, no
    users, roles, backups or cluster actions."""
    pattern = stream_prefix(strem_id) + "*"
    return (Permissions.collections(collection=pattern, create_collection=True, read_config=True,
                                    update_config=True, delete_collection=True)
            + Permissions.data(collection=pattern, create=True, read=True, update=True, delete=True))


def _ensure_role(client: weaviate.WeaviateClient, strem_id: int | None) -> str:
    """The stream's role, made on its first attempt; an existing one gets the permissions again (an upsert), so a
    role made by an older llf, or half made, reaches what this one needs."""
    role, permissions = stream_role(strem_id), _stream_permissions(strem_id)
    try:
        client.roles.create(role_name=role, permissions=permissions)
    except UnexpectedStatusCodeError as error:
        if error.status_code != _CONFLICT:
            raise
        client.roles.add_permissions(permissions=permissions, role_name=role)
    return role


def open_attempt_user(client: weaviate.WeaviateClient, log_id: int, strem_id: int | None) -> str:
    """Make attempt `log_id`'s DB user with its stream's role; its API key, which Weaviate shows only now.

    `client` holds a root user's key. A user of that name left over (a control database restored under a live
    Weaviate) is deleted first: its key is not known, and it must not outlive this attempt's."""
    role = _ensure_role(client, strem_id)
    user = attempt_user(log_id)
    try:
        key = client.users.db.create(user_id=user)
    except UnexpectedStatusCodeError as error:
        if error.status_code != _CONFLICT:
            raise
        client.users.db.delete(user_id=user)
        key = client.users.db.create(user_id=user)
    client.users.db.assign_roles(user_id=user, role_names=role)
    return key


def delete_attempt_user(client: weaviate.WeaviateClient, log_id: int) -> None:
    """Delete attempt `log_id`'s DB user, and with it its key (gone already is fine)."""
    client.users.db.delete(user_id=attempt_user(log_id))


def attempt_users(client: weaviate.WeaviateClient) -> list[int]:
    """The attempts (log ids) that have a DB user in Weaviate: one request, the users' names say it."""
    found = (_ATTEMPT_USER.match(user.user_id) for user in client.users.db.list_all())
    return sorted(int(match.group(1)) for match in found if match)
