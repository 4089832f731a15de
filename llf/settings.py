"""Every setting llf reads, named once: its type, default, meaning and whether it is a secret.

One home, so one rule: every value goes through the same parser family (a negative, NaN, infinite or garbled
number is refused, naming the variable and the fix, never a secret's value), the order flag → environment →
Airflow connection is written once (`resolve`), and docs/reference/settings.md is rendered from REGISTRY
(scripts/settings_table.py; tests/test_settings_docs.py keeps them equal). Modules read their settings through
the Setting objects here, never through os.environ.

Secrets never come from the control tables: only from the environment, `.env`, or Airflow connections.
At the bottom of llf's layers: this module imports only llf.exceptions (Airflow lazily, inside a function).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

from llf.exceptions import ConfigurationError

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# The folder above the package: the repository checkout when llf runs from one (its tests read README and the
# examples there). No setting derives from it: an installed llf's is site-packages. Defaults come from the
# project folder instead (project_dir).
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# What makes a folder an llf project (`llf init` writes it; the checkout has one too).
PROJECT_MARKER = "llf.toml"

# ----------------------------------------------------------------------------------------------------------
# The parser family: each kind turns a variable's text into its value, or raises ValueError for text it refuses.


class Kind(Protocol[T_co]):
    """How the text of a variable becomes its value; `expected` is what errors and the settings page say it must be."""

    @property
    def expected(self) -> str: ...

    @property
    def example(self) -> str: ...

    def parse(self, raw: str) -> T_co: ...


@dataclass(frozen=True)
class Text:
    """Any text (a model name, a key, a connection string libpq reads as URL or keyword DSN)."""

    expected: str = "any text"
    example: str = "text"

    def parse(self, raw: str) -> str:
        return raw


@dataclass(frozen=True)
class Seconds:
    """A finite number of seconds above zero, or from zero on when `zero_ok` (zero means something there)."""

    zero_ok: bool = False

    @property
    def expected(self) -> str:
        return f"a number of seconds {'>=' if self.zero_ok else '>'} 0"

    @property
    def example(self) -> str:
        return "5"

    def parse(self, raw: str) -> float:
        value = float(raw)  # ValueError for garbage; nan and inf pass here and fail below
        if not math.isfinite(value) or value < 0 or (value == 0 and not self.zero_ok):
            raise ValueError(raw)
        return value


@dataclass(frozen=True)
class Whole:
    """A whole number from `minimum` to `maximum`."""

    minimum: int
    maximum: int | None = None
    what: str = "a whole number"

    @property
    def expected(self) -> str:
        if self.maximum is None:
            return f"{self.what} >= {self.minimum}"
        return f"{self.what} from {self.minimum} to {self.maximum}"

    @property
    def example(self) -> str:
        return str(max(self.minimum, 1))

    def parse(self, raw: str) -> int:
        value = int(raw)  # refuses 1.5, nan, inf and garbage
        if value < self.minimum or (self.maximum is not None and value > self.maximum):
            raise ValueError(raw)
        return value


_TRUE = ("on", "true", "yes", "1")
_FALSE = ("off", "false", "no", "0")


@dataclass(frozen=True)
class Flag:
    """On or off, in any of the usual spellings; anything else is refused rather than read as off."""

    expected: str = "on or off (or true/false, yes/no, 1/0)"
    example: str = "on"

    def parse(self, raw: str) -> bool:
        word = raw.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError(raw)


@dataclass(frozen=True)
class Choice:
    """One word of `options`, in any case."""

    options: tuple[str, ...]

    @property
    def expected(self) -> str:
        return f"one of {', '.join(self.options)}"

    @property
    def example(self) -> str:
        return self.options[0]

    def parse(self, raw: str) -> str:
        word = raw.strip().lower()
        if word not in self.options:
            raise ValueError(raw)
        return word


@dataclass(frozen=True)
class Url:
    """A URL of one of `schemes` with a host or a path, or one of the plain `words` (e.g. `pgvector`)."""

    schemes: tuple[str, ...]
    example: str
    words: tuple[str, ...] = ()

    @property
    def expected(self) -> str:
        url = "a URL starting with " + " or ".join(f"{scheme}://" for scheme in self.schemes)
        return ", or ".join((*self.words, url))

    def parse(self, raw: str) -> str:
        text = raw.strip()
        if text in self.words:
            return text
        parts = urlsplit(text)  # ValueError for some malformed URLs (an unclosed IPv6 bracket)
        if parts.scheme.lower() not in self.schemes or not (parts.netloc or parts.path):
            raise ValueError(raw)
        return text


@dataclass(frozen=True)
class Folder:
    """A path (a folder or a file); relative paths are relative to the working directory."""

    expected: str = "a path"
    example: str = "/srv/llf"

    def parse(self, raw: str) -> Path:
        return Path(raw)


@dataclass(frozen=True)
class Names:
    """Names separated by commas; blanks between them ignored."""

    expected: str = "names separated by commas"
    example: str = "logging,persistence"

    def parse(self, raw: str) -> tuple[str, ...]:
        return tuple(name.strip() for name in raw.split(",") if name.strip())


_USERINFO = re.compile(r"//[^/@]*@")

# ----------------------------------------------------------------------------------------------------------
# A setting, and the registry of all of them.


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One variable: what it holds, its value when unset, and where else it may come from.

    `documented` is the settings page's wording of the default when the value alone does not say it; `connection` the
    Airflow connection `resolve` consults after the environment (its URI, or its password); `internal` a
    variable llf sets for its own child processes, never a user.
    """

    name: str
    kind: Kind[T]
    meaning: str
    default: T | None = None
    documented: str | None = None
    secret: bool = False
    connection: str | None = None
    connection_part: Literal["uri", "password"] = "uri"
    internal: bool = False

    def read(self) -> T | None:
        """The parsed value from the environment; the default when unset or blank."""
        found = self.given()
        return self.default if found is None else found

    def given(self) -> T | None:
        """The parsed value when the variable is set (not blank), else None rather than the default: for code
        that does something else when the user said nothing (local mode probing for Ollama)."""
        raw = os.environ.get(self.name, "")
        if not raw.strip():
            return None
        try:
            return self.kind.parse(raw)
        except ValueError:
            raise ConfigurationError(self.refusal(raw)) from None

    def value(self) -> T:
        """Like read, for a setting that must have a value: an unset one without default is an error."""
        found = self.read()
        if found is None:
            raise ConfigurationError(f"{self.name} is not set: set it to {self.kind.expected}, "
                                     f"e.g. {self.kind.example}.")
        return found

    def fallback(self) -> T:
        """The default itself, for code that needs it without reading the environment (dataclass defaults)."""
        if self.default is None:
            raise LookupError(f"{self.name} has no default")
        return self.default

    def refusal(self, raw: str) -> str:
        """Why `raw` is refused and how to fix it; a secret's value is never in it, nor a URL's password."""
        shown = " (a secret, not shown)" if self.secret else f"={_USERINFO.sub('//***@', raw)!r}"
        if self.default is not None and self.default != ():
            fix = f"unset it for {plain(self.default)}"
        else:
            fix = f"set it to e.g. {self.kind.example}, or unset it"
        return f"{self.name}{shown} is not {self.kind.expected}; {fix}."

    @property
    def documented_default(self) -> str:
        """The default as the settings page says it (markdown)."""
        if self.documented:
            return self.documented
        if self.connection:
            part = "password of the " if self.connection_part == "password" else ""
            return f"{part}Airflow connection `{self.connection}`"
        if self.default is None or self.default == ():
            return "–"
        return f"`{plain(self.default)}`"


