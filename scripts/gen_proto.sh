#!/usr/bin/env bash
# Regenerate the Python gRPC/protobuf modules from the repo's .proto files (committed output).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. \
    ingest_gateway/proto/ingest.proto
# Loki's push API: messages only (Loki clients push over HTTP, not gRPC).
.venv/bin/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. \
    ingest_gateway/proto/loki_push.proto
