"""The Stack v2 source on a local fixture: metadata rows from a parquet file (the hub's shape),
contents gzip-compressed in a real S3 server on loopback (moto), as in Software Heritage's bucket."""

from __future__ import annotations

import gzip
from collections.abc import Iterator

import pytest

from soma_console.training.data_open import open_source
from soma_console.training.data_sources import DataError
from soma_console.training.data_stack_v2 import StackV2Part, stack_v2_source

FILES = {
    "b1": ("UTF-8", b"def hello():\n    return 'world'\n"),
    "b2": ("ISO-8859-1", "# caf\xe9 au lait\nx = 1\n".encode("latin-1")),
    "b3": ("UTF-8", b"   \n"),  # blank: skipped
}


@pytest.fixture
def s3(monkeypatch) -> Iterator[str]:
    import boto3
    from moto.server import ThreadedMotoServer

    for k, v in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(k, v)
    server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=url)
    client.create_bucket(Bucket="softwareheritage")
    for blob_id, (_, body) in FILES.items():
        client.put_object(Bucket="softwareheritage", Key=f"content/{blob_id}", Body=gzip.compress(body))
    yield url
    server.stop()


@pytest.fixture
def rows(tmp_path) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "blob_id": list(FILES),
            "src_encoding": [enc for enc, _ in FILES.values()],
            "language": ["Python"] * len(FILES),
        }
    )
    path = tmp_path / "train-00000.parquet"
    pq.write_table(table, path)
    return str(path)


def test_contents_come_from_the_bucket_decoded_to_utf8(s3, rows):
    part = StackV2Part("stack-fixture", "parquet", data_files=[rows], s3_endpoint=s3)
    docs = [(key, data) for key, data, _ in part.documents(None)]
    assert [d for _, d in docs] == [FILES["b1"][1], "# caf\xe9 au lait\nx = 1\n".encode()]
    assert docs[0][0].startswith("stack-fixture:")
    # the cursor resumes after the first file
    first = next(iter(part.documents(None)))
    rest = [data for _, data, _ in part.documents(first[2])]
    assert rest == [docs[1][1]]


def test_a_missing_blob_is_one_sentence(s3, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"blob_id": ["nope"], "src_encoding": ["UTF-8"]}), path)
    part = StackV2Part("stack-fixture", "parquet", data_files=[str(path)], s3_endpoint=s3)
    with pytest.raises(DataError, match="cannot read stack-fixture file nope"):
        list(part.documents(None))


def test_the_hub_source_needs_a_token(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    with pytest.raises(DataError, match="set HF_TOKEN"):
        open_source("stack-v2")
    src = stack_v2_source("Python", token="hf_test")
    (part,) = src.parts
    assert isinstance(part, StackV2Part)
    assert (part.builder, part.data_dir, part.token) == (
        "bigcode/the-stack-v2-dedup",
        "data/Python",
        "hf_test",
    )
    assert "hf_test" not in repr(part)


def test_train_names_stack_v2_and_says_what_is_missing(tmp_path):
    import os
    import subprocess
    import sys

    from soma_console.training.spec import is_named_source

    assert is_named_source("stack-v2") and is_named_source("stack-v2:Rust") and not is_named_source("stack")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    args = ["train", "--data", "stack-v2:Python", "--steps", "1", "-y", "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "soma_console", "--home", str(tmp_path), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode != 0
    assert "set HF_TOKEN" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
