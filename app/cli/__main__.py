"""`python -m app.cli`: the same entry point as the `kilowatch` script."""

import sys

from app.cli.commands import main

sys.exit(main())
