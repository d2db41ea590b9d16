"""Entry point of the PyInstaller bundle: the same as the sr-viewer command."""

import sys

from sr_viewer.app import main

if __name__ == "__main__":
    sys.exit(main())
