"""Wire codec: values survive the trip bit for bit; garbage is refused clearly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import remotemedia as rm
from remotemedia.remote import codec


class Opaque:
    """A value with no native wire form (travels cloudpickled)."""

    def __init__(self, payload: dict[str, int]) -> None:
        self.payload = payload


def test_audio_frame_round_trip_is_exact_and_read_only(sine: rm.AudioFrame) -> None:
    frame = rm.AudioFrame(sine.samples, 48000, timestamp=1.25)
    back = codec.decode_bytes(codec.encode_bytes(frame))
    assert back == frame
    assert back.samples.dtype == np.float32
    assert back.samples.tobytes() == frame.samples.tobytes()
    assert not back.samples.flags.writeable  # zero-copy view of the message buffer


def test_video_frame_of_8_mb_round_trip() -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (1632, 1712, 3), dtype=np.uint8)  # ~8.4 MB
    frame = rm.VideoFrame(image, timestamp=3.5)
    back = codec.decode_bytes(codec.encode_bytes(frame))
    assert back == frame


@pytest.mark.parametrize(
    "value", ["text", b"\x00bytes", None, True, False, -(2**63), 2**63 - 1, 0.1]
)
def test_native_scalars_keep_type_and_value(value: object) -> None:
    msg = codec.encode(value)
    assert msg.WhichOneof("kind") != "pickled"
    back = codec.decode(msg)
    assert back == value and type(back) is type(value)


def test_big_ints_arrays_and_objects() -> None:
    assert codec.decode(codec.encode(2**70)) == 2**70
    array = np.arange(12, dtype=">i4").reshape(3, 4)  # big-endian input
    back = codec.decode(codec.encode(array))
    assert back.dtype == np.dtype("<i4") and np.array_equal(back, array)
    opaque = codec.decode(codec.encode(Opaque({"a": 1})))
    assert isinstance(opaque, Opaque) and opaque.payload == {"a": 1}


def test_node_error_round_trip() -> None:
    error = rm.NodeError("Gain", "ValueError", "bad", "AudioFrame(...)", "tb text")
    back = codec.decode(codec.encode(error))
    assert back.to_dict() == error.to_dict()


def test_malformed_messages_raise_codec_error() -> None:
    with pytest.raises(codec.CodecError, match="malformed"):
        codec.decode_bytes(b"\x0a\xff\xff\xff")
    msg = codec.encode(np.zeros(4, dtype=np.float32))
    msg.tensor.shape[:] = [5]  # shape does not match the buffer
    with pytest.raises(codec.CodecError, match="tensor"):
        codec.decode(msg)
    bad = codec.pb.Value()
    bad.pickled.data = b"definitely not a pickle"
    with pytest.raises(codec.CodecError, match="cannot unpickle"):
        codec.decode(bad)
    with pytest.raises(codec.CodecError, match="empty"):
        codec.decode(codec.pb.Value())


def test_unpicklable_value_names_what_and_why() -> None:
    import threading

    with pytest.raises(TypeError, match="variable 'lock'.*lock"):
        codec.dumps(threading.Lock(), "variable 'lock'")


@settings(max_examples=40, deadline=None)
@given(
    channels=st.integers(1, 3),
    n=st.integers(1, 400),
    rate=st.integers(1, 192000),
    timestamp=st.floats(allow_nan=False, allow_infinity=False),
    seed=st.integers(0, 2**32 - 1),
)
def test_audio_round_trip_property(
    channels: int, n: int, rate: int, timestamp: float, seed: int
) -> None:
    samples = np.random.default_rng(seed).standard_normal((channels, n))
    frame = rm.AudioFrame(samples.astype(np.float32), rate, timestamp)
    back = codec.decode_bytes(codec.encode_bytes(frame))
    assert back.samples.tobytes() == frame.samples.tobytes()
    assert (back.sample_rate, back.timestamp) == (rate, frame.timestamp)


@settings(max_examples=40, deadline=None)
@given(
    value=st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text()
        | st.binary(),
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=10,
    )
)
def test_any_plain_value_round_trips(value: object) -> None:
    assert codec.decode(codec.encode(value)) == value
