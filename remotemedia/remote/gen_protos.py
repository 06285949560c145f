"""Generates the Python protobuf/gRPC stubs from ``protos/remotemedia/v1/*.proto``.

A development tool: ``make protos`` runs ``python -m remotemedia.remote.gen_protos``.
The stubs are committed in ``remotemedia/remote/_proto/`` (flat, package-relative
imports) and ship in the wheel as they are, so nothing is generated at import time and
grpcio-tools is never needed at run time. They record a hash of the ``.proto`` sources;
``--check`` regenerates them into a temporary directory and fails on any difference
(the test suite and CI run it).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
PROTO_OUT = PACKAGE_DIR / "_proto"
PROTO_ROOT = PACKAGE_DIR.parent.parent / "protos"
PROTO_SUBDIR = Path("remotemedia") / "v1"
_HASH_RE = re.compile(r'^PROTO_HASH = "([0-9a-f]*)"', re.MULTILINE)


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    """Returns the ``.proto`` sources, sorted (empty when the sources are absent)."""
    directory = root / PROTO_SUBDIR
    return sorted(directory.glob("*.proto")) if directory.is_dir() else []


def sources_hash(root: Path = PROTO_ROOT) -> str:
    """Hash of the names and contents of the ``.proto`` sources."""
    digest = hashlib.sha256()
    for path in proto_files(root):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def generated_hash(out: Path = PROTO_OUT) -> str | None:
    """The source hash recorded in the generated package, or None when absent."""
    init = out / "__init__.py"
    if not init.is_file():
        return None
    found = _HASH_RE.search(init.read_text())
    return found.group(1) if found else None


def is_stale(root: Path = PROTO_ROOT, out: Path = PROTO_OUT) -> bool:
    """True when the stubs are missing or older than the sources present."""
    recorded = generated_hash(out)
    if recorded is None:
        return True
    if not proto_files(root):
        return False  # installed without sources: use what was shipped
    return recorded != sources_hash(root)


def _fix_imports(text: str) -> str:
    # grpc_tools writes `from remotemedia.v1 import types_pb2 as ...`, which would
    # resolve to a package that does not exist; the stubs live flat in _proto/.
    return re.sub(
        r"^from remotemedia\.v1 import (\w+_pb2)",
        r"from remotemedia.remote._proto import \1",
        text,
        flags=re.MULTILINE,
    )


def generate(root: Path = PROTO_ROOT, out: Path = PROTO_OUT) -> Path:
    """Generates the stubs into ``out`` atomically (safe with concurrent importers).

    Raises:
        RuntimeError: If the sources or grpcio-tools are missing, or protoc fails.
    """
    sources = proto_files(root)
    if not sources:
        raise RuntimeError(f"no .proto sources under {root / PROTO_SUBDIR}")
    try:
        from grpc_tools import protoc
    except ImportError as exc:
        raise RuntimeError(
            "generating the gRPC stubs needs grpcio-tools: "
            "pip install 'remotemedia[dev]' (or grpcio-tools)"
        ) from exc
    import importlib.resources

    include = str(importlib.resources.files("grpc_tools") / "_proto")
    out.mkdir(parents=True, exist_ok=True)
    digest = sources_hash(root)
    with tempfile.TemporaryDirectory(prefix="rm-protos-", dir=out.parent) as tmp:
        args = [
            "grpc_tools.protoc",
            f"-I{root}",
            f"-I{include}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *[str(path.relative_to(root)) for path in sources],
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {[p.name for p in sources]}")
        produced = sorted((Path(tmp) / PROTO_SUBDIR).glob("*.py*"))
        staged: list[tuple[Path, Path]] = []
        for path in produced:
            target = Path(tmp) / path.name
            target.write_text(_fix_imports(path.read_text()))
            staged.append((target, out / path.name))
        init = Path(tmp) / "__init__.py"
        init.write_text(
            '"""gRPC stubs generated from protos/ by `make protos`; do not edit."""\n\n'
            f'PROTO_HASH = "{digest}"\n'
        )
        # The hash file goes last: a reader that sees the new hash sees new stubs.
        for source, target in staged + [(init, out / "__init__.py")]:
            os.replace(source, target)
    logger.info("generated protobuf stubs in %s", out)
    return out


def drift(root: Path = PROTO_ROOT, out: Path = PROTO_OUT) -> list[str]:
    """Names of the stubs in ``out`` that differ from a fresh generation.

    Returns:
        The file names that are missing, extra or different (empty when current).
    """
    with tempfile.TemporaryDirectory(prefix="rm-protos-check-") as tmp:
        fresh = generate(root, Path(tmp) / "_proto")
        expected = {p.name: p.read_bytes() for p in fresh.iterdir() if p.is_file()}
    present = (
        {
            p.name: p.read_bytes()
            for p in out.iterdir()
            if p.is_file() and p.suffix in {".py", ".pyi"}
        }
        if out.is_dir()
        else {}
    )
    names = sorted(set(expected) | set(present))
    return [name for name in names if expected.get(name) != present.get(name)]


def main(argv: list[str] | None = None) -> int:
    """Command line: regenerate the stubs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when the committed stubs differ from a fresh generation",
    )
    args = parser.parse_args(argv)
    if args.check:
        changed = drift()
        if changed:
            print(
                f"stale gRPC stubs in {PROTO_OUT}: {', '.join(changed)}; "
                "run `make protos` and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"gRPC stubs in {PROTO_OUT} are current")
        return 0
    out = generate()
    print(f"generated protobuf stubs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
