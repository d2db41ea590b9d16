"""`sr_core.data.cli.main`, the name older callers import: sr-core-data, which lives in
sr_core.cli.data."""

import sys

from sr_core.cli.data import main

if __name__ == "__main__":
    sys.exit(main())
