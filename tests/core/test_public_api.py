"""What a user discovers: dir(rm), tab completion and the docstring examples."""

from __future__ import annotations

import doctest
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {"data", "RemoteObject", "Session", "start_server", "remote", "connect"}
INTERNAL = {"Any", "TYPE_CHECKING", "annotations", "importlib", "_LAZY", "core"}

# Modules whose docstring examples run as doctests (help(...) shows these).
DOCTESTED = [
    "remotemedia.core.kinds",
    "remotemedia.core.node",
    "remotemedia.core.pipeline",
    "remotemedia.notebook.widgets",
]


def _fresh(code: str) -> str:
    """Runs ``code`` in a new interpreter (nothing used before) and returns stdout."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "server")])
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_dir_lists_public_names_before_first_use() -> None:
    names = set(
        json.loads(_fresh("import json, remotemedia as rm; print(json.dumps(dir(rm)))"))
    )
    assert PUBLIC <= names
    assert not names & INTERNAL
    import remotemedia as rm

    assert set(rm.__all__) <= names
    for name in rm.__all__:
        assert getattr(rm, name) is not None, name


def test_tab_completion_in_ipython_offers_the_public_names() -> None:
    code = (
        "import json\n"
        "from IPython.core.completer import provisionalcompleter\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_cell('import remotemedia as rm')\n"
        "with provisionalcompleter():\n"  # the API ipykernel's completion uses
        "    found = [c.text for c in ip.Completer.completions('rm.', 3)]\n"
        "print(json.dumps(found))\n"
    )
    matches = {m.removeprefix("rm.") for m in json.loads(_fresh(code).splitlines()[-1])}
    assert PUBLIC <= matches
    assert not matches & INTERNAL


@pytest.mark.parametrize("module_name", DOCTESTED)
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=True)
    assert result.attempted > 0, f"{module_name} has no examples"
    assert result.failed == 0, f"{result.failed} example(s) of {module_name} failed"
