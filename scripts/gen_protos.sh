#!/usr/bin/env bash
# Regenerate the devnet's Python gRPC stubs from soma_console/devnet/proto/*.proto.
# Run from anywhere; needs grpcio-tools (in the dev extra). The generated *_pb2*.py files
# are committed so that installing soma-console never needs protoc.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
"$PY" -m grpc_tools.protoc -I . \
  --python_out=. --pyi_out=. --grpc_python_out=. \
  soma_console/devnet/proto/types.proto \
  soma_console/devnet/proto/transaction.proto \
  soma_console/devnet/proto/checkpoint.proto \
  soma_console/devnet/proto/state.proto \
  soma_console/devnet/proto/services.proto
# Only services.proto defines services; the other *_pb2_grpc.py files would be empty.
for f in types transaction checkpoint state; do rm -f "soma_console/devnet/proto/${f}_pb2_grpc.py"; done
echo "regenerated: $(ls soma_console/devnet/proto/*_pb2*.py* | wc -l) files"
