#!/usr/bin/env bash
# Build the one-folder SR Viewer bundle in dist/sr-viewer (run from anywhere).
#   packaging/build.sh            CPU torch (pinned by ci/constraints.txt), about 1 GB
#   TORCH_SPEC="torch" packaging/build.sh
#                                 whatever torch pip picks for this machine (a CUDA build on
#                                 Linux x86_64: several GB; the bundle then runs on NVIDIA GPUs)
# The build venv is .build-venv (kept between builds); the result is dist/sr-viewer/sr-viewer.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="${BUILD_VENV:-$root/.build-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if [ -n "${TORCH_SPEC:-}" ]; then
  "$venv/bin/pip" install -q "$TORCH_SPEC"
  "$venv/bin/pip" install -q -e . pyinstaller
else
  "$venv/bin/pip" install -q -c ci/constraints.txt -e . pyinstaller
fi
QT_QPA_PLATFORM=offscreen "$venv/bin/pyinstaller" --noconfirm --clean --distpath "$root/dist" --workpath "$root/build/pyinstaller" \
  packaging/sr-viewer.spec
du -sh "$root/dist/sr-viewer"
echo "built $root/dist/sr-viewer/sr-viewer"
