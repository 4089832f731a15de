"""Registrations as code: one YAML file per stream, kept in git, read and written here.

A file states the whole stream (its groups, processes, notebooks, dependencies and schedule): `llf sync`
makes the control tables match it (llf.control.sync) and `llf export` writes it from them. The bounds are
the ones of llf.control.model, which the database enforces too, so a file that loads here is one the
database accepts; anything it cannot accept is refused before a row is touched, naming the file, the line
and the field. A key left out means its default, never "keep what the database has": the file is the truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator, model_validator

from llf.control.model import (
    AIRFLOW_DEFAULT_POOL,
    DEFAULT_QUEUE,
    MAX_PARALLEL_MAX,
    NAME_PATTERN,
    OWNER_MAX_LENGTH,
    PARAMS_MAX_DEPTH,
    POOL_SIZE_MAX,
    POOL_SLOTS_MAX,
    RESERVED_GROUP_IDS,
    RETRIES_MAX,
    TIMEOUT_MIN_MAX,
    conn_ids_problems,
    task_group_id,
)
from llf.control.validation import params_depth  # the depth the database's CHECK counts
from llf.exceptions import RegistrationError

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Owner = Annotated[str, Field(max_length=OWNER_MAX_LENGTH)]
# priority is a PostgreSQL integer: a bigger number would only fail later, inside the transaction.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]

FILE_SUFFIXES = (".yaml", ".yml")


class Declared(BaseModel):
    """Strict on purpose: an unknown key is a typo (extra="forbid"), and "5" is not the number 5."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DeclaredProcess(Declared):
    name: Name
    description: str = ""
    notebook: Annotated[str, Field(min_length=1)]
    owner: Owner = "llf"
    priority: Int32 = 1
    params: dict[str, Any] = {}
    timeout_min: Annotated[float, Field(gt=0, le=TIMEOUT_MIN_MAX, allow_inf_nan=False)] = 60
    retries: Annotated[int, Field(ge=0, le=RETRIES_MAX)] = 0
    active: bool = True
    depends_on: list[Name] = []
    queue: Name | None = None  # None: the group's queue
    pool: Name | None = None  # None: Airflow's default_pool
    pool_slots: Annotated[int, Field(ge=1, le=POOL_SLOTS_MAX)] = 1
    connections: list[str] = []  # Airflow connection ids its notebook gets (cntl_cfg_prcs.conn_ids)

    @field_validator("connections")
    @classmethod
    def _connections(cls, connections: list[str]) -> list[str]:
        """What cntl_cfg_prcs.conn_ids accepts (llf/control/sql/0028), refused here with the file's line."""
        problems = conn_ids_problems(connections)
        if problems:
            raise ValueError(problems[0])
        return connections

    @field_validator("params")
    @classmethod
    def _json_params(cls, params: dict[str, Any]) -> dict[str, Any]:
        """params are stored as jsonb and handed to the notebook: YAML dates or NaN would not survive."""
        try:
            json.dumps(params, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"params must be plain JSON values (strings, numbers, booleans, null, lists, "
                             f"mappings): {error}") from None
        if params_depth(params) > PARAMS_MAX_DEPTH:
            raise ValueError(f"params nests deeper than {PARAMS_MAX_DEPTH} levels")
        return params

    @model_validator(mode="after")
    def _dependencies(self) -> DeclaredProcess:
        if self.name in self.depends_on:
            raise ValueError(f"process {self.name} depends on itself")
        if len(set(self.depends_on)) != len(self.depends_on):
            raise ValueError(f"process {self.name} names a dependency twice in depends_on")
        return self

    @field_serializer("timeout_min")
    def _whole_minutes(self, minutes: float) -> float | int:
        """60, not 60.0, in exported files: what a person would have written."""
        return int(minutes) if float(minutes).is_integer() else minutes


class DeclaredGroup(Declared):
    name: Name
    description: str = ""
    priority: Int32 = 1
    max_parallel: Annotated[int, Field(ge=1, le=MAX_PARALLEL_MAX)] = 1
    active: bool = True
    queue: Name = DEFAULT_QUEUE
    processes: list[DeclaredProcess] = []

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        if task_group_id(name) in RESERVED_GROUP_IDS:
            raise ValueError(f"group {name} would be the Airflow id {task_group_id(name)}, a task every stream "
                             "DAG has; rename the group")
        return name


