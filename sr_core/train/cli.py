"""`python -m sr_core.train.cli` (and torchrun's `-m sr_core.train.cli`), the name older
scripts use: sr-core-train, which lives in sr_core.cli.train."""

import sys

from sr_core.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
