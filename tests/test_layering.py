"""The layering of llf/ is a contract (pyproject.toml, [tool.importlinter]), so an upward import fails the suite.

Layers, bottom to top: exceptions; context | db | settings; control; services; runner; tables; dagbuild |
notebook | ui | local; cli. And the SQL on the control schema lives in llf/control/, but for the service records that
notebook code writes best-effort through its own store (progress, LLM usage and cache: llf/services/).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A statement naming a table of cntl_af (not a message or docstring that mentions one).
CONTROL_SQL = re.compile(r"\b(FROM|JOIN|INTO|UPDATE)\s+cntl_af\.")  # statements are upper case, messages not
SERVICE_RECORD_WRITERS = {"llf/services/control_store.py", "llf/services/llm/usage.py", "llf/services/llm/cache.py"}


def test_given_the_contracts_in_pyproject_when_imports_are_linted_then_every_contract_is_kept():
    # In a process of its own: import-linter configures logging with dictConfig, which would silence the
    # loggers of llf already created here (and with them every caplog assertion after this test).
    lint = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_given_llf_when_searched_for_control_schema_sql_then_it_is_only_in_control_and_the_service_records():
    outside = sorted(
        str(path.relative_to(ROOT)) for path in (ROOT / "llf").rglob("*.py")
        if CONTROL_SQL.search(path.read_text()) and "control" not in path.relative_to(ROOT / "llf").parts[:1]
    )
    assert set(outside) <= SERVICE_RECORD_WRITERS, outside


def test_given_llf_when_its_module_imports_are_sorted_then_no_module_imports_itself_back():
    """No import cycle between any two modules of llf/ (the contracts forbid them between siblings; this
    covers the rest, e.g. a package and its own submodules). Imports under TYPE_CHECKING never run."""
    import graphlib

    import grimp

    graph = grimp.build_graph("llf", cache_dir=None, exclude_type_checking_imports=True)
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    try:
        graphlib.TopologicalSorter(imports).prepare()
    except graphlib.CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None


def test_given_llf_when_its_functions_are_measured_then_none_is_over_60_lines():
    import ast

    long = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in sorted((ROOT / "llf").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 60
    ]
    assert not long, long
