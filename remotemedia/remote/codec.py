"""Wire codec: Python values <-> ``remotemedia.v1.Value`` protobuf messages.

Frames and arrays travel as their raw little-endian buffer plus dtype, shape, rate
and timestamp. Decoding wraps the received buffer with :func:`numpy.frombuffer`
without copying, so decoded arrays are READ-ONLY: nodes must not modify their inputs
in place (return new arrays instead). Text, bytes, ``None``, ``bool``, ``int`` and
``float`` travel natively; any other value is cloudpickled (Python peers only).
"""

from __future__ import annotations

import base64
import collections
import io
import logging
import pickle
import types
from typing import Any

import cloudpickle
import numpy as np
from google.protobuf.message import DecodeError

from remotemedia.core.errors import NodeError, RemoteMediaError
from remotemedia.core.frames import AudioFrame, VideoFrame
from remotemedia.remote._proto import types_pb2 as pb

__all__ = [
    "CodecError",
    "encode",
    "decode",
    "encode_bytes",
    "decode_bytes",
    "dumps",
    "loads",
    "parse",
    "to_jsonable_bundle",
]

logger = logging.getLogger(__name__)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class CodecError(RemoteMediaError, ValueError):
    """A message or pickle could not be decoded (maps to INVALID_ARGUMENT)."""


def _le(array: np.ndarray) -> np.ndarray:
    """C-contiguous, little-endian view or copy of ``array``."""
    if array.dtype is _FLOAT32 and array.flags.c_contiguous:
        return array  # the usual audio frame: nothing to convert
    dtype = array.dtype
    if dtype.byteorder == ">":
        dtype = dtype.newbyteorder("<")
    return np.ascontiguousarray(array, dtype=dtype)


_FLOAT32 = np.dtype(np.float32)
_DTYPES: dict[str, np.dtype[Any]] = {}


def _dtype(name: str) -> np.dtype[Any]:
    dt = _DTYPES.get(name)
    if dt is None:
        dt = np.dtype(name)
        if dt.hasobject:
            raise TypeError("object arrays cannot travel as raw buffers")
        if len(_DTYPES) < 256:  # names come from clients: keep the cache bounded
            _DTYPES[name] = dt
    return dt


def _array(data: bytes, dtype: str, shape: Any, what: str) -> np.ndarray:
    try:
        array = np.frombuffer(data, dtype=_dtype(dtype))
        if len(shape) == 2:  # frames: indexing beats iterating the repeated field
            return array.reshape(shape[0], shape[1])
        return array.reshape(tuple(shape))
    except (TypeError, ValueError) as exc:
        raise CodecError(f"malformed {what}: {exc}") from exc


_DYNAMIC_CODE = "<dynamic-code>"


def _code_reduce(code: types.CodeType) -> Any:
    # cloudpickle names all code it ships "<dynamic-code>"; keep the real file name
    # (a notebook cell's, a script's) so that remote tracebacks name it and, with
    # the sources sent along (remotemedia.remote.sources), show its lines.
    constructor, args = cloudpickle.cloudpickle._code_reduce(code)
    index = args.index(_DYNAMIC_CODE)
    return constructor, (*args[:index], code.co_filename, *args[index + 1 :])


class _Pickler(cloudpickle.Pickler):
    """cloudpickle's pickler, keeping code objects' file names."""

    dispatch_table = collections.ChainMap(
        {types.CodeType: _code_reduce}, cloudpickle.Pickler.dispatch_table
    )


