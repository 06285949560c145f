from remotemedia.remote._proto import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ServerInfoResponse(_message.Message):
    __slots__ = ("version", "capabilities", "python_version", "rust_runtime", "gpu_json", "limits_json")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    RUST_RUNTIME_FIELD_NUMBER: _ClassVar[int]
    GPU_JSON_FIELD_NUMBER: _ClassVar[int]
    LIMITS_JSON_FIELD_NUMBER: _ClassVar[int]
    version: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    python_version: str
    rust_runtime: bool
    gpu_json: str
    limits_json: str
    def __init__(self, version: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., python_version: _Optional[str] = ..., rust_runtime: _Optional[bool] = ..., gpu_json: _Optional[str] = ..., limits_json: _Optional[str] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NodeInfo(_message.Message):
    __slots__ = ("name", "summary", "module", "parameters_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    MODULE_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    summary: str
    module: str
    parameters_json: str
    def __init__(self, name: _Optional[str] = ..., summary: _Optional[str] = ..., module: _Optional[str] = ..., parameters_json: _Optional[str] = ...) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[NodeInfo]
    def __init__(self, nodes: _Optional[_Iterable[_Union[NodeInfo, _Mapping]]] = ...) -> None: ...

class OpenSessionRequest(_message.Message):
    __slots__ = ("client",)
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    client: str
    def __init__(self, client: _Optional[str] = ...) -> None: ...

class SessionInfo(_message.Message):
    __slots__ = ("session_id", "limits_json", "direct")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    LIMITS_JSON_FIELD_NUMBER: _ClassVar[int]
    DIRECT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    limits_json: str
    direct: DirectEndpoint
    def __init__(self, session_id: _Optional[str] = ..., limits_json: _Optional[str] = ..., direct: _Optional[_Union[DirectEndpoint, _Mapping]] = ...) -> None: ...

class DirectEndpoint(_message.Message):
    __slots__ = ("port", "token")
    PORT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    port: int
    token: str
    def __init__(self, port: _Optional[int] = ..., token: _Optional[str] = ...) -> None: ...

class SessionEndpointInfo(_message.Message):
    __slots__ = ("direct", "worker_failure_json")
    DIRECT_FIELD_NUMBER: _ClassVar[int]
    WORKER_FAILURE_JSON_FIELD_NUMBER: _ClassVar[int]
    direct: DirectEndpoint
    worker_failure_json: str
    def __init__(self, direct: _Optional[_Union[DirectEndpoint, _Mapping]] = ..., worker_failure_json: _Optional[str] = ...) -> None: ...

class SessionRef(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class CloseSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class JsonResponse(_message.Message):
    __slots__ = ("json",)
    JSON_FIELD_NUMBER: _ClassVar[int]
    json: str
    def __init__(self, json: _Optional[str] = ...) -> None: ...

class PipelineSpec(_message.Message):
    __slots__ = ("manifest_json", "pickled_nodes", "node_ids")
    MANIFEST_JSON_FIELD_NUMBER: _ClassVar[int]
    PICKLED_NODES_FIELD_NUMBER: _ClassVar[int]
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    manifest_json: str
    pickled_nodes: bytes
    node_ids: NodeIds
    def __init__(self, manifest_json: _Optional[str] = ..., pickled_nodes: _Optional[bytes] = ..., node_ids: _Optional[_Union[NodeIds, _Mapping]] = ...) -> None: ...

class NodeIds(_message.Message):
    __slots__ = ("ids",)
    IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ExecutePipelineRequest(_message.Message):
    __slots__ = ("session_id", "pipeline", "input", "timeout_s")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    pipeline: PipelineSpec
    input: _types_pb2.Value
    timeout_s: float
    def __init__(self, session_id: _Optional[str] = ..., pipeline: _Optional[_Union[PipelineSpec, _Mapping]] = ..., input: _Optional[_Union[_types_pb2.Value, _Mapping]] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class ExecutePipelineResponse(_message.Message):
    __slots__ = ("outputs",)
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[_types_pb2.Value]
    def __init__(self, outputs: _Optional[_Iterable[_Union[_types_pb2.Value, _Mapping]]] = ...) -> None: ...

class StreamOpen(_message.Message):
    __slots__ = ("session_id", "pipeline")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    pipeline: PipelineSpec
    def __init__(self, session_id: _Optional[str] = ..., pipeline: _Optional[_Union[PipelineSpec, _Mapping]] = ...) -> None: ...

class StreamEnd(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StreamBatch(_message.Message):
    __slots__ = ("frames",)
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    frames: _containers.RepeatedCompositeFieldContainer[_types_pb2.Value]
    def __init__(self, frames: _Optional[_Iterable[_Union[_types_pb2.Value, _Mapping]]] = ...) -> None: ...

class StreamRequest(_message.Message):
    __slots__ = ("open", "frame", "end", "batch")
    OPEN_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    open: StreamOpen
    frame: _types_pb2.Value
    end: StreamEnd
    batch: StreamBatch
    def __init__(self, open: _Optional[_Union[StreamOpen, _Mapping]] = ..., frame: _Optional[_Union[_types_pb2.Value, _Mapping]] = ..., end: _Optional[_Union[StreamEnd, _Mapping]] = ..., batch: _Optional[_Union[StreamBatch, _Mapping]] = ...) -> None: ...

class StreamResponse(_message.Message):
    __slots__ = ("values", "ack", "end", "stats_json")
    VALUES_FIELD_NUMBER: _ClassVar[int]
    ACK_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    STATS_JSON_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[_types_pb2.Value]
    ack: int
    end: bool
    stats_json: str
    def __init__(self, values: _Optional[_Iterable[_Union[_types_pb2.Value, _Mapping]]] = ..., ack: _Optional[int] = ..., end: _Optional[bool] = ..., stats_json: _Optional[str] = ...) -> None: ...

class CreateObjectRequest(_message.Message):
    __slots__ = ("session_id", "object")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    object: _types_pb2.PickledObject
    def __init__(self, session_id: _Optional[str] = ..., object: _Optional[_Union[_types_pb2.PickledObject, _Mapping]] = ...) -> None: ...

class ObjectRef(_message.Message):
    __slots__ = ("session_id", "object_id", "type_name")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    object_id: str
    type_name: str
    def __init__(self, session_id: _Optional[str] = ..., object_id: _Optional[str] = ..., type_name: _Optional[str] = ...) -> None: ...

class CallMethodRequest(_message.Message):
    __slots__ = ("session_id", "object_id", "method", "pickled_args", "timeout_s")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PICKLED_ARGS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    object_id: str
    method: str
    pickled_args: bytes
    timeout_s: float
    def __init__(self, session_id: _Optional[str] = ..., object_id: _Optional[str] = ..., method: _Optional[str] = ..., pickled_args: _Optional[bytes] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class CallMethodResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: _types_pb2.Value
    def __init__(self, result: _Optional[_Union[_types_pb2.Value, _Mapping]] = ...) -> None: ...

class CallStreamRequest(_message.Message):
    __slots__ = ("id", "call", "cancel", "execute")
    ID_FIELD_NUMBER: _ClassVar[int]
    CALL_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_FIELD_NUMBER: _ClassVar[int]
    id: int
    call: CallMethodRequest
    cancel: bool
    execute: ExecuteCodeRequest
    def __init__(self, id: _Optional[int] = ..., call: _Optional[_Union[CallMethodRequest, _Mapping]] = ..., cancel: _Optional[bool] = ..., execute: _Optional[_Union[ExecuteCodeRequest, _Mapping]] = ...) -> None: ...

class CallStreamResponse(_message.Message):
    __slots__ = ("id", "result", "code", "error", "event", "end")
    ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    id: int
    result: CallMethodResponse
    code: str
    error: RemoteException
    event: ExecuteCodeEvent
    end: bool
    def __init__(self, id: _Optional[int] = ..., result: _Optional[_Union[CallMethodResponse, _Mapping]] = ..., code: _Optional[str] = ..., error: _Optional[_Union[RemoteException, _Mapping]] = ..., event: _Optional[_Union[ExecuteCodeEvent, _Mapping]] = ..., end: _Optional[bool] = ...) -> None: ...

class GetAttributeRequest(_message.Message):
    __slots__ = ("session_id", "object_id", "name")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    object_id: str
    name: str
    def __init__(self, session_id: _Optional[str] = ..., object_id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class GetAttributeResponse(_message.Message):
    __slots__ = ("value", "callable", "method")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CALLABLE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    value: _types_pb2.Value
    callable: bool
    method: bool
    def __init__(self, value: _Optional[_Union[_types_pb2.Value, _Mapping]] = ..., callable: _Optional[bool] = ..., method: _Optional[bool] = ...) -> None: ...

class DeleteObjectResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExecuteCodeRequest(_message.Message):
    __slots__ = ("session_id", "code", "timeout_s")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    code: str
    timeout_s: float
    def __init__(self, session_id: _Optional[str] = ..., code: _Optional[str] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class StreamChunk(_message.Message):
    __slots__ = ("name", "text")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    name: str
    text: str
    def __init__(self, name: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class RemoteException(_message.Message):
    __slots__ = ("error_type", "message", "traceback")
    ERROR_TYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TRACEBACK_FIELD_NUMBER: _ClassVar[int]
    error_type: str
    message: str
    traceback: str
    def __init__(self, error_type: _Optional[str] = ..., message: _Optional[str] = ..., traceback: _Optional[str] = ...) -> None: ...

class ExecuteCodeEvent(_message.Message):
    __slots__ = ("stream", "display_json", "result_json", "error")
    STREAM_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_JSON_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    stream: StreamChunk
    display_json: str
    result_json: str
    error: RemoteException
    def __init__(self, stream: _Optional[_Union[StreamChunk, _Mapping]] = ..., display_json: _Optional[str] = ..., result_json: _Optional[str] = ..., error: _Optional[_Union[RemoteException, _Mapping]] = ...) -> None: ...

class PushVariablesRequest(_message.Message):
    __slots__ = ("session_id", "variables")
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    variables: _containers.ScalarMap[str, bytes]
    def __init__(self, session_id: _Optional[str] = ..., variables: _Optional[_Mapping[str, bytes]] = ...) -> None: ...

class PushVariablesResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PullVariablesRequest(_message.Message):
    __slots__ = ("session_id", "names")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, session_id: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...

class PullVariablesResponse(_message.Message):
    __slots__ = ("variables",)
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: bytes
        def __init__(self, key: _Optional[str] = ..., value: _Optional[bytes] = ...) -> None: ...
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    variables: _containers.ScalarMap[str, bytes]
    def __init__(self, variables: _Optional[_Mapping[str, bytes]] = ...) -> None: ...