def plain(value: object) -> str:
    """A default as a user would type it: 5 not 5.0, on/off for a flag."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


REGISTRY: dict[str, Setting[Any]] = {}


def _setting(setting: Setting[T]) -> Setting[T]:
    """Register `setting`; a name registered twice is a bug caught at import."""
    if setting.name in REGISTRY:
        raise AssertionError(f"{setting.name} is registered twice")
    REGISTRY[setting.name] = setting
    return setting


CONTROL_CONNECTION_ID = "cntl_af"
NOTEBOOK_CONNECTION_ID = "cntl_af_notebook"
VECTORS_CONNECTION_ID = "llf_vectors"
_DB_URL = Text("a PostgreSQL URL", "postgresql://user:password@host:5432/llf")

CONTROL_DB_URL = _setting(Setting(
    "LLF_CONTROL_DB_URL", _DB_URL, "PostgreSQL URL of the control DB (the owner of `cntl_af`: Airflow's "
    "components and the CLI, never notebooks)", secret=True, connection=CONTROL_CONNECTION_ID))
NOTEBOOK_DB_URL = _setting(Setting(
    "LLF_NOTEBOOK_DB_URL", _DB_URL, "the URL notebook kernels get (as their `LLF_CONTROL_DB_URL`): a login in the "
    "role `llf_notebook` ([Security](#security)). Required: with neither set every run fails naming it; set it to "
    "the control DB URL to run notebooks as the owner (each run warns)", secret=True,
    connection=NOTEBOOK_CONNECTION_ID))
STREAM_DB_CONNECTION_LIMIT = _setting(Setting(
    "LLF_STREAM_DB_CONNECTION_LIMIT", Whole(1, 10000, "a number of sessions"), "sessions each stream's notebook "
    "login may hold at once, all its kernels together (the runner sets it on the stream's login, "
    "`llf_nb_<stream id>_<database>`, before each kernel starts; [Security](#security))", 10))
UI_DB_URL = _setting(Setting(
    "LLF_UI_DB_URL", _DB_URL, "the URL the control-plane UI reads with (the Airflow api-server): a login in the "
    "role `llf_ui_reader`, which may only SELECT what the UI shows ([Security](#security)). Unset: the UI reads "
    "with the control DB URL, and the api-server log warns once naming this setting", secret=True))
WEAVIATE_API_KEY = _setting(Setting(
    "LLF_WEAVIATE_API_KEY", Text("an API key", "a-key"), "the Weaviate API key, when the server requires one "
    "(the Airflow connection is read only when `LLF_VECTOR_URL` is `weaviate://`); a root user's key when the "
    "runner makes each kernel its own key (`LLF_VECTOR_STREAM_KEYS`), else it is handed to kernels",
    secret=True, connection=VECTORS_CONNECTION_ID, connection_part="password"))
PROJECT_DIR = _setting(Setting(
    "LLF_PROJECT_DIR", Folder(), f"the llf project (a folder holding `{PROJECT_MARKER}`, made by `llf init`) whose "
    "notebooks, DAG file, lake and local stack the defaults below name; `--project PATH` sets it for one command",
    documented=f"the current folder or the nearest one above it holding `{PROJECT_MARKER}`"))
NOTEBOOKS_DIR = _setting(Setting(
    "LLF_NOTEBOOKS_DIR", Folder(), "the only folder notebooks run from", documented="`notebooks/` of the project"))
CONTROL_SQL_DIR = _setting(Setting(
    "LLF_CONTROL_SQL_DIR", Folder(), "DDL applied by `llf db upgrade`; a folder without numbered `.sql` files is an "
    "error (exit 2), never \"up to date\"", Path(__file__).resolve().parent / "control" / "sql",
    documented="`llf/control/sql/` inside the installed package"))
SNAPSHOT_REFRESH_SECONDS = _setting(Setting(
    "LLF_SNAPSHOT_REFRESH_SECONDS", Seconds(zero_ok=True), "how often DAG files re-read the control tables "
    "(0: at every parse)", 30.0))
# Default: a third of Airflow's default dagbag_import_timeout (30 s), the refresh's share of a parse, leaving the
# rest to building the DAGs. Lower it with the timeout.
SNAPSHOT_REFRESH_BUDGET_SECONDS = _setting(Setting(
    "LLF_SNAPSHOT_REFRESH_BUDGET_SECONDS", Seconds(zero_ok=True), "how long a DAG file parse waits for that re-read "
    "(DB read + validation + cache write) before serving the last snapshot and leaving the re-read to a background "
    "process (log: `snapshot.refresh.log` in `LLF_STATE_DIR`); keep it well under Airflow's `dagbag_import_timeout` "
    "(30 s). With no usable snapshot yet, and in a parse for one DAG, the wait is `dagbag_import_timeout` less 5 s "
    "instead; only a re-read outlasting that leaves a parse with no DAG (Airflow marks the llf DAGs stale until the "
    "next parse after the background re-read), with an error in the log. A task's own parse never refreshes: it "
    "reads its DAG's rows alone. `llf refresh` re-reads on demand", 10.0))
STREAM_WAIT = _setting(Setting(
    "LLF_STREAM_WAIT", Choice(("auto", "poll", "defer")), "how a stream's process task waits when it has to trigger "
    "its process DAG run (a dependency needed a run first): `poll` keeps its worker slot and checks every second "
    "(fastest; one extra slot per running process); `defer` frees the slot and the triggerer resumes it; `auto` "
    "polls while the widest groups of all streams together stay below `[core] parallelism`, else defers. Use "
    "`defer` where the real worker slots are fewer than `[core] parallelism`", "auto"))
STATE_DIR = _setting(Setting(
    "LLF_STATE_DIR", Folder(), "where the registrations snapshot is cached, and where an executed notebook the lake "
    "refused is kept (`unstored-outputs/runs/<stream>/<process>/<date>/<run id>/try-<n>/`; the FAILED message "
    "names the file)", documented="`$AIRFLOW_HOME/llf`, else `~/.llf`"))
LOCK_CHECK_SECONDS = _setting(Setting(
    "LLF_LOCK_CHECK_SECONDS", Seconds(), "how often a running attempt asks its lock's own session whether it still "
    "holds its run lock; a lost lock stops the kernel and ends the attempt FAILED \"run lock lost: ...\"", 5.0))
KERNEL_USERS = _setting(Setting(
    "LLF_KERNEL_USERS", Flag(), "run each notebook kernel under its stream's own OS user (uid and gid "
    "`LLF_KERNEL_UID_BASE` + the stream's id), which cannot read the worker's secrets in `/proc`, write the "
    "kernelspec, packages or llf's state, or open another stream's kernel; needs a worker running as root with "
    "CAP_SETUID, CAP_SETGID, CAP_CHOWN, CAP_DAC_OVERRIDE and CAP_KILL (compose's workers). `off`, or a worker that "
    "cannot switch, runs kernels as the worker's user, and each task's log says what is not isolated", True))
KERNEL_UID_BASE = _setting(Setting(
    "LLF_KERNEL_UID_BASE", Whole(1000, 65000, "a uid"), "the first of the kernel users' uids: stream N's kernels "
    "run as uid and gid base + N (at most 65533: a stream past it fails its runs, naming this setting); pick a range "
    "no account of the worker's host uses", 61000))
LAKE_URL = _setting(Setting(
    "LLF_LAKE_URL", Url(("file", "s3"), "s3://bucket/prefix"), "the data lake: `file:///folder` or "
    "`s3://bucket/prefix`", documented="`file://<project>/lake`"))
MINIO_ENDPOINT = _setting(Setting(
    "LLF_MINIO_ENDPOINT", Text("host:port, or http(s)://host:port", "minio:9000"),
    "MinIO (or any S3 endpoint) of an `s3://` lake"))
MINIO_ACCESS_KEY = _setting(Setting(
    "LLF_MINIO_ACCESS_KEY", Text("an access key", "llf"), "MinIO access key", secret=True))
MINIO_SECRET_KEY = _setting(Setting(
    "LLF_MINIO_SECRET_KEY", Text("a secret key", "a-key"), "MinIO secret key", secret=True))
UI_MINIO_ACCESS_KEY = _setting(Setting(
    "LLF_UI_MINIO_ACCESS_KEY", Text("an access key", "llf-ui"), "MinIO access key of the control-plane UI: a user "
    "that may only read `runs/` of the lake (compose: minio-init makes it). Unset (with its secret key): the UI uses "
    "`LLF_MINIO_ACCESS_KEY`, and the api-server log warns once", secret=True))
UI_MINIO_SECRET_KEY = _setting(Setting(
    "LLF_UI_MINIO_SECRET_KEY", Text("a secret key", "a-key"), "its secret key", secret=True))
MINIO_SECURE = _setting(Setting(
    "LLF_MINIO_SECURE", Flag(), "HTTPS to MinIO (an `https://` endpoint says so too)", False))
MINIO_REGION = _setting(Setting("LLF_MINIO_REGION", Text("a region", "us-east-1"), "MinIO region", "us-east-1"))
MINIO_SESSION_TOKEN = _setting(Setting(
    "LLF_MINIO_SESSION_TOKEN", Text("a session token", "..."), "session token of temporary MinIO credentials "
    "(with `LLF_MINIO_ACCESS_KEY`/`LLF_MINIO_SECRET_KEY`); the runner sets it for each notebook kernel when it "
    "hands the kernel its stream's own key (`LLF_LAKE_STREAM_KEYS`)", secret=True))
LAKE_STREAM_KEYS = _setting(Setting(
    "LLF_LAKE_STREAM_KEYS", Flag(), "on an `s3://` lake, hand each notebook kernel a temporary MinIO key that "
    "reaches its own stream's part of the lake only (`streams/<stream>/`; MinIO STS AssumeRole with a session "
    "policy, asked with llf's key); `off` hands kernels llf's own key, "
    "which reaches every stream's objects and the run outputs", True))
VECTOR_STREAM_KEYS = _setting(Setting(
    "LLF_VECTOR_STREAM_KEYS", Flag(), "on a `weaviate://` vector store, hand each notebook kernel a key of its "
    "own: a Weaviate DB user made for the attempt and deleted when it ends, whose role reaches its stream's "
    "classes only (`LlfS<stream id>_*`); needs Weaviate's RBAC and DB users, with `LLF_WEAVIATE_API_KEY` a root "
    "user's key. `off` hands kernels llf's own key, which reaches every stream's collections", True))
LAKE_KEY_SECONDS = _setting(Setting(
    "LLF_LAKE_KEY_SECONDS", Whole(900, 31_536_000, "seconds"), "how long a kernel's stream key lasts (MinIO "
    "allows 900 s to a year); a process whose `timeout_min` is longer gets its timeout and 5 minutes", 43_200))
LLM_PROVIDERS = ("ollama", "openai", "llamacpp")
LLM_PROVIDER = _setting(Setting(
    "LLF_LLM_PROVIDER", Choice(LLM_PROVIDERS), "`ollama`, `openai` (any OpenAI-compatible endpoint) or `llamacpp` "
    "(in process, the `local` extra)", "ollama"))
OLLAMA_HOST = _setting(Setting(
    "OLLAMA_HOST", Text("an Ollama address", "http://127.0.0.1:11434"), "Ollama server (Ollama's own variable)",
    "http://127.0.0.1:11434"))
LLM_MODEL = _setting(Setting("LLF_LLM_MODEL", Text("a model name", "llama3.2"), "chat model", "llama3.2"))
EMBED_MODEL = _setting(Setting(
    "LLF_EMBED_MODEL", Text("a model name", "nomic-embed-text"), "embedding model (llama.cpp mode: always the "
    "local all-MiniLM-L6-v2)", "nomic-embed-text"))
OPENAI_BASE_URL = _setting(Setting(
    "LLF_OPENAI_BASE_URL", Url(("http", "https"), "https://api.openai.com/v1"), "OpenAI-compatible endpoint",
    "https://api.openai.com/v1"))
OPENAI_API_KEY = _setting(Setting(
    "LLF_OPENAI_API_KEY", Text("an API key", "sk-..."), "its API key", secret=True))
LLAMACPP_MODEL_PATH = _setting(Setting(
    "LLF_LLAMACPP_MODEL_PATH", Text("a path to a .gguf file", "/models/model.gguf"), "llama.cpp: the `.gguf` model "
    "file", documented="the gemma-3-270m GGUF from PyPI"))
LLAMACPP_THREADS = _setting(Setting(
    "LLF_LLAMACPP_THREADS", Whole(0), "llama.cpp: threads (0: half the cores, at least 1)", 0))
LLAMACPP_CONTEXT = _setting(Setting(
    "LLF_LLAMACPP_CONTEXT", Whole(512), "llama.cpp: context tokens", 4096))
LLM_TIMEOUT = _setting(Setting("LLF_LLM_TIMEOUT", Seconds(), "per-call timeout, seconds", 120.0))
LLM_ATTEMPTS = _setting(Setting("LLF_LLM_ATTEMPTS", Whole(1), "attempts per call (retries + 1)", 4))
LLM_RETRY_WAIT = _setting(Setting(
    "LLF_LLM_RETRY_WAIT", Seconds(zero_ok=True), "base wait between attempts, seconds (exponential, random)", 1.0))
LLM_REASKS = _setting(Setting("LLF_LLM_REASKS", Whole(0), "re-asks when structured output fails validation", 1))
LLM_CACHE = _setting(Setting("LLF_LLM_CACHE", Flag(), "`off` disables the response cache", True))
LLM_HOOKS = _setting(Setting(
    "LLF_LLM_HOOKS", Names(), "hooks by name: `logging,persistence` or `package.module:factory`", ()))
LLM_CONCURRENCY = _setting(Setting("LLF_LLM_CONCURRENCY", Whole(1), "default concurrency of `map`", 4))
VECTOR_URL = _setting(Setting(
    "LLF_VECTOR_URL", Url(("postgresql", "postgres", "weaviate"), "weaviate://host:8080?grpc_port=50051",
                          words=("pgvector",)),
    "`pgvector` (the control DB), a `postgresql://` URL, or `weaviate://host:port?grpc_port=N`", "pgvector"))
LOCAL_DIR = _setting(Setting(
    "LLF_LOCAL_DIR", Folder(), "local mode: database files, Airflow home and logs, lake, `state.json`",
    documented="`.llf-local/` of the project"))
LOCAL_PORT = _setting(Setting(
    "LLF_LOCAL_PORT", Whole(1, 65535, "a TCP port"), "local mode: the Airflow UI/API port on 127.0.0.1", 8080))
AIRFLOW_URL = _setting(Setting(
    "LLF_AIRFLOW_URL", Url(("http", "https"), "http://127.0.0.1:8080"), "the Airflow api-server `llf run` / "
    "`llf backfill` trigger through (compose: `http://127.0.0.1:$AIRFLOW_PORT`)",
    documented="local mode's `http://127.0.0.1:$LLF_LOCAL_PORT`"))
AIRFLOW_USER = _setting(Setting(
    "LLF_AIRFLOW_USER", Text("a user name", "admin"), "an Airflow user allowed to trigger llf's DAGs (compose: "
    "`AIRFLOW_ADMIN_USER`)", documented="– (no login: local mode)"))
AIRFLOW_PASSWORD = _setting(Setting(
    "LLF_AIRFLOW_PASSWORD", Text("a password", "..."), "its password (compose: `AIRFLOW_ADMIN_PASSWORD`); from the "
    "environment only, never a flag", secret=True, documented="– (no login: local mode)"))
WORKER_HOSTNAME = _setting(Setting(
    "LLF_WORKER_HOSTNAME", Text("a host name", "llf-worker-1"), "set by `llf local up --executor celery` for each "
    "Celery worker: the name it reports to Airflow (`[core] hostname_callable = llf.local.hostname.worker_hostname`) "
    "and the run log records, so two workers on one machine differ; you never set it", internal=True))
RUN_CONTEXT = _setting(Setting(
    "LLF_RUN_CONTEXT", Text("a JSON run context", "{}"), "set by the runner for the notebook kernel (the JSON run "
    "context); you never set it", internal=True))
CONNECTIONS = _setting(Setting(
    "LLF_CONNECTIONS", Text("a JSON object of connections", "{}"), "set by the runner for the notebook kernel: the "
    "Airflow connections its process registered in `cntl_cfg_prcs.conn_ids`, read by `nb.connection`; you never set "
    "it", secret=True, internal=True))
ATTEMPT_TOKEN = _setting(Setting(
    "LLF_ATTEMPT_TOKEN", Text("a token", "..."), "set by the runner for the notebook kernel: the attempt's token, "
    "which scopes the SDK's database session to the attempt and its stream (docs, Security); you never set it",
    secret=True, internal=True))
LAKE_STREAM = _setting(Setting(
    "LLF_LAKE_STREAM", Text("a stream name", "sales"), "set by the runner for the notebook kernel: its process's "
    "registered stream, whose part of the lake (`streams/<stream>/`) `nb.lake()` is confined to; you never set it",
    internal=True))
VECTOR_PREFIX = _setting(Setting(
    "LLF_VECTOR_PREFIX", Text("a Weaviate class prefix", "LlfS12_"), "set by the runner for the notebook kernel on a "
    "`weaviate://` vector store: its stream's class prefix, which `nb.vectors(name)` puts before the class name; "
    "you never set it", internal=True))

# The names other modules quote in their messages.
NOTEBOOK_DB_URL_ENV = NOTEBOOK_DB_URL.name
WEAVIATE_API_KEY_ENV = WEAVIATE_API_KEY.name
AIRFLOW_URL_ENV = AIRFLOW_URL.name
AIRFLOW_USER_ENV = AIRFLOW_USER.name
AIRFLOW_PASSWORD_ENV = AIRFLOW_PASSWORD.name
DEFAULT_LOCK_CHECK_SECONDS = LOCK_CHECK_SECONDS.fallback()

# ----------------------------------------------------------------------------------------------------------
# flag → environment → Airflow connection, written once.


def resolve(setting: Setting[str], explicit: str | None = None, *, ask_airflow: bool = True) -> str | None:
    """`explicit` (a command-line flag), else the environment, else the setting's Airflow connection; None
    when none of them has it. The one order every URL and secret with an Airflow connection follows."""
    if explicit:
        return explicit
    found = setting.read()
    if found or setting.connection is None or not ask_airflow:
        return found
    connection = _airflow_connection(setting.connection)
    if connection is None:
        return None
    if setting.connection_part == "password":
        return connection.password or None
    return connection.get_uri().replace("postgres://", "postgresql://", 1)


def _airflow_connection(conn_id: str) -> Any:
    """An Airflow connection, or None when Airflow or the connection is not there."""
    try:
        from airflow.sdk import BaseHook
    except ImportError:  # llf used without Airflow installed
        return None
    try:
        return BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - any lookup failure means "not configured here"
        return None


def control_db_url(explicit: str | None = None) -> str:
    """The control DB URL: `--db-url`, else LLF_CONTROL_DB_URL, else the Airflow connection `cntl_af`."""
    url = resolve(CONTROL_DB_URL, explicit)
    if url:
        return url
    raise ConfigurationError(
        "No control database configured: pass --db-url, set LLF_CONTROL_DB_URL, "
        f"or define the Airflow connection '{CONTROL_CONNECTION_ID}'."
    )


def notebook_db_url() -> str:
    """The URL notebook kernels get: LLF_NOTEBOOK_DB_URL, else the Airflow connection `cntl_af_notebook`.

    Never a fallback to the control DB URL: that role owns cntl_af, so any notebook could rewrite
    registrations and the run log, and a missing setting would silently hand it out. Unset, every run
    fails before its kernel starts, naming the setting; whoever really wants notebooks to run as the
    owner sets LLF_NOTEBOOK_DB_URL to the control DB URL, and each run warns in the task log.
    """
    url = resolve(NOTEBOOK_DB_URL)
    if url:
        return url
    raise ConfigurationError(
        f"No database URL for notebooks configured: set {NOTEBOOK_DB_URL_ENV} or define the Airflow connection "
        f"'{NOTEBOOK_CONNECTION_ID}', with a login in the role llf_notebook (docs, Security). Notebooks "
        f"never get the control DB URL, whose owner could rewrite registrations and the run log."
    )


def weaviate_api_key() -> str | None:
    """The Weaviate API key: LLF_WEAVIATE_API_KEY, else the password of the Airflow connection `llf_vectors`
    (looked up only when LLF_VECTOR_URL is a weaviate:// URL); None when there is none."""
    return resolve(WEAVIATE_API_KEY, ask_airflow=VECTOR_URL.value().startswith("weaviate://"))


# ----------------------------------------------------------------------------------------------------------
# Settings whose value needs a word more than the registry says.


def project_dir() -> Path:
    """The project folder: LLF_PROJECT_DIR (`--project`), else the current folder or the nearest one above it
    holding llf.toml. The one place the project is found, so its notebooks, DAG file, lake and local stack are
    always those of one project; outside any, a ConfigurationError naming `llf init` and `--project`."""
    if explicit := PROJECT_DIR.read():
        folder = explicit.resolve()
        if not (folder / PROJECT_MARKER).is_file():
            raise ConfigurationError(f"{folder} ({PROJECT_DIR.name} or --project) is not an llf project: it has no "
                                     f"{PROJECT_MARKER}; `llf init {explicit}` makes one.")
        return folder
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    raise ConfigurationError(f"{here} is not in an llf project (no {PROJECT_MARKER} here or above): run "
                             "`llf init PATH` to make one, or pass --project PATH (or set LLF_PROJECT_DIR).")


def use_project(folder: Path) -> Path:
    """Make `folder` the project of this process and the processes it starts (`--project PATH`); checked now,
    so a wrong path is one error before anything starts."""
    os.environ[PROJECT_DIR.name] = str(folder.resolve())
    return project_dir()


def notebooks_dir() -> Path:
    """The folder every registered notebook path is relative to (LLF_NOTEBOOKS_DIR, default the project's
    notebooks/)."""
    return (NOTEBOOKS_DIR.read() or project_dir() / "notebooks").resolve()


def local_dir() -> Path:
    """Local mode's folder (LLF_LOCAL_DIR, default the project's .llf-local/)."""
    return (LOCAL_DIR.read() or project_dir() / ".llf-local").resolve()


def default_lake_folder() -> Path:
    """The lake with no LLF_LAKE_URL: the project's lake/ folder."""
    return project_dir() / "lake"


def control_sql_dir() -> Path:
    """The folder of numbered DDL files applied by `llf db upgrade` (LLF_CONTROL_SQL_DIR, default the package's
    own llf/control/sql/: package data, so a wheel installed anywhere carries its schema)."""
    return CONTROL_SQL_DIR.value().resolve()


def lock_check_seconds() -> float:
    """How often a running attempt checks that it still holds its run lock (LLF_LOCK_CHECK_SECONDS, default 5).

    A lock lost between two checks goes unnoticed for at most this long; each check is one small query
    on the lock's own session, which also keeps that session from looking idle.
    """
    return LOCK_CHECK_SECONDS.value()


def state_dir() -> Path:
    """llf's own folder on this host (LLF_STATE_DIR, else $AIRFLOW_HOME/llf, else ~/.llf): the DAG builder's
    snapshot cache and the runner's unstored outputs. Here, at the bottom, so neither imports the other."""
    if explicit := STATE_DIR.read():
        return explicit
    if airflow_home := os.environ.get("AIRFLOW_HOME"):
        return state_dir_of(Path(airflow_home))
    return Path.home() / ".llf"


def state_dir_of(airflow_home: Path) -> Path:
    """The state dir of an Airflow whose home is `airflow_home` (and no LLF_STATE_DIR), e.g. local mode's."""
    return airflow_home / "llf"


def airflow_url() -> str | None:
    """The Airflow api-server `llf run` and `llf backfill` trigger through (LLF_AIRFLOW_URL), or None: then
    the CLI uses local mode's (http://127.0.0.1:LLF_LOCAL_PORT), which it knows without being told."""
    return (AIRFLOW_URL.read() or "").rstrip("/") or None


def airflow_credentials() -> tuple[str, str] | None:
    """(user, password) for Airflow's API (LLF_AIRFLOW_USER, LLF_AIRFLOW_PASSWORD), or None when neither is set:
    local mode needs no login. The password comes from the environment only, never from a flag (shell history,
    `ps`) or the control tables; one set without the other is a configuration error naming the missing one."""
    user, password = AIRFLOW_USER.read(), AIRFLOW_PASSWORD.read()
    if not user and not password:
        return None
    if not user or not password:
        missing = AIRFLOW_USER_ENV if not user else AIRFLOW_PASSWORD_ENV
        raise ConfigurationError(f"{missing} is not set: set both {AIRFLOW_USER_ENV} and {AIRFLOW_PASSWORD_ENV} "
                                 "(an Airflow user allowed to trigger DAG runs), or neither for local mode.")
    return user, password
