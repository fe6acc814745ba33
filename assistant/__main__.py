"""`python -m assistant` runs the `tariff` CLI."""

import sys

from .cli import main

sys.exit(main())
