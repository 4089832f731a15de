"""`python -m llf.cli`: the same as the `llf` script."""

import sys

from llf.cli import main

sys.exit(main())
