"""What a notebook's parameters cell declares (llf.control.notebooks): the names a run may set, and the literal
defaults a notebook tried outside a run starts from (`nb.context()` in JupyterLab)."""

from __future__ import annotations

from llf.control.notebooks import declared_parameters, parameter_defaults


def _notebook(source: str | list[str], tags: list[str] | None = None) -> dict:
    return {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# title"},
                      {"cell_type": "code", "metadata": {"tags": tags or ["parameters"]}, "source": source},
                      {"cell_type": "code", "metadata": {}, "source": "limit = 99"}]}


def test_given_literals_when_read_then_each_name_has_its_value_and_other_cells_do_not_count():
    notebook = _notebook(["business_date = '2026-01-31'\n", "limit: int = 3\n", "labels = ['a', 'b']\n"])

    assert parameter_defaults(notebook) == {"business_date": "2026-01-31", "limit": 3, "labels": ["a", "b"]}
    assert declared_parameters(notebook) == ("business_date", "limit", "labels")


def test_given_expressions_and_unpacking_when_read_then_only_literals_bound_to_one_name_are_defaults():
    notebook = _notebook("import os\nroot = os.getcwd()\na, b = 1, 2\nx = y = 5\nsize = 2 ** 10\nname = 'n'\n")

    assert parameter_defaults(notebook) == {"name": "n"}
    assert declared_parameters(notebook) == ("root", "a", "b", "x", "y", "size", "name")


def test_given_no_parameters_cell_or_a_cell_python_cannot_parse_then_no_defaults():
    assert parameter_defaults(_notebook("limit = 3", tags=["other"])) == {}
    assert parameter_defaults(_notebook("%matplotlib inline\nlimit = 3")) == {}
    assert parameter_defaults({"cells": "not a list"}) == {}
