"""PEP 517 backend of remotemedia: maturin, with a clear error and a pure switch.

Every build goes to maturin (``[tool.maturin]`` in pyproject.toml), which compiles the
Rust runtime into ``remotemedia/_runtime`` and packs the Python sources beside it.
This module adds two things around it:

- Without cargo the build stops with a message naming what to install, instead of
  maturin's default of downloading a Rust toolchain into a temporary directory.
- ``REMOTEMEDIA_PURE_PYTHON=1`` builds a pure-Python ``py3-none-any`` wheel (and
  editable install) without Rust: pipelines then run on the Python engine. The wheel
  is written here, from the same pyproject.toml metadata, without setuptools.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import shutil
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PURE_ENV = "REMOTEMEDIA_PURE_PYTHON"
PACKAGES = ("remotemedia", "remotemedia_server")
_SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", ".mypy_cache"}
_SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib", ".lock")

ConfigSettings = Mapping[str, Any] | None


def _pure() -> bool:
    return os.environ.get(PURE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def _maturin() -> Any:
    # maturin would otherwise fetch a Rust toolchain from the network when cargo is
    # missing; a build that needs Rust should say so instead.
    os.environ.setdefault("MATURIN_NO_INSTALL_RUST", "1")
    import maturin

    return maturin


def _require_cargo() -> None:
    if os.environ.get("CARGO") or shutil.which("cargo"):
        return
    hint = ""
    if (Path.home() / ".cargo" / "bin" / "cargo").exists():
        hint = (
            "\n  (~/.cargo/bin/cargo exists but is not on PATH: run `. ~/.cargo/env`)"
        )
    raise SystemExit(
        "remotemedia: building the package needs a Rust toolchain (cargo), which was "
        "not found on PATH." + hint + "\n"
        "  Install Rust from https://rustup.rs (or `conda install -c conda-forge rust`)"
        " and rerun the install,\n"
        f"  or build a pure-Python package without the native runtime: {PURE_ENV}=1 "
        "pip install ."
    )


def _toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10 (tomli comes from get_requires_*)
        import tomli as tomllib
    with path.open("rb") as handle:
        return tomllib.load(handle)


def _toml_requires() -> list[str]:
    return ["tomli>=1.1"] if sys.version_info < (3, 11) else []


# ---- maturin-delegating hooks (the pure switch short-circuits each) ----------------


def get_requires_for_build_wheel(config_settings: ConfigSettings = None) -> list[str]:
    """Build requirements beyond ``build-system.requires``."""
    if _pure():
        return _toml_requires()
    _require_cargo()
    return list(_maturin().get_requires_for_build_wheel(config_settings))


def get_requires_for_build_editable(
    config_settings: ConfigSettings = None,
) -> list[str]:
    """Build requirements of an editable install."""
    return get_requires_for_build_wheel(config_settings)


def get_requires_for_build_sdist(config_settings: ConfigSettings = None) -> list[str]:
    """Build requirements of the sdist (maturin reads the crate with cargo)."""
    _require_cargo()
    return list(_maturin().get_requires_for_build_sdist(config_settings))


def prepare_metadata_for_build_wheel(
    metadata_directory: str, config_settings: ConfigSettings = None
) -> str:
    """Writes the ``.dist-info`` directory and returns its name."""
    if _pure():
        return _write_dist_info(Path(metadata_directory))
    _require_cargo()
    return str(
        _maturin().prepare_metadata_for_build_wheel(metadata_directory, config_settings)
    )


def prepare_metadata_for_build_editable(
    metadata_directory: str, config_settings: ConfigSettings = None
) -> str:
    """Same metadata as the wheel."""
    return prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def build_wheel(
    wheel_directory: str,
    config_settings: ConfigSettings = None,
    metadata_directory: str | None = None,
) -> str:
    """Builds the wheel (Rust runtime included unless the pure switch is set)."""
    _warn_unbuilt_front_end()
    if _pure():
        return _write_pure_wheel(Path(wheel_directory), editable=False)
    _require_cargo()
    return str(
        _maturin().build_wheel(wheel_directory, config_settings, metadata_directory)
    )


def build_editable(
    wheel_directory: str,
    config_settings: ConfigSettings = None,
    metadata_directory: str | None = None,
) -> str:
    """Editable install: the sources stay here; maturin puts the runtime beside them."""
    if _pure():
        return _write_pure_wheel(Path(wheel_directory), editable=True)
    _require_cargo()
    return str(
        _maturin().build_editable(wheel_directory, config_settings, metadata_directory)
    )


def build_sdist(sdist_directory: str, config_settings: ConfigSettings = None) -> str:
    """Builds the sdist (maturin; it rebuilds the same wheel from scratch)."""
    _require_cargo()
    return str(_maturin().build_sdist(sdist_directory, config_settings))


def _warn_unbuilt_front_end() -> None:
    if (ROOT / "extension" / "package.json").is_file() and not any(
        (ROOT / "remotemedia" / "static").glob("*.js")
    ):
        print(
            "remotemedia: extension/ is not built, so the wheel has no bundled front "
            "end; run `make extension` (needs npm) first",
            file=sys.stderr,
        )


# ---- the pure-Python wheel ---------------------------------------------------------


def version() -> str:
    """The package version: ``[package].version`` of runtime/Cargo.toml."""
    return str(_toml(ROOT / "runtime" / "Cargo.toml")["package"]["version"])


def _metadata() -> str:
    project = _toml(ROOT / "pyproject.toml")["project"]
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {version()}",
        f"Summary: {project.get('description', '')}",
        f"Requires-Python: {project.get('requires-python', '>=3.10')}",
    ]
    license_ = project.get("license", {})
    if isinstance(license_, dict) and "text" in license_:
        lines.append(f"License: {license_['text']}")
    lines += [f"Requires-Dist: {req}" for req in project.get("dependencies", [])]
    for extra, reqs in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {req} ; extra == "{extra}"' for req in reqs]
    readme = ROOT / str(project.get("readme", "README.md"))
    lines.append("Description-Content-Type: text/markdown")
    return "\n".join(lines) + "\n\n" + readme.read_text(encoding="utf-8")


def _entry_points() -> str:
    scripts = _toml(ROOT / "pyproject.toml")["project"].get("scripts", {})
    body = "".join(f"{name} = {target}\n" for name, target in scripts.items())
    return f"[console_scripts]\n{body}"


def _dist_info_files() -> dict[str, bytes]:
    return {
        "METADATA": _metadata().encode(),
        "entry_points.txt": _entry_points().encode(),
    }


def _dist_info_name() -> str:
    return f"remotemedia-{version()}.dist-info"


def _write_dist_info(directory: Path) -> str:
    target = directory / _dist_info_name()
    target.mkdir(parents=True, exist_ok=True)
    for name, data in _dist_info_files().items():
        (target / name).write_bytes(data)
    return target.name


def _package_files() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*")):
            rel = path.relative_to(ROOT)
            if path.is_dir() or _SKIP_DIRS.intersection(rel.parts):
                continue
            if path.name.endswith(_SKIP_SUFFIXES):
                continue
            yield rel.as_posix(), path


def _record_row(name: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return [name, f"sha256={digest.decode()}", str(len(data))]


def _write_pure_wheel(directory: Path, *, editable: bool) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    dist_info = _dist_info_name()
    filename = f"remotemedia-{version()}-py3-none-any.whl"
    entries: dict[str, bytes] = {}
    if editable:
        entries["remotemedia_editable.pth"] = f"{ROOT}\n".encode()
    else:
        for name, path in _package_files():
            entries[name] = path.read_bytes()
    for name, data in _dist_info_files().items():
        entries[f"{dist_info}/{name}"] = data
    entries[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: remotemedia_build\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n"
    ).encode()
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for name, data in entries.items():
        writer.writerow(_record_row(name, data))
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    entries[f"{dist_info}/RECORD"] = record.getvalue().encode()
    with zipfile.ZipFile(directory / filename, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    return filename
