"""The RemoteExecution method table, shared by the client and the server."""

from __future__ import annotations

from typing import Any

from remotemedia.remote._proto import execution_pb2 as epb

SERVICE = "remotemedia.v1.RemoteExecution"

# name -> (kind, request type, response type); kind: unary_unary, unary_stream,
# stream_stream.
METHODS: dict[str, tuple[str, Any, Any]] = {
    "ServerInfo": ("unary_unary", epb.ServerInfoRequest, epb.ServerInfoResponse),
    "ListNodes": ("unary_unary", epb.ListNodesRequest, epb.ListNodesResponse),
    "OpenSession": ("unary_unary", epb.OpenSessionRequest, epb.SessionInfo),
    "CloseSession": ("unary_unary", epb.SessionRef, epb.CloseSessionResponse),
    "SessionStatus": ("unary_unary", epb.SessionRef, epb.JsonResponse),
    "ResetSession": ("unary_unary", epb.SessionRef, epb.JsonResponse),
    "SessionEndpoint": ("unary_unary", epb.SessionRef, epb.SessionEndpointInfo),
    "ExecutePipeline": (
        "unary_unary",
        epb.ExecutePipelineRequest,
        epb.ExecutePipelineResponse,
    ),
    "StreamPipeline": ("stream_stream", epb.StreamRequest, epb.StreamResponse),
    "CreateObject": ("unary_unary", epb.CreateObjectRequest, epb.ObjectRef),
    "CallMethod": ("unary_unary", epb.CallMethodRequest, epb.CallMethodResponse),
    "CallStream": ("stream_stream", epb.CallStreamRequest, epb.CallStreamResponse),
    "GetAttribute": ("unary_unary", epb.GetAttributeRequest, epb.GetAttributeResponse),
    "DeleteObject": ("unary_unary", epb.ObjectRef, epb.DeleteObjectResponse),
    "ListObjects": ("unary_unary", epb.SessionRef, epb.JsonResponse),
    "ExecuteCode": ("unary_stream", epb.ExecuteCodeRequest, epb.ExecuteCodeEvent),
    "PushVariables": (
        "unary_unary",
        epb.PushVariablesRequest,
        epb.PushVariablesResponse,
    ),
    "PullVariables": (
        "unary_unary",
        epb.PullVariablesRequest,
        epb.PullVariablesResponse,
    ),
}


def path(name: str) -> str:
    """The full gRPC method path of ``name``."""
    return f"/{SERVICE}/{name}"


def channel_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    """gRPC options of every remotemedia channel and server (large frames)."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]
