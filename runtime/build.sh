#!/usr/bin/env bash
# Builds the Rust runtime and installs it as remotemedia/_runtime<EXT_SUFFIX>, next
# to the package sources, so that `import remotemedia._runtime` works with the
# editable install. Incremental: quick when nothing changed.
#
# Usage: runtime/build.sh [--release|--debug]
set -euo pipefail

profile=release
for arg in "$@"; do
    case "$arg" in
        --release) profile=release ;;
        --debug) profile=debug ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown option '$arg' (use --release or --debug)" >&2; exit 2 ;;
    esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"

if ! command -v cargo >/dev/null 2>&1; then
    echo "build.sh: cargo not found - the Rust runtime was NOT built." >&2
    echo "          remotemedia still works: pipelines run on the pure-Python engine." >&2
    echo "          Install Rust (https://rustup.rs) and rerun 'make runtime' to enable it." >&2
    exit 0
fi

python="${PYO3_PYTHON:-}"
if [ -z "$python" ]; then
    if [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"; else python="$(command -v python3)"; fi
fi
export PYO3_PYTHON="$python"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"

suffix="$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
flags=(--lib --features extension-module --manifest-path "$here/Cargo.toml")
if [ "$profile" = release ]; then flags+=(--release); fi

cargo build "${flags[@]}"

built=""
for name in lib_runtime.so lib_runtime.dylib _runtime.dll; do
    if [ -f "$CARGO_TARGET_DIR/$profile/$name" ]; then built="$CARGO_TARGET_DIR/$profile/$name"; break; fi
done
if [ -z "$built" ]; then
    echo "build.sh: cargo finished but no library was found in $CARGO_TARGET_DIR/$profile" >&2
    exit 1
fi

dest="$root/remotemedia/_runtime$suffix"
if cmp -s "$built" "$dest"; then
    echo "build.sh: $dest is up to date ($profile)"
else
    # Copy then rename, so a running interpreter never sees a half-written file.
    cp "$built" "$dest.tmp.$$"
    mv -f "$dest.tmp.$$" "$dest"
    echo "build.sh: installed $dest ($profile)"
fi
