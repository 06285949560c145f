#!/usr/bin/env bash
# `make binder-check`: the Binder build of binder/ in a fresh venv outside the
# checkout (pip instead of conda; cargo and npm from this machine), then every
# tutorial under nbval with that venv. Reuses the pip cache and CARGO_TARGET_DIR.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/remotemedia-binder.XXXXXX")"
trap 'rm -rf "$work"' EXIT
command -v cargo >/dev/null || { echo "binder-check: cargo is needed (binder/environment.yml installs rust)" >&2; exit 2; }
python="${PY:-python3}"
"$python" -m venv "$work/venv"
export PATH="$work/venv/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/runtime/target}"
export BINDER_PIP_FLAGS="-q"
python -m pip install -q --upgrade pip
# repo2docker runs postBuild from the repository root.
(cd "$root" && bash binder/postBuild)
python -m pip install -q "pytest>=8" "nbval>=0.11" "pytest-timeout>=2.3"
cp -r "$root/notebooks" "$work/notebooks"
cd "$work/notebooks"
python -m pytest --nbval --nbval-sanitize-with sanitize.cfg -p no:cacheprovider -q .
