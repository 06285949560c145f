"""Frames cross the Python/Rust boundary without copies.

In: the runtime reads a frame's numpy buffer in place (a read-only view).
Out: samples computed in Rust become numpy arrays that own the Rust buffer.
Through: a frame that no native node changes leaves the runtime as the very same
object, after passing through Python and native stages.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

import remotemedia as rm
from remotemedia import nodes
from remotemedia.core import rust_engine

runtime = pytest.importorskip(
    "remotemedia._runtime",
    reason="Rust runtime not built (run 'make runtime' or runtime/build.sh)",
)


def address(frame: rm.AudioFrame) -> int:
    return int(frame.samples.__array_interface__["data"][0])


@rm.register_node
class RtProbe(rm.Node):
    """Passes frames through, recording the address of their samples."""

    seen: ClassVar[list[tuple[str, int, Any]]] = []

    def process(self, data: Any) -> Any:
        RtProbe.seen.append((self.name, address(data), data))
        return data


def test_runtime_reads_the_numpy_buffer_in_place() -> None:
    frame = rm.AudioFrame(np.zeros((2, 4800), np.float32), 48000)
    assert runtime._buffer_address(frame) == address(frame)
    # A strided view cannot be read in place; the runtime reports that it copies.
    view = rm.AudioFrame(np.zeros((2, 100), np.float32)[:, ::2], 48000)
    assert runtime._buffer_address(view) == 0


def test_pointer_identity_through_python_and_native_stages() -> None:
    RtProbe.seen.clear()
    frame = rm.AudioFrame(
        np.random.default_rng(0).random((1, 32000), np.float32), 16000
    )
    # Resample at the frame's own rate passes it through natively, untouched.
    pipeline = rm.Pipeline(
        [
            RtProbe(name="a"),
            nodes.Resample(16000),
            nodes.ChannelMix(1),
            RtProbe(name="b"),
        ]
    )
    placement = runtime.plan(pipeline.to_json())
    assert [p["native"] for p in placement] == [False, True, True, False]
    [out] = rust_engine.run_manifest(pipeline.to_manifest(), [frame])
    assert [(name, addr) for name, addr, _ in RtProbe.seen] == [
        ("a", address(frame)),
        ("b", address(frame)),
    ]
    assert RtProbe.seen[1][2] is frame and out is frame


def test_native_output_owns_the_rust_buffer() -> None:
    RtProbe.seen.clear()
    frame = rm.AudioFrame(np.ones((2, 1000), np.float32), 16000)
    pipeline = rm.Pipeline([nodes.Gain(-6.0), RtProbe(name="after")])
    [out] = pipeline.collect([frame], engine="rust")
    assert address(out) == RtProbe.seen[0][1]  # the array the probe got, not a copy
    assert not np.shares_memory(out.samples, frame.samples)
    assert not out.samples.flags.owndata  # numpy wraps memory allocated by Rust
    assert out.samples.base is not None
    assert out.samples.flags.c_contiguous and out.samples.dtype == np.float32


def test_large_frames_are_not_copied() -> None:
    # 64 MB of audio through a native stage and out again, shared throughout.
    big = rm.AudioFrame(np.zeros((1, 16_000_000), np.float32), 16000)
    [out] = rust_engine.run_manifest(
        rm.Pipeline([nodes.Resample(16000), nodes.ChannelMix(1)]).to_manifest(), [big]
    )
    assert np.shares_memory(out.samples, big.samples)
