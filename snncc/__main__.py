"""`python -m snncc ...`: the same command line as `snncc ...`."""

import os
import sys

from snncc.cli import main

code = main()
if code in (130, 143):
    # interrupted: under -m, a Ctrl-C that landed inside code run by exec() (lazy imports do that) makes the
    # interpreter re-raise SIGINT at exit, whatever the status; leave with the status itself
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
sys.exit(code)
