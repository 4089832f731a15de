"""Which .env settings still hold a `change-me` placeholder, named for the person who has to set them.

llf-init runs this first (llf-init.sh). Compose gives llf-init every secret of .env under its .env name behind
LLF_INIT_CHECK_ (docker-compose.yml), those it holds for no other reason included (the PostgreSQL superuser's,
MinIO root's, Jupyter's and Flower's): a placeholder left in any of them stops the stack here, before a service
starts with a password anyone can read in .env.example. Any other variable holding a placeholder is named too,
unless it is built from a checked one (a URL holding LLF_DB_PASSWORD, AIRFLOW__CORE__FERNET_KEY): the line names
what to set in .env, once. Values are never printed.

Exit 0 when none is left; 1, with the names on stderr, otherwise.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

PLACEHOLDER = "change-me"
CHECKED = "LLF_INIT_CHECK_"


def placeholders(environment: Mapping[str, str]) -> list[str]:
    """The names to set, sorted: checked settings by their .env name, then any other variable holding a
    placeholder that no checked setting's value is part of."""
    checked = {name.removeprefix(CHECKED): value for name, value in environment.items()
               if name.startswith(CHECKED) and PLACEHOLDER in value}
    others = {name for name, value in environment.items()
              if not name.startswith(CHECKED) and PLACEHOLDER in value
              and not any(placeholder in value for placeholder in checked.values())}
    return sorted(set(checked) | others)


def main() -> int:
    names = placeholders(os.environ)
    if not names:
        return 0
    lines = [f"  - {name}" for name in names]
    print("llf-init: .env still holds placeholder values (change-me...) for:", *lines,
          "Replace them with real secrets (see the comments in .env.example) and run docker compose up again.",
          sep="\n", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
