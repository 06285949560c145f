"""The package version, read from the installed metadata.

Its one source is ``[package].version`` in ``runtime/Cargo.toml``: maturin writes it
into the wheel's metadata (``dynamic = ["version"]`` in pyproject.toml), and both
``remotemedia.__version__`` and ``remotemedia --version`` read it from there.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("remotemedia")
except PackageNotFoundError:  # sources on sys.path without an install
    __version__ = "0+unknown"
