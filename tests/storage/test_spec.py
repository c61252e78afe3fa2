"""Storage specs parse into targets; bad ones give one clear sentence without echoing secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from soma_console.config import BUILTIN_CHAINS, ChainProfile, Home, Settings, write_settings
from soma_console.core.storage import (
    DevnetTarget,
    PresignedPutTarget,
    S3Target,
    StorageSpecError,
    parse_storage_spec,
    resolve_storage,
)
from soma_console.errors import UserError

TESTNET = BUILTIN_CHAINS["testnet"]
DEVNET = BUILTIN_CHAINS["devnet"]


def test_devnet_spec_uses_the_chain_profiles_blob_url() -> None:
    assert parse_storage_spec("devnet") == DevnetTarget("http://127.0.0.1:9210")
    custom = ChainProfile(name="dev2", rpc_url="http://127.0.0.1:7000", blob_url="http://127.0.0.1:7210/")
    assert parse_storage_spec("devnet", chain=custom) == DevnetTarget("http://127.0.0.1:7210")
    assert parse_storage_spec("devnet:http://127.0.0.1:9999") == DevnetTarget("http://127.0.0.1:9999")
    assert parse_storage_spec("devnet").public_url("w.bin") == "http://127.0.0.1:9210/blobs/w.bin"


def test_devnet_is_the_default_only_on_the_devnet() -> None:
    assert isinstance(parse_storage_spec(None, chain=DEVNET), DevnetTarget)
    with pytest.raises(StorageSpecError, match="no storage is configured for chain testnet"):
        parse_storage_spec(None, chain=TESTNET)
    with pytest.raises(StorageSpecError, match="only with the embedded devnet"):
        parse_storage_spec("devnet", chain=TESTNET)


def test_s3_spec_with_every_option() -> None:
    target = parse_storage_spec(
        "s3://my-bucket/soma/weights/?endpoint=https://acct.r2.cloudflarestorage.com/&region=auto"
        "&public=https://pub-123.r2.dev/&profile=r2&acl=public-read&addressing=virtual"
    )
    assert target == S3Target(
        bucket="my-bucket",
        prefix="soma/weights/",
        endpoint="https://acct.r2.cloudflarestorage.com",
        region="auto",
        public_base="https://pub-123.r2.dev",
        aws_profile="r2",
        acl="public-read",
        addressing="virtual",
    )
    assert target.key("ckpt.bin") == "soma/weights/ckpt.bin"
    assert target.public_url("ckpt.bin") == "https://pub-123.r2.dev/soma/weights/ckpt.bin"


def test_s3_default_public_urls() -> None:
    assert parse_storage_spec("s3://b-1/x").public_url("o") == "https://b-1.s3.amazonaws.com/x/o"
    assert parse_storage_spec("s3://b-1?region=eu-west-1").public_url("o") == (
        "https://b-1.s3.eu-west-1.amazonaws.com/o"
    )
    assert parse_storage_spec("s3://b.dotted?region=eu-west-1").public_url("o") == (
        "https://s3.eu-west-1.amazonaws.com/b.dotted/o"
    )
    minio = parse_storage_spec("s3://b-1/p?endpoint=http://127.0.0.1:9000")
    assert minio.public_url("o") == "http://127.0.0.1:9000/b-1/p/o"


def test_put_spec_keeps_the_signature_out_of_sight() -> None:
    signed = "https://bucket.s3.amazonaws.com/w.bin?X-Amz-Credential=AKIAX&X-Amz-Signature=deadbeefcafe0123"
    target = parse_storage_spec(f"put:{signed}#public=https://cdn.example.com/w.bin")
    assert isinstance(target, PresignedPutTarget)
    assert target.put_url.reveal() == signed
    assert target.public_url("w.bin") == "https://cdn.example.com/w.bin"
    for shown in (repr(target), str(target), target.describe(), repr(resolve_storage(f"put:{signed}"))):
        assert "deadbeefcafe0123" not in shown
    # Without #public= the object's plain URL (the presigned URL minus its query) is used.
    assert parse_storage_spec(f"put:{signed}").public_url("w.bin") == "https://bucket.s3.amazonaws.com/w.bin"
    # A --public-url style override.
    assert parse_storage_spec(f"put:{signed}", public_url="https://x.example/y").public_url("a") == (
        "https://x.example/y"
    )


def test_profiles_from_config_toml(home: Path) -> None:
    write_settings(
        Home.resolve(home),
        """
[storage]
default = "profile:r2"

[storage.profiles.r2]
type = "s3"
bucket = "soma-weights"
prefix = "v1"
endpoint = "https://acct.r2.cloudflarestorage.com"
region = "auto"
public = "https://pub-9.r2.dev"
profile = "r2"

[storage.profiles.short]
spec = "s3://other-bucket?public=https://cdn.example.com"

[storage.profiles.signed]
type = "put"
url = "https://h.example/k?sig=1"
public = "https://h.example/k"

