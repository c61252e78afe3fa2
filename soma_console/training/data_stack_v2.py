"""The Stack v2 as a training source: file metadata from the hub, contents from Software Heritage.

Imports neither torch nor jax.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from soma_console.training.data_sources import DataError, DatasetPart, Source, one_line, plain_row_bytes

STACK_V2 = "bigcode/the-stack-v2-dedup"
STACK_V2_BUCKET = "softwareheritage"


@dataclass
class StackV2Part(DatasetPart):
    """The Stack v2: file metadata streamed from the hub (gated: a token that accepted its
    terms, from ``HF_TOKEN``), each file's contents read from Software Heritage's S3 bucket
    (``s3://softwareheritage/content/{blob_id}``, gzip, decoded with ``src_encoding``; AWS
    credentials from the usual environment). ``s3_endpoint`` points elsewhere (a mirror, a test)."""

    s3_endpoint: str | None = None
    bucket: str = STACK_V2_BUCKET
    _s3: Any = field(default=None, repr=False)

    def row_bytes(self, row: Any) -> bytes:
        import gzip

        if not isinstance(row, dict) or not isinstance(row.get("blob_id"), str):
            return plain_row_bytes(row)
        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3", endpoint_url=self.s3_endpoint)
        try:
            body = self._s3.get_object(Bucket=self.bucket, Key=f"content/{row['blob_id']}")["Body"].read()
            raw = gzip.decompress(body)
        except Exception as exc:
            raise DataError(f"cannot read {self.label} file {row['blob_id']}: {one_line(exc)}.") from None
        encoding = str(row.get("src_encoding") or "utf-8")
        try:
            text = raw.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            return raw  # the tokenizer takes bytes; keep what the file holds
        return text.encode("utf-8", errors="surrogateescape") if text.strip() else b""


def stack_v2_source(language: str | None = None, *, token: str | None = None) -> Source:
    """``stack-v2`` or ``stack-v2:LANGUAGE`` (a folder of the dataset, e.g. ``Python``)."""
    import os

    token = token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        raise DataError(
            "The Stack v2 is gated on the Hugging Face hub: set HF_TOKEN to a token of an account "
            "that accepted its terms (and AWS credentials for the Software Heritage bucket)."
        )
    label = STACK_V2 + (f"/{language}" if language else "")
    part = StackV2Part(
        label,
        STACK_V2,
        data_dir=f"data/{language}" if language else None,
        token=token,
        s3_endpoint=os.environ.get("SOMA_STACK_S3_ENDPOINT") or None,
    )
    return Source(label, [part])
