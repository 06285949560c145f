from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AudioFrame(_message.Message):
    __slots__ = ("samples", "dtype", "shape", "sample_rate", "timestamp")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    samples: bytes
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    sample_rate: int
    timestamp: float
    def __init__(self, samples: _Optional[bytes] = ..., dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., sample_rate: _Optional[int] = ..., timestamp: _Optional[float] = ...) -> None: ...

class VideoFrame(_message.Message):
    __slots__ = ("data", "dtype", "shape", "timestamp")
    DATA_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    timestamp: float
    def __init__(self, data: _Optional[bytes] = ..., dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., timestamp: _Optional[float] = ...) -> None: ...

class Tensor(_message.Message):
    __slots__ = ("data", "dtype", "shape")
    DATA_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, data: _Optional[bytes] = ..., dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class PickledObject(_message.Message):
    __slots__ = ("data", "type_name")
    DATA_FIELD_NUMBER: _ClassVar[int]
    TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    type_name: str
    def __init__(self, data: _Optional[bytes] = ..., type_name: _Optional[str] = ...) -> None: ...

class NodeError(_message.Message):
    __slots__ = ("node", "error_type", "message", "input_summary", "traceback")
    NODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    INPUT_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    node: str
    error_type: str
    message: str
    input_summary: str
    traceback: str
    def __init__(self, node: _Optional[str] = ..., error_type: _Optional[str] = ..., message: _Optional[str] = ..., input_summary: _Optional[str] = ..., traceback: _Optional[str] = ...) -> None: ...

class NoneValue(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Value(_message.Message):
    __slots__ = ("audio", "video", "text", "raw", "boolean", "integer", "number", "none", "tensor", "pickled", "error")
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    BOOLEAN_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    NONE_FIELD_NUMBER: _ClassVar[int]
    TENSOR_FIELD_NUMBER: _ClassVar[int]
    PICKLED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    audio: AudioFrame
    video: VideoFrame
    text: str
    raw: bytes
    boolean: bool
    integer: int
    number: float
    none: NoneValue
    tensor: Tensor
    pickled: PickledObject
    error: NodeError
    def __init__(self, audio: _Optional[_Union[AudioFrame, _Mapping]] = ..., video: _Optional[_Union[VideoFrame, _Mapping]] = ..., text: _Optional[str] = ..., raw: _Optional[bytes] = ..., boolean: _Optional[bool] = ..., integer: _Optional[int] = ..., number: _Optional[float] = ..., none: _Optional[_Union[NoneValue, _Mapping]] = ..., tensor: _Optional[_Union[Tensor, _Mapping]] = ..., pickled: _Optional[_Union[PickledObject, _Mapping]] = ..., error: _Optional[_Union[NodeError, _Mapping]] = ...) -> None: ...