def dumps(obj: Any, what: str = "value") -> bytes:
    """cloudpickles ``obj``.

    Raises:
        TypeError: Naming ``what`` and why it cannot be pickled.
    """
    try:
        with io.BytesIO() as file:
            _Pickler(file, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
            return file.getvalue()
    except Exception as exc:  # noqa: BLE001 - pickling raises many types
        raise TypeError(
            f"cannot send {what} of type {type(obj).__name__}: {exc}"
        ) from exc


def loads(data: bytes, what: str = "value") -> Any:
    """Unpickles ``data`` (only ever data from an authenticated peer).

    Raises:
        CodecError: Naming ``what`` when the bytes are not a valid pickle.
    """
    try:
        return pickle.loads(data)
    except Exception as exc:  # noqa: BLE001
        raise CodecError(
            f"cannot unpickle {what}: {type(exc).__name__}: {exc}"
        ) from exc


def encode(value: Any, what: str = "value", msg: pb.Value | None = None) -> pb.Value:
    """Encodes one Python value as a ``Value`` message (into ``msg`` when given)."""
    if msg is None:
        msg = pb.Value()
    kind = type(value)
    if kind is AudioFrame:
        samples = _le(value.samples)
        audio = msg.audio  # (one lookup: this runs per frame)
        audio.samples = samples.tobytes()
        audio.dtype = samples.dtype.str
        audio.shape.extend(samples.shape)
        audio.sample_rate = value.sample_rate
        audio.timestamp = value.timestamp
    elif kind is VideoFrame:
        image = _le(value.image)
        msg.video.data = image.tobytes()
        msg.video.dtype = image.dtype.str
        msg.video.shape.extend(image.shape)
        msg.video.timestamp = value.timestamp
    elif kind is str:
        msg.text = value
    elif kind is bytes:
        msg.raw = value
    elif value is None:
        msg.none.SetInParent()
    elif kind is bool:
        msg.boolean = value
    elif kind is int and _INT64_MIN <= value <= _INT64_MAX:
        msg.integer = value
    elif kind is float:
        msg.number = value
    elif (
        kind is np.ndarray and not value.dtype.hasobject and value.dtype.kind in "biufc"
    ):
        array = _le(value)
        msg.tensor.data = array.tobytes()
        msg.tensor.dtype = array.dtype.str
        msg.tensor.shape.extend(array.shape)
    elif kind is NodeError:
        msg.error.node = value.node
        msg.error.error_type = value.error_type
        msg.error.message = value.message
        msg.error.input_summary = value.input_summary
        msg.error.traceback = value.traceback
    else:
        msg.pickled.data = dumps(value, what)
        msg.pickled.type_name = f"{kind.__module__}.{kind.__qualname__}"
    return msg


def decode(msg: pb.Value, what: str = "value") -> Any:
    """Decodes a ``Value`` message (frames and arrays are read-only views).

    Raises:
        CodecError: If the message is malformed or empty.
    """
    kind = msg.WhichOneof("kind")
    if kind == "audio":
        audio = msg.audio
        samples = _array(audio.samples, audio.dtype, audio.shape, "audio frame")
        rate = audio.sample_rate
        if (
            samples.dtype == _FLOAT32
            and samples.ndim == 2
            and samples.shape[0] >= 1
            and rate > 0
        ):
            # What the constructor would check, checked: skip it (per frame).
            return AudioFrame._trusted(samples, int(rate), float(audio.timestamp))
        try:
            return AudioFrame(samples, rate, audio.timestamp)
        except ValueError as exc:
            raise CodecError(f"malformed audio frame: {exc}") from exc
    if kind == "video":
        video = msg.video
        image = _array(video.data, video.dtype, video.shape, "video frame")
        try:
            return VideoFrame(image, video.timestamp)
        except ValueError as exc:
            raise CodecError(f"malformed video frame: {exc}") from exc
    if kind == "text":
        return msg.text
    if kind == "raw":
        return msg.raw
    if kind == "none":
        return None
    if kind == "boolean":
        return msg.boolean
    if kind == "integer":
        return msg.integer
    if kind == "number":
        return msg.number
    if kind == "tensor":
        return _array(msg.tensor.data, msg.tensor.dtype, msg.tensor.shape, "tensor")
    if kind == "error":
        e = msg.error
        return NodeError(e.node, e.error_type, e.message, e.input_summary, e.traceback)
    if kind == "pickled":
        return loads(msg.pickled.data, what)
    raise CodecError(f"empty {what}: the Value message sets no field")


def parse(message_type: Any, data: bytes, what: str) -> Any:
    """Parses serialized protobuf ``data``.

    Raises:
        CodecError: If the bytes are not a valid ``message_type``.
    """
    try:
        return message_type.FromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise CodecError(f"malformed {what} message: {exc}") from exc


def encode_bytes(value: Any, what: str = "value") -> bytes:
    """:func:`encode` then serialize."""
    return encode(value, what).SerializeToString()


def decode_bytes(data: bytes, what: str = "value") -> Any:
    """Parse then :func:`decode`."""
    return decode(parse(pb.Value, data, what), what)


def to_jsonable_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """Turns a mime bundle into Jupyter's JSON form (binary values base64-encoded)."""
    out: dict[str, Any] = {}
    for mime, data in bundle.items():
        if isinstance(data, (bytes, bytearray, memoryview)):
            out[mime] = base64.b64encode(bytes(data)).decode("ascii")
        else:
            out[mime] = data
    return out