class DeclaredPool(Declared):
    """A pool of cntl_cfg_pool. Pools are shared by every stream: a file declaring one adds or updates it,
    and a file leaving it out never removes it (another stream's processes may take its slots)."""

    name: Name
    slots: Annotated[int, Field(ge=1, le=POOL_SIZE_MAX)]
    description: str = ""

    @field_validator("name")
    @classmethod
    def _not_airflows(cls, name: str) -> str:
        if name == AIRFLOW_DEFAULT_POOL:
            raise ValueError(f"{AIRFLOW_DEFAULT_POOL} is Airflow's own pool; llf does not register it")
        return name


class DeclaredSchedule(Declared):
    cron: Annotated[str, Field(min_length=1)]
    timezone: Annotated[str, Field(min_length=1)] = "UTC"


class DeclaredStream(Declared):
    """One stream file. Its processes are keyed by name across every stream (cntl_cfg_prcs.prcs_nm is unique)."""

    stream: Name
    description: str = ""
    owner: Owner = "llf"
    fail_policy: Literal["CONTINUE", "STOP"] = "CONTINUE"
    active: bool = True
    schedule: DeclaredSchedule | None = None
    pools: list[DeclaredPool] = []
    groups: list[DeclaredGroup] = []

    @model_validator(mode="after")
    def _unique_names(self) -> DeclaredStream:
        """What the database would refuse midway (duplicate keys, two groups one Airflow id), refused up front."""
        pools = [pool.name for pool in self.pools]
        if len(set(pools)) != len(pools):
            raise ValueError(f"pool {next(n for n in pools if pools.count(n) > 1)} is declared twice")
        group_ids: dict[str, str] = {}
        processes: set[str] = set()
        for group in self.groups:
            if group.name in group_ids.values():
                raise ValueError(f"group {group.name} is declared twice")
            other = group_ids.setdefault(task_group_id(group.name), group.name)
            if other != group.name:
                raise ValueError(f"groups {other} and {group.name} would both be the Airflow task group "
                                 f"{task_group_id(group.name)} (a . becomes _); rename one")
            for process in group.processes:
                if process.name in processes:
                    raise ValueError(f"process {process.name} is declared twice")
                processes.add(process.name)
        return self

    def processes(self) -> list[tuple[DeclaredGroup, DeclaredProcess]]:
        return [(group, process) for group in self.groups for process in group.processes]


@dataclass(frozen=True)
class StreamFile:
    """A loaded file: the stream it declares, and the line of every key, so errors can point at it."""

    path: Path
    stream: DeclaredStream
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict, compare=False)

    def where(self, *loc: str | int) -> str:
        """`path:line` of the deepest key of `loc` the file has (just `path` when none)."""
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.lines:
                return f"{self.path}:{self.lines[loc[:end]]}"
        return str(self.path)

    def point(self, *loc: str | int) -> str:
        """`path:line: groups[extract].processes[x].depends_on`: where an error is, in the file's own words."""
        return f"{self.where(*loc)}: {_field(loc, self.stream.model_dump())}"

    def process_loc(self, prcs_nm: str) -> tuple[str | int, ...]:
        for g, group in enumerate(self.stream.groups):
            for p, process in enumerate(group.processes):
                if process.name == prcs_nm:
                    return ("groups", g, "processes", p, "name")
        return ()


