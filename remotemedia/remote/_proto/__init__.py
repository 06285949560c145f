"""gRPC stubs generated from protos/ by `make protos`; do not edit."""

PROTO_HASH = "d7d503deff8a4d49f7bef10bbf902d3ff971808df299f8b050e888d12025e8c3"
