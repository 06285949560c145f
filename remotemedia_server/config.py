"""Server configuration: command-line options and the optional ``server.yaml``.

Example ``server.yaml``::

    node_modules: [my_package.nodes]   # imported by the server and every worker
    allowed_nodes: [Gain, Resample]    # omit to allow every registered node
    limits:
      memory_mb: 2048                  # per session, beyond the worker's baseline
      call_timeout_s: 300              # wall time of one call
      max_objects: 1000                # remote objects per session
      idle_timeout_s: 3600             # idle sessions are closed
      max_sessions: 64
    workers: 2                         # warm workers
    direct_streams: true               # clients stream to session workers' ports
    direct_transport: auto             # native (Rust), grpcio, or auto
    webrtc: true                       # also serve the WebRTC page and POST /offer
    webrtc_port: 8080
    webrtc_pipeline: live.json         # manifest per connection (default pass-through)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from remotemedia_server.direct import DirectOptions

__all__ = ["ServerConfig", "Limits"]


@dataclasses.dataclass
class Limits:
    """Per-session limits.

    Attributes:
        memory_mb: Memory a session may allocate beyond its worker's baseline.
        call_timeout_s: Wall-time limit of one call (cell, method, batch pipeline).
        max_objects: Remote objects (and remote node instances) per session.
        idle_timeout_s: Sessions idle this long are closed.
        max_sessions: Open sessions per server.
    """

    memory_mb: int = 2048
    call_timeout_s: float = 300.0
    max_objects: int = 1000
    idle_timeout_s: float = 3600.0
    max_sessions: int = 64

    def to_dict(self) -> dict[str, Any]:
        """The limits as a JSON-friendly dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ServerConfig:
    """Everything ``remotemedia serve`` can be told.

    Attributes:
        host: Interface to bind (loopback by default).
        port: TCP port; 0 picks a free one.
        token: Bearer token clients must send; None disables authentication.
        tls_cert: PEM certificate file (TLS when set together with ``tls_key``).
        tls_key: PEM private key file.
        max_message_mb: Largest gRPC message accepted or sent.
        workers: Warm session workers kept started.
        node_modules: Extra modules imported to register node types.
        allowed_nodes: Node types sessions may instantiate (None: all).
        limits: Per-session limits.
        kill_grace_s: Seconds an interrupted call gets before its worker is killed.
        direct_streams: Let clients stream to each session's worker on its own
            port (one hop less per frame); off when only the server's port is
            reachable from clients.
        direct_transport: What serves those ports: "native" (the Rust runtime's
            gRPC endpoint), "grpcio" (``grpc.aio``) or "auto" (native when the
            runtime is built).
        webrtc: Also serve the standalone WebRTC page and ``POST /offer``.
        webrtc_port: Its TCP port (0 picks a free one).
        webrtc_pipeline: Manifest file run on each WebRTC connection (None:
            pass-through).
    """

    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    max_message_mb: int = 256
    workers: int = 1
    node_modules: list[str] = dataclasses.field(default_factory=list)
    allowed_nodes: list[str] | None = None
    limits: Limits = dataclasses.field(default_factory=Limits)
    kill_grace_s: float = 2.0
    direct_streams: bool = True
    direct_transport: str = "auto"
    webrtc: bool = False
    webrtc_port: int = 8080
    webrtc_pipeline: str | None = None

    @classmethod
    def from_yaml(cls, path: str | Path) -> ServerConfig:
        """Reads a ``server.yaml`` file.

        Raises:
            ValueError: Naming an unknown key or a bad value.
        """
        try:
            import yaml
        except ImportError as exc:
            raise ImportError(
                "reading server.yaml needs PyYAML: pip install 'remotemedia[server]'"
            ) from exc
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping at the top level")
        config = cls()
        config.update(data, source=str(path))
        return config

    def update(self, data: dict[str, Any], source: str = "config") -> None:
        """Applies a mapping of options (``limits`` may be a nested mapping)."""
        fields = {f.name for f in dataclasses.fields(self)}
        for key, value in data.items():
            if key == "limits":
                if not isinstance(value, dict):
                    raise ValueError(f"{source}: limits must be a mapping")
                limit_fields = {f.name for f in dataclasses.fields(Limits)}
                for lkey, lvalue in value.items():
                    if lkey not in limit_fields:
                        raise ValueError(
                            f"{source}: unknown limit '{lkey}' "
                            f"(known: {', '.join(sorted(limit_fields))})"
                        )
                    if not isinstance(lvalue, (int, float)) or lvalue <= 0:
                        raise ValueError(
                            f"{source}: limits.{lkey} must be a positive number"
                        )
                    setattr(self.limits, lkey, lvalue)
            elif key in fields:
                setattr(self, key, value)
            else:
                raise ValueError(
                    f"{source}: unknown option '{key}' (known: {', '.join(sorted(fields))})"
                )
        if self.node_modules is None:
            self.node_modules = []
        if not isinstance(self.node_modules, list):
            raise ValueError(f"{source}: node_modules must be a list of module names")
        if self.allowed_nodes is not None and not isinstance(self.allowed_nodes, list):
            raise ValueError(f"{source}: allowed_nodes must be a list of node names")
        if not isinstance(self.webrtc, bool):
            raise ValueError(f"{source}: webrtc must be true or false")
        if not isinstance(self.webrtc_port, int) or not 0 <= self.webrtc_port < 65536:
            raise ValueError(f"{source}: webrtc_port must be a port number")
        if not isinstance(self.direct_streams, bool):
            raise ValueError(f"{source}: direct_streams must be true or false")
        try:
            DirectOptions(transport=self.direct_transport).native()
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None

    def direct_options(self) -> DirectOptions | None:
        """How workers serve their own StreamPipeline endpoint (None: they do not)."""
        if not self.direct_streams:
            return None
        return DirectOptions(
            self.host,
            self.tls_cert,
            self.tls_key,
            int(self.max_message_mb),
            self.direct_transport,
        )

    def worker_config(self) -> dict[str, Any]:
        """What a worker needs to know (sent when it joins a session)."""
        return {
            "limits": self.limits.to_dict(),
            "node_modules": list(self.node_modules),
            "allowed_nodes": self.allowed_nodes,
            "kill_grace_s": self.kill_grace_s,
        }
