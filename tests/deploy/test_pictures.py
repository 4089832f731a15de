"""The pictures of README and the docs site are generated from the code: the data dictionary in resource/ must be what
scripts/draw_pictures.py makes of the current DDL (rerun the script after changing llf/control/sql/)."""

from __future__ import annotations

import importlib.util
import sys

from tests.deploy.stack import ROOT


def _draw_pictures():
    spec = importlib.util.spec_from_file_location("draw_pictures", ROOT / "scripts" / "draw_pictures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_given_the_control_schema_then_the_committed_data_dictionary_is_up_to_date(control_db_url):
    draw = _draw_pictures()

    schema_comment, tables = draw.read_catalog(control_db_url)

    committed = (ROOT / "resource" / "data_dictionary.md").read_text(encoding="utf-8")
    assert committed == draw.data_dictionary(schema_comment, tables), \
        "resource/data_dictionary.md is stale: run .venv/bin/python scripts/draw_pictures.py"


def test_given_the_catalog_then_the_er_diagram_draws_every_table_and_foreign_key(control_db_url):
    draw = _draw_pictures()
    _, tables = draw.read_catalog(control_db_url)

    source = draw.er_diagram(tables).source

    for table in tables:
        assert f"\t{table.name} [label=<" in source
        for columns, ref_table, ref_columns in table.foreign_keys:
            assert f"{table.name}:{columns[0]} -> {ref_table}:{ref_columns[0]}" in source
    assert any(table.foreign_keys for table in tables)


def test_given_the_import_contract_then_the_layers_picture_draws_every_part_of_llf_and_arrows_only_point_down():
    draw = _draw_pictures()
    layers = draw.declared_layers()
    row_of = {name: number for number, layer in enumerate(layers) for name in layer}
    parts = {path.stem if path.is_file() else path.name for path in (ROOT / "llf").iterdir()
             if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()}

    source = draw.layers_diagram().source
    arrows = [line.split("[")[0].split("->") for line in source.splitlines() if "->" in line and "invis" not in line]

    assert set(row_of) == parts, "every package and module of llf/ is in exactly one declared layer"
    assert all(f"\t{name} [label=<<B>{name}</B>" in source for name in parts)
    assert arrows, "the picture shows the imports"
    assert all(row_of[a.strip()] < row_of[b.strip()] for a, b in arrows)


def test_given_the_import_graph_then_the_committed_layers_picture_is_drawn_from_it():
    """resource/layers.png is rendered from resource/layers.dot, which must be what the code draws today: a new
    module or import without `make pictures` leaves the picture out of date, and this fails."""
    draw = _draw_pictures()
    graph = draw.layers_diagram()
    graph.attr(dpi="110")  # as render() draws it

    committed = (ROOT / "resource" / "layers.dot").read_text(encoding="utf-8")

    assert graph.source == committed, "the layers picture is out of date: run `make pictures`"