[storage.profiles.loop]
spec = "profile:loop"
""",
    )
    settings = Settings.load(Home.resolve(home))
    default = parse_storage_spec(None, settings=settings, chain=TESTNET)
    assert isinstance(default, S3Target)
    assert (default.bucket, default.prefix, default.aws_profile) == ("soma-weights", "v1/", "r2")
    assert parse_storage_spec("profile:short", settings=settings).public_url("a") == (
        "https://cdn.example.com/a"
    )
    assert parse_storage_spec("profile:signed", settings=settings).public_url("a") == "https://h.example/k"
    with pytest.raises(
        StorageSpecError,
        match=r"no storage profile 'nope' in config.toml \(it defines loop, r2, short, signed\)\.",
    ):
        parse_storage_spec("profile:nope", settings=settings)
    with pytest.raises(StorageSpecError, match="loop"):
        parse_storage_spec("profile:loop", settings=settings)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("ftp://x", "'ftp' is not a storage spec"),
        ("", "'' is not a storage spec"),
        ("s3://", "names no bucket"),
        ("s3://Bad_Bucket", "not a valid bucket name"),
        ("s3://b-1?colour=red", "unknown option 'colour'"),
        ("s3://b-1?region=us-east-1&region=eu-west-1", "appears twice"),
        ("s3://b-1?endpoint=localhost:9000", "endpoint= in the s3:// storage spec must be an http"),
        ("s3://b-1?public=https://cdn.example.com/x?y=1", "must not have a query string"),
        ("s3://b-1?acl=world-writable", "acl in the s3:// storage spec must be one of"),
        ("s3://b-1?addressing=sideways", "addressing"),
        ("s3://b-1/../up", "prefix"),
        ("put:", "needs the presigned PUT URL"),
        ("put:https://h/k#private=x", "only thing allowed after #"),
        ("devnet:not-a-url", "devnet blob URL must be an http"),
    ],
)
def test_bad_specs_are_one_sentence(spec: str, needle: str) -> None:
    with pytest.raises(StorageSpecError) as info:
        parse_storage_spec(spec)
    assert isinstance(info.value, UserError)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.hint is not None


@pytest.mark.parametrize(
    "spec",
    [
        "s3://b-1?aws_secret_access_key=TOPSECRETVALUE123",
        "s3://b-1?secret=TOPSECRETVALUE123",
        "s3://AKIAXX:TOPSECRETVALUE123@b-1/p",
        "s3://b-1?endpoint=https://AKIAXX:TOPSECRETVALUE123@host.example",
        "put:https://user:TOPSECRETVALUE123@host.example/k",
        "pt:https://host.example/k?X-Amz-Signature=TOPSECRETVALUE123",
    ],
)
def test_credentials_in_a_spec_are_refused_without_echo(spec: str, remember_secret: object) -> None:
    remember_secret("TOPSECRETVALUE123")  # type: ignore[operator]
    with pytest.raises(StorageSpecError) as info:
        parse_storage_spec(spec)
    assert "TOPSECRETVALUE123" not in str(info.value)
    assert "TOPSECRETVALUE123" not in repr(info.value)


def test_credentials_in_a_profile_are_refused(home: Path) -> None:
    write_settings(
        Home.resolve(home),
        '[storage.profiles.x]\ntype = "s3"\nbucket = "b-1"\naws_secret_access_key = "NOPE-NOT-HERE-123"\n',
    )
    with pytest.raises(StorageSpecError, match="looks like a credential") as info:
        parse_storage_spec("profile:x", settings=Settings.load(Home.resolve(home)))
    assert "NOPE-NOT-HERE" not in str(info.value)


def test_loopback_public_urls_are_refused_for_a_remote_chain() -> None:
    with pytest.raises(StorageSpecError, match="validators of testnet cannot read it"):
        parse_storage_spec("s3://b-1?endpoint=http://127.0.0.1:9000", chain=TESTNET)
    with pytest.raises(StorageSpecError, match="cannot read it"):
        parse_storage_spec("put:http://192.168.1.5/k?sig=1", chain=TESTNET)
    # Fine when the public base is a real host, and on a local chain.
    parse_storage_spec(
        "s3://b-1?endpoint=http://127.0.0.1:9000&public=https://cdn.example.com", chain=TESTNET
    )
    parse_storage_spec("s3://b-1?endpoint=http://127.0.0.1:9000", chain=BUILTIN_CHAINS["localnet"])


def test_devnet_storage_takes_no_public_override() -> None:
    with pytest.raises(StorageSpecError, match="serves its own URLs"):
        parse_storage_spec("devnet", public_url="https://cdn.example.com")


def test_retry_settings_come_from_config_toml(home: Path) -> None:
    from soma_console.core.storage import RetryPolicy

    write_settings(Home.resolve(home), "[storage]\nattempts = 2\ntimeout_seconds = 90\n")
    policy = RetryPolicy.from_settings(Settings.load(Home.resolve(home)))
    assert (policy.attempts, policy.timeout) == (2, 90.0)
    assert RetryPolicy().deadline_for(4_840_000_000) == pytest.approx(300 + 4_840_000_000 / 2**20)
