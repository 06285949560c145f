#!/usr/bin/env bash
# Builds the Rust runtime with maturin (cargo alone when maturin is absent) and
# installs it as remotemedia/_runtime<EXT_SUFFIX>, next
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
maturin="$(dirname "$python")/maturin"
[ -x "$maturin" ] || maturin="$(command -v maturin || true)"
if [ -n "$maturin" ]; then
    # maturin builds the extension wheel; its one shared library is taken out of the
    # wheel and put beside the package sources (editable install).
    wheels="$CARGO_TARGET_DIR/wheels"
    rm -rf "$wheels"
    # From the root, so maturin reads [tool.maturin] in pyproject.toml exactly as the
    # pip build does: same features and flags, so cargo reuses what that build compiled.
    cd "$root"
    mflags=(build --interpreter "$python" --out "$wheels" --quiet)
    if [ "$profile" = release ]; then mflags+=(--release); fi
    "$maturin" "${mflags[@]}"
    wheel="$(ls "$wheels"/*.whl)"
    built="$CARGO_TARGET_DIR/_runtime$suffix"
    "$python" - "$wheel" "$built" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as zf:
    (lib,) = [n for n in zf.namelist() if n.rsplit("/", 1)[-1].startswith("_runtime.")
              and n.endswith((".so", ".pyd", ".dylib"))]
    with zf.open(lib) as src, open(out, "wb") as dst:
        dst.write(src.read())
PY
else
    echo "build.sh: maturin not found, building with cargo directly" >&2
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
