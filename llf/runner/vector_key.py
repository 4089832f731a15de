"""The Weaviate key a notebook kernel gets: its attempt's own DB user, whose role reaches its stream's classes only
(llf.services.vectors.weaviate_users).

The runner holds llf's key, a root user's, and the kernel must not: on a `weaviate://` vector store the kernel's
LLF_WEAVIATE_API_KEY is a key made for this attempt, after the kernel's other preparations (nothing may fail
between making the user and the `finally` that deletes it), and deleted when the attempt's notebook part ends,
however it ends. Users of closed attempts (a dead worker's) are swept before each new one is made. The kernel gets
its stream's class prefix (LLF_VECTOR_PREFIX) whatever the key, so a stream's collections keep their names when
LLF_VECTOR_STREAM_KEYS is turned off (then the kernel holds llf's key, as before).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from weaviate.exceptions import WeaviateBaseError

from llf.control.open_attempts import closed_attempts
from llf.exceptions import ConfigurationError
from llf.services.vectors.weaviate import connected
from llf.services.vectors.weaviate_users import (
    attempt_user,
    attempt_users,
    delete_attempt_user,
    open_attempt_user,
    stream_prefix,
)
from llf.settings import VECTOR_PREFIX, VECTOR_STREAM_KEYS, VECTOR_URL, WEAVIATE_API_KEY, weaviate_api_key

log = logging.getLogger(__name__)


@contextmanager
def kernel_vector_key(control_url: str, log_id: int, strem_id: int | None) -> Iterator[dict[str, str]]:
    """The kernel's vector variables for attempt `log_id` of stream `strem_id`, valid inside the block: none for
    pgvector (the stream's database login isolates it); on Weaviate the stream's class prefix and the attempt's
    own key (llf's with LLF_VECTOR_STREAM_KEYS off). ConfigurationError, with its sentence, when Weaviate will not
    make the key."""
    url = VECTOR_URL.value()
    if not url.startswith("weaviate://"):
        yield {}
        return
    root_key = weaviate_api_key()
    env = {VECTOR_PREFIX.name: stream_prefix(strem_id)}
    if not VECTOR_STREAM_KEYS.value():
        yield {**env, **({WEAVIATE_API_KEY.name: root_key} if root_key else {})}
        return
    key = _open(url, root_key, control_url, log_id, strem_id)
    try:
        yield {**env, WEAVIATE_API_KEY.name: key}
    finally:
        _delete(url, root_key, log_id)


def _open(url: str, root_key: str | None, control_url: str, log_id: int, strem_id: int | None) -> str:
    """Sweep closed attempts' users, then make this attempt's; the refusal as a sentence naming what to set."""
    try:
        with connected(url, root_key) as client:
            leftovers = closed_attempts(control_url, attempt_users(client))
            for old in sorted(leftovers):
                delete_attempt_user(client, old)
            if leftovers:
                log.warning("deleted the Weaviate users of %d closed attempts (a dead worker's): %s", len(leftovers),
                            ", ".join(attempt_user(old) for old in sorted(leftovers)))
            return open_attempt_user(client, log_id, strem_id)
    except (WeaviateBaseError, ConfigurationError) as refused:
        detail = refused.message if isinstance(refused, WeaviateBaseError) else str(refused)
        raise ConfigurationError(
            f"Weaviate would not make this notebook's own key (a DB user for the attempt with its stream's role): "
            f"{type(refused).__name__}: {detail} Weaviate needs AUTHORIZATION_RBAC_ENABLED=true, "
            f"AUTHENTICATION_DB_USERS_ENABLED=true and {WEAVIATE_API_KEY.name} a key of a user in "
            f"AUTHORIZATION_RBAC_ROOT_USERS; or set {VECTOR_STREAM_KEYS.name}=off to hand notebooks llf's own key, "
            f"which reaches every stream's collections.") from refused


def _delete(url: str, root_key: str | None, log_id: int) -> None:
    """Delete the attempt's user; when Weaviate cannot be reached now, the next run's sweep will."""
    try:
        with connected(url, root_key) as client:
            delete_attempt_user(client, log_id)
    except Exception as error:  # noqa: BLE001 - the attempt's own outcome stands; the sweep is the fallback
        log.warning("could not delete Weaviate user %s (%s); the next run deletes it", attempt_user(log_id),
                    type(error).__name__)
