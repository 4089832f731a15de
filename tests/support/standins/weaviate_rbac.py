"""Weaviate's authorization, as the Weaviate stand-in serves it: API-key users, DB users and RBAC roles.

What the real server does with `AUTHENTICATION_APIKEY_USERS=llf`, `AUTHORIZATION_RBAC_ROOT_USERS=llf` and
`AUTHENTICATION_DB_USERS_ENABLED=true`, as far as llf relies on it:
- the configured API key is the static root user `llf`, allowed everything (and the only one here that may manage
  users and roles); without a configured key every request is anonymous and allowed, as before RBAC;
- `POST /v1/users/db/{id}` creates a DB user and answers its generated key once; `DELETE` removes it and its key;
  `GET /v1/users/db` lists them (with the static users, as `db_env_user`);
- a role is a name and permissions, each an action and the collection it applies to (`collections` for
  `*_collections` actions, `data` for `*_data`), exact or a prefix ending in `*`; `manage_*` covers its domain;
- `POST /v1/authz/users/{id}/assign` gives a DB user roles; a request is allowed when one of its roles' permissions
  covers the action on the collection, else refused with the sentence Weaviate writes;
- with RBAC off (`enabled=False`) there are no DB users and no roles: those routes answer 422.
The paths and JSON shapes are the ones weaviate-client v4 sends and reads (weaviate/users/base.py,
weaviate/rbac/executor.py, weaviate/rbac/models.py).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

ROOT = "llf"
"""The user the configured API key is (AUTHENTICATION_APIKEY_USERS), a root user (AUTHORIZATION_RBAC_ROOT_USERS)."""

Reply = tuple[int, Any]


@dataclass
class DbUser:
    """A DB user: its key (shown once, at creation) and the roles assigned to it."""

    key: str
    roles: set[str] = field(default_factory=set)
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"))


@dataclass
class Rbac:
    """Users and roles; `enabled` False is a server with RBAC and DB users off."""

    root_key: str | None = None
    enabled: bool = True
    users: dict[str, DbUser] = field(default_factory=dict)
    roles: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def principal(self, authorization: str | None) -> str | None:
        """The user a request's `Authorization` header names; None when the key is unknown."""
        if not self.root_key:
            return ROOT
        token = (authorization or "").removeprefix("Bearer ")
        if token and secrets.compare_digest(token, self.root_key):
            return ROOT
        with self.lock:
            return next((user_id for user_id, user in self.users.items()
                         if self.enabled and token and secrets.compare_digest(token, user.key)), None)

    def allowed(self, user: str, action: str, collection: str) -> bool:
        """Whether `user` may do `action` (e.g. `read_data`) on `collection`."""
        if user == ROOT:
            return True
        domain, manage = ("collections", "manage_collections") if action.endswith("_collections") else \
            ("data", "manage_data")
        with self.lock:
            granted = [permission for role in self.users[user].roles for permission in self.roles.get(role, [])]
        return any(permission["action"] in (action, manage)
                   and _covers(permission.get(domain, {}).get("collection", ""), collection)
                   for permission in granted)

    def refusal(self, user: str, action: str, collection: str) -> str | None:
        """Weaviate's sentence when `user` may not do `action` on `collection`; None when it may."""
        if self.allowed(user, action, collection):
            return None
        domain = "collections" if action.endswith("_collections") else "data"
        return (f"rbac: authorization, forbidden action: user '{user}' has insufficient permissions to {action} "
                f"[[Domain: {domain}, Collection: {collection}]]")

    def handle(self, method: str, path: str, body: dict[str, Any], user: str) -> Reply | None:
        """The reply to a users or roles route; None when `path` is neither."""
        if not path.startswith(("/v1/users/db", "/v1/authz/")):
            return None
        if not self.enabled:
            return 422, _error("RBAC and DB users are not enabled on this server")
        if user != ROOT:
            return 403, _error(f"rbac: authorization, forbidden action: user '{user}' has insufficient permissions "
                               f"to manage users and roles")
        parts = [unquote(part) for part in path.strip("/").split("/")]
        with self.lock:
            if parts[:3] == ["v1", "users", "db"]:
                return self._users(method, parts[3:])
            if parts[:3] == ["v1", "authz", "roles"]:
                return self._roles(method, parts[3:], body)
            if parts[:3] == ["v1", "authz", "users"] and len(parts) >= 5:
                return self._assignment(method, parts[3], parts[4:], body)
        return 404, _error(f"no route {path}")

    def _users(self, method: str, rest: list[str]) -> Reply:
        if not rest:
            listed = [_user_json(ROOT, None)] + [_user_json(user_id, user) for user_id, user in self.users.items()]
            return (200, listed) if method == "GET" else (405, _error("method not allowed"))
        user_id = rest[0]
        if method == "POST" and len(rest) == 1:
            if user_id == ROOT or user_id in self.users:
                return 409, _error(f"user '{user_id}' already exists")
            self.users[user_id] = DbUser(key=secrets.token_urlsafe(24))
            return 201, {"apikey": self.users[user_id].key}
        if method == "DELETE" and len(rest) == 1:
            return (204, None) if self.users.pop(user_id, None) else (404, None)
        if method == "GET" and len(rest) == 1:
            return (200, _user_json(user_id, self.users[user_id])) if user_id in self.users else (404, None)
        return 404, _error(f"no users route {'/'.join(rest)}")

    def _roles(self, method: str, rest: list[str], body: dict[str, Any]) -> Reply:
        if not rest:
            if method == "GET":
                return 200, [{"name": name, "permissions": perms} for name, perms in self.roles.items()]
            if body.get("name") in self.roles:
                return 409, _error(f"role with name {body.get('name')} already exists")
            if not body.get("name") or not body.get("permissions"):
                return 422, _error("role has to have at least 1 permission")
            self.roles[body["name"]] = list(body["permissions"])
            return 201, None
        name = rest[0]
        if name not in self.roles:
            return 404, None
        if method == "GET" and len(rest) == 1:
            return 200, {"name": name, "permissions": self.roles[name]}
        if method == "DELETE" and len(rest) == 1:
            del self.roles[name]
            return 204, None
        if method == "POST" and rest[1:] == ["add-permissions"]:
            self.roles[name] += [perm for perm in body.get("permissions", []) if perm not in self.roles[name]]
            return 200, None
        return 404, _error(f"no roles route {'/'.join(rest)}")

    def _assignment(self, method: str, user_id: str, rest: list[str], body: dict[str, Any]) -> Reply:
        if user_id not in self.users:
            return 404, _error(f"user '{user_id}' does not exist")
        if method == "POST" and rest == ["assign"]:
            missing = [role for role in body.get("roles", []) if role not in self.roles]
            if missing:
                return 400, _error(f"one or more of the roles you want to assign doesn't exist: {missing}")
            self.users[user_id].roles.update(body.get("roles", []))
            return 200, None
        if method == "GET" and rest[:1] == ["roles"]:
            return 200, [{"name": role, "permissions": self.roles[role]} for role in sorted(self.users[user_id].roles)]
        return 404, _error(f"no authz route {'/'.join(rest)}")


def _covers(pattern: str, collection: str) -> bool:
    """A permission's collection: `*` (every one), a prefix ending in `*`, or the exact name."""
    if pattern.endswith("*"):
        return collection.startswith(pattern[:-1])
    return pattern == collection


def _user_json(user_id: str, user: DbUser | None) -> dict[str, Any]:
    """A user as `GET /v1/users/db` lists it (weaviate.users.base reads these keys)."""
    if user is None:  # the static API-key user
        return {"userId": user_id, "roles": [], "active": True, "dbUserType": "db_env_user"}
    return {"userId": user_id, "roles": sorted(user.roles), "active": True, "dbUserType": "db_user",
            "createdAt": user.created, "apiKeyFirstLetters": user.key[:3]}


def _error(message: str) -> dict[str, Any]:
    return {"error": [{"message": message}]}
