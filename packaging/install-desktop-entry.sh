#!/usr/bin/env bash
# Install the freedesktop menu entry and icon for the current user (or system-wide with
# PREFIX=/usr/local as root). The sr-viewer command must be on PATH (pip install, or a
# PyInstaller bundle linked into ~/.local/bin); this script checks that and says so.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="${PREFIX:-$HOME/.local}"
apps="$prefix/share/applications"
icons="$prefix/share/icons/hicolor/scalable/apps"
mkdir -p "$apps" "$icons"
install -m 644 "$here/sr-viewer.desktop" "$apps/sr-viewer.desktop"
install -m 644 "$here/../resources/icons/sr-viewer.svg" "$icons/sr-viewer.svg"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$apps" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$prefix/share/icons/hicolor" || true
echo "installed $apps/sr-viewer.desktop and $icons/sr-viewer.svg"
command -v sr-viewer >/dev/null || echo "note: sr-viewer is not on PATH yet; the menu entry runs 'sr-viewer'" >&2
