"""The README pictures are generated from the code: the data dictionary in resource/ must be what
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
