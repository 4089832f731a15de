"""README's settings table, rendered from the registry in llf/settings.py: `python scripts/settings_table.py`
rewrites the part of README.md between BEGIN and END (`--check`: exit 1 when it differs instead).

Generated, so a setting added, renamed or given another default cannot leave README behind:
tests/test_settings_docs.py fails until this script has run.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llf.settings import REGISTRY, Setting  # noqa: E402 - importable from a checkout without installing

README = ROOT / "README.md"
BEGIN = "<!-- settings table: generated from llf/settings.py by scripts/settings_table.py; edit there, not here -->"
END = "<!-- end of the generated settings table -->"


def _row(setting: Setting) -> str:
    accepts = setting.kind.expected + (" (a secret)" if setting.secret else "")
    cells = (f"`{setting.name}`", setting.documented_default, accepts, setting.meaning)
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def table() -> str:
    """The markdown between the markers: one row per setting a user sets, then those llf sets itself."""
    lines = ["| setting | default | accepts | meaning |", "|---|---|---|---|"]
    lines += [_row(setting) for setting in REGISTRY.values() if not setting.internal]
    for setting in REGISTRY.values():
        if setting.internal:
            lines += ["", f"`{setting.name}` is {setting.meaning}."]
    return "\n".join(lines)


def with_table(readme: str) -> str:
    """`readme` with the text between its markers replaced by the generated table."""
    head, found, rest = readme.partition(BEGIN + "\n")
    _, found_end, tail = rest.partition(END)
    if not found or not found_end:
        raise SystemExit(f"README.md lacks the markers {BEGIN!r} ... {END!r} around its settings table.")
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    current = README.read_text(encoding="utf-8")
    wanted = with_table(current)
    if "--check" in argv:
        if current != wanted:
            print("README.md's settings table is stale: run python scripts/settings_table.py")
            return 1
        return 0
    README.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
