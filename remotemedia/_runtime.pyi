"""Type stub of the compiled Rust runtime (built by ``runtime/build.sh``)."""

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TypedDict, final

import numpy as np
import numpy.typing as npt
from typing_extensions import Self

from remotemedia.core.node import Node

__all__ = [
    "__version__",
    "END",
    "run_manifest",
    "plan",
    "native_nodes",
    "int16_to_float32",
    "float32_to_int16",
    "_buffer_address",
    "StreamExecutor",
    "GrpcEndpoint",
    "ServerCall",
    "CALL_MESSAGES",
    "CALL_END",
    "CALL_GONE",
]

__version__: str
END: object  # returned by StreamExecutor.pull at the end of the stream
# Event kinds passed to a GrpcEndpoint call's deliver(kind, messages) callback.
CALL_MESSAGES: int
CALL_END: int
CALL_GONE: int

class _Placement(TypedDict):
    stage: int
    id: str
    type: str
    native: bool

def run_manifest(
    manifest_json: str, inputs: Iterable[Any], nodes: dict[str, Node] | None = None
) -> list[Any]:
    """Runs a manifest over a batch of inputs (GIL released) and returns all outputs."""

def plan(manifest_json: str, nodes: dict[str, Node] | None = None) -> list[_Placement]:
    """Validates a manifest and returns where each node runs."""

def native_nodes() -> list[str]:
    """Registry names of the node types with a native implementation."""

def int16_to_float32(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    """int16 PCM to float32 samples (``x / 32768``), any shape."""

def float32_to_int16(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    """float32 samples to clipped int16 PCM, any shape."""

def _buffer_address(frame: Any) -> int:
    """Address of the buffer the runtime reads for a frame (0 when it copies)."""

@final
class StreamExecutor:
    """A running streaming pipeline: push inputs, pull outputs in order."""

    def __new__(
        cls, manifest_json: str, nodes: dict[str, Node] | None = None
    ) -> Self: ...
    def push(self, item: Any) -> None:
        """Sends one input, waiting (GIL released) while the pipeline is full."""

    def try_push(self, item: Any) -> bool:
        """Sends one input if there is room now; returns whether it was sent."""

    def close(self) -> None:
        """Ends the input; the nodes flush and the stream ends."""

    def pull(self, timeout: float | None = None) -> Any:
        """Next output, or END at the end; TimeoutError after ``timeout`` s."""

    def cancel(self) -> None:
        """Stops the stream now without flushing."""

    def __iter__(self) -> StreamExecutor: ...
    def __next__(self) -> Any: ...
    def __enter__(self) -> StreamExecutor: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

_Metadata = list[tuple[str, str | bytes]]

@final
class ServerCall:
    """One bidi call, as its Python handler sees it: replies go out through it."""

    def send(self, data: bytes) -> bool:
        """Queues one reply message; False when the client has gone."""

    def release(self, count: int) -> None:
        """Gives back ``count`` requests the handler is done with."""

    def go_inline(self, step: Callable[[list[bytes]], int] | None) -> None:
        """Hands request batches to ``step`` on the endpoint's thread (None stops)."""

    def finish(self, code: int, details: str = ..., trailers: _Metadata = ...) -> None:
        """Ends the call with a gRPC status code, details and trailing metadata."""

@final
class GrpcEndpoint:
    """A gRPC endpoint whose bidi methods are served by Python handlers."""

    def __new__(
        cls,
        host: str,
        methods: list[str],
        on_call: Callable[
            [str, list[tuple[str, bytes]], ServerCall],
            Callable[[int, list[bytes] | None], None],
        ],
        call_soon_threadsafe: Callable[..., Any],
        max_message_bytes: int,
        tls: tuple[bytes, bytes] | None = None,
    ) -> Self: ...
    @property
    def port(self) -> int:
        """The bound port."""

    def stop(self, grace_s: float = 0.0) -> None:
        """Stops accepting calls; calls in flight get up to ``grace_s`` to end."""
