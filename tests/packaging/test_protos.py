"""The committed gRPC stubs match protos/ and the dependency bounds they need."""

from __future__ import annotations

import re
from pathlib import Path

from remotemedia.remote import gen_protos

ROOT = Path(__file__).resolve().parents[2]


def test_committed_stubs_match_a_fresh_generation() -> None:
    assert gen_protos.drift() == [], "run `make protos` and commit the result"


def test_dependency_bounds_cover_the_generated_code() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    stubs = gen_protos.PROTO_OUT
    grpc_gen = re.search(
        r"GRPC_GENERATED_VERSION = '([\d.]+)'",
        (stubs / "execution_pb2_grpc.py").read_text(),
    )
    pb_gen = re.search(
        r"Protobuf Python Version: ([\d.]+)", (stubs / "execution_pb2.py").read_text()
    )
    assert grpc_gen and pb_gen
    assert f'"grpcio>={grpc_gen.group(1)}"' in pyproject
    assert f'"protobuf>={pb_gen.group(1)},' in pyproject
