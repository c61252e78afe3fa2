"""Where weights go: the parsed, validated form of a storage spec (no I/O, no credentials)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from soma_console.core.storage.common import ProgressCallback, check_object_name, display_url
from soma_console.secrets import Secret


@dataclass(frozen=True)
class DevnetTarget:
    """The embedded devnet's blob endpoint."""

    blob_url: str

    def public_url(self, object_name: str) -> str:
        return f"{self.blob_url}/blobs/{check_object_name(object_name)}"

    def describe(self) -> str:
        return f"the devnet blob store at {self.blob_url}"


@dataclass(frozen=True)
class S3Target:
    """A bucket on any S3-compatible service, and the public base URL its objects are read from.

    ``public_base`` maps to the bucket's root: an object's public URL is the base plus its key.
    """

    bucket: str
    prefix: str = ""
    endpoint: str | None = None
    region: str | None = None
    public_base: str | None = None
    aws_profile: str | None = None
    acl: str | None = None
    addressing: str | None = None

    def key(self, object_name: str) -> str:
        return self.prefix + check_object_name(object_name)

    def public_root(self) -> str:
        if self.public_base:
            return self.public_base
        if self.endpoint:
            return f"{self.endpoint}/{self.bucket}"
        if "." in self.bucket:  # dotted names break virtual-hosted TLS; use path style
            host = f"s3.{self.region}.amazonaws.com" if self.region else "s3.amazonaws.com"
            return f"https://{host}/{self.bucket}"
        region = f".{self.region}" if self.region else ""
        return f"https://{self.bucket}.s3{region}.amazonaws.com"

    def public_url(self, object_name: str) -> str:
        return f"{self.public_root()}/{quote(self.key(object_name), safe='/._-~')}"

    def describe(self) -> str:
        where = f" at {display_url(self.endpoint)}" if self.endpoint else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"


@dataclass(frozen=True)
class PresignedPutTarget:
    """One object behind a presigned PUT URL. The URL is a credential (its signature grants
    write access until it expires), so it is held as a :class:`Secret` and shown without query."""

    put_url: Secret
    public: str

    def public_url(self, object_name: str) -> str:
        check_object_name(object_name)
        return self.public

    def describe(self) -> str:
        return f"a presigned PUT to {display_url(self.put_url.reveal())}"


StorageTarget = DevnetTarget | S3Target | PresignedPutTarget


class StorageBackend(Protocol):
    """Uploads a file and says where the public can read it."""

    @property
    def target(self) -> StorageTarget: ...

    def describe(self) -> str:
        """Where uploads go, safe to print."""
        ...

    def public_url(self, object_name: str) -> str:
        """The URL validators will read ``object_name`` from (before uploading it)."""
        ...

    async def upload(self, path: Path, object_name: str, progress: ProgressCallback | None = None) -> str:
        """Upload ``path`` as ``object_name``; return its public URL. Never blocks the event loop;
        ``progress(bytes_done, total)`` is called on the loop's thread, never going backwards."""
        ...
