"""The settings reference, rendered from the registry in llf/settings.py: `python scripts/settings_table.py`
rewrites the part of docs/reference/settings.md between BEGIN and END (`--check`: exit 1 when it differs instead).

Generated, so a setting added, renamed or given another default cannot leave the docs behind:
tests/test_settings_docs.py fails until this script has run. The registry's meanings link README's old
sections (`[Security](#security)`); the page is on the documentation site, so those links are pointed at the
site's pages here (LINKS), and `mkdocs build --strict` fails on any this map misses.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llf.settings import REGISTRY, Setting  # noqa: E402 - importable from a checkout without installing

PAGE = ROOT / "docs" / "reference" / "settings.md"
# README section anchors the registry's meanings use -> the site page (relative to docs/reference/) now holding it
LINKS = {
    "#security": "../explanation/security.md",
    "#secrets-for-notebooks": "../how-to/secrets.md",
    "#settings": "#",
    "#local-mode-make-demo": "../how-to/local-mode.md",
    "#scaling-out": "../how-to/scale-out.md",
    "#run-semantics": "../explanation/run-semantics.md",
    "#reliability": "../explanation/reliability.md",
}
BEGIN = "<!-- settings table: generated from llf/settings.py by scripts/settings_table.py; edit there, not here -->"
END = "<!-- end of the generated settings table -->"


def _linked(text: str) -> str:
    """`text` with README-anchor links (`](#security)`) and "(README, Security)" pointed at the site's pages."""
    for anchor, page in LINKS.items():
        text = text.replace(f"]({anchor})", f"]({page})")
    return text.replace("(README, Security)", f"([Security]({LINKS['#security']}))")


def _row(setting: Setting) -> str:
    accepts = setting.kind.expected + (" (a secret)" if setting.secret else "")
    cells = (f"`{setting.name}`", setting.documented_default, accepts, _linked(setting.meaning))
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def table() -> str:
    """The markdown between the markers: one row per setting a user sets, then those llf sets itself."""
    lines = ["| setting | default | accepts | meaning |", "|---|---|---|---|"]
    lines += [_row(setting) for setting in REGISTRY.values() if not setting.internal]
    for setting in REGISTRY.values():
        if setting.internal:
            lines += ["", f"`{setting.name}` is {_linked(setting.meaning)}."]
    return "\n".join(lines)


def with_table(page: str) -> str:
    """`page` with the text between its markers replaced by the generated table."""
    head, found, rest = page.partition(BEGIN + "\n")
    _, found_end, tail = rest.partition(END)
    if not found or not found_end:
        raise SystemExit(f"{PAGE.relative_to(ROOT)} lacks the markers {BEGIN!r} ... {END!r} around its settings table.")
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    current = PAGE.read_text(encoding="utf-8")
    wanted = with_table(current)
    if "--check" in argv:
        if current != wanted:
            print(f"{PAGE.relative_to(ROOT)}'s settings table is stale: run python scripts/settings_table.py")
            return 1
        return 0
    PAGE.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
