"""The ``remotemedia`` command line. Subcommands: ``serve``."""

from __future__ import annotations

import argparse
import sys

from remotemedia._version import __version__

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; add a subcommand with ``subparsers.add_parser``."""
    parser = argparse.ArgumentParser(
        prog="remotemedia", description="remotemedia command line"
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = subparsers.add_parser(
        "serve",
        help="run the remote execution server",
        description="Run the gRPC remote execution server.",
    )
    try:
        from remotemedia_server.app import add_serve_arguments, run_from_args
    except ImportError as exc:  # pragma: no cover - server extra missing
        reason = str(exc)
        serve.set_defaults(handler=lambda args: _missing(reason))
    else:
        add_serve_arguments(serve)
        serve.set_defaults(handler=run_from_args)
    return parser


def _missing(reason: str) -> int:
    print(
        f"remotemedia serve needs the server extra ({reason}): "
        "pip install 'remotemedia[server]'",
        file=sys.stderr,
    )
    return 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``remotemedia`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 1
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
