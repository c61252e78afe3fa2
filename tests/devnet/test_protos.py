"""The committed gRPC stubs are exactly what our own .proto files generate."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

PROTO_DIR = REPO / "soma_console" / "devnet" / "proto"


def test_committed_stubs_match_the_proto_files(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(
        PROTO_DIR,
        work / "soma_console" / "devnet" / "proto",
        ignore=shutil.ignore_patterns("*_pb2*", "__pycache__"),
    )
    (work / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "gen_protos.sh", work / "scripts" / "gen_protos.sh")
    result = subprocess.run(
        ["bash", "scripts/gen_protos.sh"],
        cwd=work,
        capture_output=True,
        text=True,
        env={"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    generated = sorted(p.name for p in (work / "soma_console" / "devnet" / "proto").glob("*_pb2*"))
    committed = sorted(p.name for p in PROTO_DIR.glob("*_pb2*"))
    assert generated == committed
    for name in committed:
        fresh = (work / "soma_console" / "devnet" / "proto" / name).read_bytes()
        assert fresh == (PROTO_DIR / name).read_bytes(), f"{name} is stale: run scripts/gen_protos.sh"


def test_protos_declare_the_sdk_package() -> None:
    for proto in PROTO_DIR.glob("*.proto"):
        assert "package soma.rpc;" in proto.read_text(), proto.name
