"""gRPC stubs generated from protos/ by `make protos`; do not edit."""

PROTO_HASH = "3bf29eb4446bff57024c84595ef2dd763a87ead846214f41c30787276a741fe1"
