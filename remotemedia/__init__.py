"""remotemedia: real-time audio, video and ML pipelines, local or on a remote server.

Quick start::

    import remotemedia as rm
    from remotemedia import nodes

    p = rm.Pipeline([nodes.AudioFileSource(rm.data.speech()), nodes.Resample(16000)])
    frames = p.collect()
"""

import importlib as _importlib
import typing as _typing

from remotemedia import nodes
from remotemedia._version import __version__
from remotemedia.core import (
    AudioFrame,
    Interrupt,
    ManifestError,
    Node,
    NodeError,
    NodeInfo,
    Outputs,
    ParamInfo,
    Pipeline,
    PipelineError,
    RemoteError,
    RemoteMediaError,
    Source,
    VideoFrame,
    list_nodes,
    register_node,
)

__all__ = [
    "AudioFrame",
    "VideoFrame",
    "Node",
    "Source",
    "Outputs",
    "Pipeline",
    "Interrupt",
    "NodeError",
    "PipelineError",
    "ManifestError",
    "RemoteError",
    "RemoteMediaError",
    "NodeInfo",
    "ParamInfo",
    "list_nodes",
    "register_node",
    "nodes",
    "data",
    "show",
    "connect",
    "start_server",
    "remote",
    "RemoteObject",
    "Session",
    "widgets",
    "Transcript",
    "__version__",
]

# Heavier layers load on first use so that `import remotemedia` stays light and
# the core works without gRPC or Jupyter installed.
_LAZY = {
    "show": ("remotemedia.notebook.display", "show"),
    "connect": ("remotemedia.remote", "connect"),
    "start_server": ("remotemedia.remote", "start_server"),
    "remote": ("remotemedia.remote", "remote"),
    "RemoteObject": ("remotemedia.remote", "RemoteObject"),
    "Session": ("remotemedia.remote", "Session"),
    "widgets": ("remotemedia.notebook.widgets", None),
    "data": ("remotemedia.data", None),
    "Transcript": ("remotemedia.nodes.ml.transcript", "Transcript"),
}

if _typing.TYPE_CHECKING:
    from remotemedia import data
    from remotemedia.nodes.ml.transcript import Transcript
    from remotemedia.notebook import widgets
    from remotemedia.notebook.display import show
    from remotemedia.remote import RemoteObject, Session, connect, remote, start_server


def __getattr__(name: str) -> object:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(
            f"module 'remotemedia' has no attribute {name!r}"
        ) from None
    module = _importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # dir(rm) and tab completion: the public names, lazy ones included, without
    # the imports this module needs for itself.
    return sorted({*__all__, "load_ipython_extension"})


def load_ipython_extension(ipython: object) -> None:
    """Entry point of ``%load_ext remotemedia``: registers the magics."""
    from remotemedia.notebook.magics import load_ipython_extension as load

    load(ipython)
