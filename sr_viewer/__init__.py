"""sr_viewer: the desktop viewer for SR foreground maps and boxes."""
