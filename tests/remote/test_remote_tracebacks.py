"""Remote tracebacks start at the user's code: no server frames, and classes
defined in a notebook show their source lines (sent along with their code)."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import remotemedia as rm
from remotemedia.remote import Session

CELL = """
import remotemedia as rm

class Boom:
    def go(self, x):
        return self.inner(x)

    def inner(self, x):
        raise ValueError(f"boom {x}")

class Fragile(rm.Node):
    def process(self, data):
        return 1 / data
"""

_SERVER_FILES = ("worker.py", "remotemedia_server", "remotemedia/core/node.py")


@pytest.fixture(scope="module")
def cell_ns() -> dict[str, Any]:
    """Classes defined in a notebook cell (an IPython shell)."""
    shell = InteractiveShell.instance()
    result = shell.run_cell(CELL)
    assert result.success
    return shell.user_ns


def test_a_notebook_class_shows_its_source_lines(
    session: Session, cell_ns: dict[str, Any]
) -> None:
    boom = rm.RemoteObject(cell_ns["Boom"](), session)
    with pytest.raises(rm.RemoteError) as info:
        boom.go(3)
    text = info.value.remote_traceback
    assert "return self.inner(x)" in text
    assert 'raise ValueError(f"boom {x}")' in text
    assert "<ipython-input-" in text
    assert not any(name in text for name in _SERVER_FILES), text
    assert text.rstrip().endswith("ValueError: boom 3")


def test_a_remote_node_error_starts_at_the_node(
    session: Session, cell_ns: dict[str, Any]
) -> None:
    pipeline = rm.Pipeline([rm.remote(cell_ns["Fragile"](), session)])
    with pytest.raises(rm.PipelineError) as info:
        pipeline.collect([0])
    text = info.value.node_error.traceback
    assert "return 1 / data" in text
    assert not any(name in text for name in _SERVER_FILES), text
    assert "ZeroDivisionError" in text


def test_server_side_errors_carry_no_server_traceback(session: Session) -> None:
    with pytest.raises(rm.RemoteError, match="not defined in the session") as info:
        session.pull("never_defined")
    assert info.value.remote_traceback == ""
