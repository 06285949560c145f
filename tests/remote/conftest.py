"""A real remotemedia server on loopback, shared by the remote tests.

The server runs as a subprocess with small limits so that limit tests are quick.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import remotemedia as rm
from remotemedia.remote import LocalServer, Session, start_server

MEMORY_MB = 256
CALL_TIMEOUT_S = 30.0  # generous: imports can be slow on a busy machine
KILL_GRACE_S = 1.0


@pytest.fixture(scope="session")
def server() -> Iterator[LocalServer]:
    """One server for the whole test session."""
    srv = start_server(
        args=[
            "--workers",
            "2",
            "--memory-mb",
            str(MEMORY_MB),
            "--call-timeout",
            str(CALL_TIMEOUT_S),
            "--kill-grace",
            str(KILL_GRACE_S),
            "--max-objects",
            "50",
        ]
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def limits() -> dict[str, float]:
    """The limits the test server runs with."""
    return {"memory_mb": MEMORY_MB, "call_timeout_s": CALL_TIMEOUT_S}


@pytest.fixture
def session(server: LocalServer) -> Iterator[Session]:
    """A fresh session (its own worker process) per test."""
    with rm.connect(server.address, server.token) as sess:
        yield sess