def load(path: Path) -> StreamFile:
    """Read and check one stream file; RegistrationError (one line: file, line, field, what) otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistrationError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RegistrationError(f"{path}: cannot be read ({error})") from None
    try:
        node, data = _parse(text)
    except _AnchorRefused as refused:
        raise RegistrationError(f"{path}:{refused.line}: YAML anchors and aliases (here {refused.token}) are not "
                                "accepted in a registration file: write the value out in full") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        raise RegistrationError(f"{where}: not valid YAML ({problem})") from None
    lines: dict[tuple[str | int, ...], int] = {}
    _index_lines(node, (), lines, path)
    if not isinstance(data, dict):
        raise RegistrationError(f"{path}: expected a mapping with `stream:`, `groups:`, ... (got "
                                f"{'nothing' if data is None else type(data).__name__})")
    try:
        stream = DeclaredStream.model_validate(data)
    except ValidationError as error:
        raise _schema_error(path, data, lines, error) from None
    return StreamFile(path, stream, lines)


class _AnchorRefused(yaml.YAMLError):
    def __init__(self, token: str, line: int) -> None:
        super().__init__(token)
        self.token, self.line = token, line


class _NoAnchorsLoader(yaml.SafeLoader):
    """SafeLoader refusing anchors and aliases as the composer meets them, before anything is expanded.

    Registrations are short and need neither, and an alias lets a few lines stand for billions of values
    ("billion laughs"): the line index, validation and storage would each walk every one of them.
    """

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            sigil = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise _AnchorRefused(f"{sigil}{anchor}", event.start_mark.line + 1)
        return super().compose_node(parent, index)


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for the line index) and its data, from one parse with no anchors."""
    loader = _NoAnchorsLoader(text)
    try:
        node = loader.get_single_node()
        return node, None if node is None else loader.construct_document(node)
    finally:
        loader.dispose()


def _index_lines(node: yaml.Node | None, loc: tuple[str | int, ...], lines: dict, path: Path) -> None:
    """Record the line of every key and list item; refuse a key given twice (YAML would keep the last)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            if name in seen:
                raise RegistrationError(f"{path}:{key.start_mark.line + 1}: {_field(loc + (name,), None)}: "
                                        "key given twice")
            seen.add(name)
            lines[loc + (name,)] = key.start_mark.line + 1
            _index_lines(value, loc + (name,), lines, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[loc + (index,)] = item.start_mark.line + 1
            _index_lines(item, loc + (index,), lines, path)


def _schema_error(path: Path, data: dict, lines: dict, error: ValidationError) -> RegistrationError:
    """Every problem of the file, each with its line and field, in file order: fixing a file one problem per
    `llf sync` is a slow loop. One line still (the CLI's errors are), the problems separated by ` | `."""
    located = StreamFile(path, DeclaredStream.model_construct(), lines)
    problems: list[tuple[int, str]] = []
    for problem in error.errors():
        loc = tuple(problem["loc"])
        where = located.where(*loc)
        message = ("unknown key" if problem["type"] == "extra_forbidden"
                   else problem["msg"].removeprefix("Value error, "))
        field_name = _field(loc, data)
        line = next((lines[loc[:end]] for end in range(len(loc), -1, -1) if loc[:end] in lines), 0)
        problems.append((line, f"{where}: {field_name + ': ' if field_name else ''}{message}"))
    problems.sort(key=lambda found: found[0])
    count = f" ({len(problems)} problems)" if len(problems) > 1 else ""
    return RegistrationError(" | ".join(text for _, text in problems) + count)


def _field(loc: tuple, data: Any) -> str:
    """`groups[extract].processes[qs_convert].retries`: list items by their name when they have one."""
    text, item = "", data
    for part in loc:
        if isinstance(part, int):
            name = item[part].get("name") if isinstance(item, list) and part < len(item) and isinstance(
                item[part], dict) else None
            text += f"[{name}]" if isinstance(name, str) else f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
        try:
            item = item[part]
        except (KeyError, IndexError, TypeError):
            item = None
    return text


class _Dumper(yaml.SafeDumper):
    """Indents list items under their key, the way people write YAML by hand; never writes an anchor, which
    `load` refuses (a value seen twice is written out twice)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def dump(stream: DeclaredStream) -> str:
    """The file for `stream`: keys in the models' order, defaults left out, so exports diff well in git."""
    body = yaml.dump(stream.model_dump(exclude_defaults=True), Dumper=_Dumper, sort_keys=False,
                     allow_unicode=True, default_flow_style=False, width=120)
    return f"# llf stream {stream.stream}: apply with `llf sync FILE`, rewrite with `llf export`.\n{body}"
