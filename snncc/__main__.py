"""`python -m snncc ...`: the same command line as `snncc ...`."""

import sys

from snncc.cli import main

sys.exit(main())
