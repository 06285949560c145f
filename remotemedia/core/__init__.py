"""Core engine: frames, nodes, pipelines, manifests, errors and the node registry."""

from remotemedia.core.control import Control, Interrupt
from remotemedia.core.errors import (
    ManifestError,
    NodeError,
    PipelineError,
    RemoteError,
    RemoteMediaError,
)
from remotemedia.core.frames import AudioFrame, VideoFrame
from remotemedia.core.node import Node, NodeStats, Outputs, Source, iter_outputs
from remotemedia.core.pipeline import Pipeline
from remotemedia.core.registry import (
    NodeInfo,
    ParamInfo,
    list_nodes,
    register_node,
)

__all__ = [
    "AudioFrame",
    "Control",
    "Interrupt",
    "VideoFrame",
    "Node",
    "NodeStats",
    "Source",
    "Outputs",
    "iter_outputs",
    "Pipeline",
    "NodeError",
    "PipelineError",
    "ManifestError",
    "RemoteError",
    "RemoteMediaError",
    "NodeInfo",
    "ParamInfo",
    "list_nodes",
    "register_node",
]
