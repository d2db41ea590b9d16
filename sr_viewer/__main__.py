"""python -m sr_viewer: the same as the sr-viewer command."""

from sr_viewer.app import run

run()
