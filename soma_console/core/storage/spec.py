"""Storage specs: one string that says where encrypted weights go.

Grammar (docs/storage.md has examples)::

    spec    := "devnet" [ ":" http-url ]
             | "s3://" BUCKET [ "/" PREFIX ] [ "?" option ( "&" option )* ]
             | "put:" presigned-url [ "#public=" public-url ]
             | "profile:" NAME
    option  := "endpoint=" url | "region=" R | "public=" url | "profile=" AWS_PROFILE
             | "acl=" CANNED_ACL | "addressing=" ("path" | "virtual")

``config.toml`` may set ``[storage] default = SPEC`` and ``[storage.profiles.NAME]`` tables, either
``spec = "..."`` or the same fields spelled out (``type = "s3"``, ``bucket``, ``prefix``, ...).
Credentials are never part of a spec; anything that looks like one is refused without echoing it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from soma_console.config import BUILTIN_CHAINS, ChainProfile, Settings
from soma_console.core.storage.common import display_url, is_local_host
from soma_console.core.storage.errors import StorageSpecError
from soma_console.core.storage.targets import DevnetTarget, PresignedPutTarget, S3Target, StorageTarget
from soma_console.secrets import Secret

GRAMMAR_HINT = (
    "Use devnet, s3://BUCKET/PREFIX?public=URL, put:PRESIGNED_URL#public=URL or profile:NAME "
    "(see docs/storage.md)."
)
S3_OPTIONS = ("endpoint", "region", "public", "profile", "acl", "addressing")
CANNED_ACLS = (
    "private",
    "public-read",
    "authenticated-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
)
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_PREFIX_RE = re.compile(r"[A-Za-z0-9._/=+-]*")
_REGION_RE = re.compile(r"[a-z0-9-]{1,40}")
_PROFILE_RE = re.compile(r"[A-Za-z0-9._-]{1,100}")
_SECRETISH = re.compile(r"secret|password|passwd|token|credential|access[_-]?key|key[_-]?id", re.I)
_MAX_PROFILE_DEPTH = 4


def _refuse_credentials(where: str) -> StorageSpecError:
    return StorageSpecError(
        f"{where} looks like a credential, and credentials never go in a storage spec.",
        hint="Use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or profile=NAME (an AWS shared-config profile).",
    )


def _http_url(value: str, what: str) -> str:
    """An http(s) URL with a host, no user info; returned without a trailing slash."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise StorageSpecError(
            f"{what} must be an http:// or https:// URL with a host, not {display_url(value)!r}.",
            hint="For example https://pub-1234.r2.dev or http://127.0.0.1:9000.",
        )
    if parts.username or parts.password:
        raise _refuse_credentials(f"the user:password in {what}")
    return urlunsplit(parts._replace(path=parts.path.rstrip("/")))


def _base_url(value: str, what: str) -> str:
    url = _http_url(value, what)
    if urlsplit(url).query or urlsplit(url).fragment:
        raise StorageSpecError(
            f"{what} must not have a query string or fragment.",
            hint="Give the base URL only; the object's key is appended to it.",
        )
    return url


# -- s3 -------------------------------------------------------------------------------------------


def _s3_from_fields(fields: Mapping[str, Any], where: str) -> S3Target:
    for name in fields:
        if _SECRETISH.search(name):
            raise _refuse_credentials(f"the option {name!r} in {where}")
    unknown = sorted(set(fields) - {"bucket", "prefix", *S3_OPTIONS})
    if unknown:
        raise StorageSpecError(
            f"unknown option {unknown[0]!r} in {where}.",
            hint=f"Known options: {', '.join(S3_OPTIONS)}.",
        )
    if not fields.get("bucket"):
        raise StorageSpecError(f"{where} names no bucket.", hint="For example s3://my-bucket/soma.")
    values: dict[str, str] = {}
    for name, value in fields.items():
        if not isinstance(value, str) or not value.strip():
            raise StorageSpecError(f"{name} in {where} must be a non-empty string.", hint=GRAMMAR_HINT)
        values[name] = value.strip()
    bucket = values.get("bucket", "")
    if not _BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise StorageSpecError(
            f"{bucket[:70]!r} in {where} is not a valid bucket name.",
            hint="Bucket names are 3-222 lowercase letters, digits, dots and hyphens.",
        )
    prefix = values.get("prefix", "").strip("/")
    if not _PREFIX_RE.fullmatch(prefix) or "//" in prefix or ".." in prefix.split("/"):
        raise StorageSpecError(
            f"the prefix in {where} may only use letters, digits, / . _ = + and -.",
            hint="For example s3://my-bucket/soma/weights.",
        )
    region = values.get("region")
    if region is not None and not _REGION_RE.fullmatch(region):
        raise StorageSpecError(
            f"{region[:40]!r} in {where} is not a region.", hint="For example us-east-1, or auto for R2."
        )
    aws_profile = values.get("profile")
    if aws_profile is not None and not _PROFILE_RE.fullmatch(aws_profile):
        raise StorageSpecError(
            f"{aws_profile[:40]!r} in {where} is not an AWS profile name.", hint=GRAMMAR_HINT
        )
    acl = values.get("acl")
    if acl is not None and acl not in CANNED_ACLS:
        raise StorageSpecError(f"acl in {where} must be one of {', '.join(CANNED_ACLS)}.", hint=GRAMMAR_HINT)
    addressing = values.get("addressing")
    if addressing is not None and addressing not in ("path", "virtual"):
        raise StorageSpecError(f"addressing in {where} must be path or virtual.", hint=GRAMMAR_HINT)
    return S3Target(
        bucket=bucket,
        prefix=f"{prefix}/" if prefix else "",
        endpoint=_base_url(values["endpoint"], f"endpoint= in {where}") if "endpoint" in values else None,
        region=region,
        public_base=_base_url(values["public"], f"public= in {where}") if "public" in values else None,
        aws_profile=aws_profile,
        acl=acl,
        addressing=addressing,
    )


def _parse_s3(spec: str) -> S3Target:
    where = "the s3:// storage spec"
    try:
        parts = urlsplit(spec)
    except ValueError:
        raise StorageSpecError(f"{where} does not parse.", hint=GRAMMAR_HINT) from None
    if "@" in parts.netloc:
        raise _refuse_credentials(f"the user info before the bucket in {where}")
    if parts.fragment:
        raise StorageSpecError(f"{where} must not have a #fragment.", hint=GRAMMAR_HINT)
    fields: dict[str, str] = {"bucket": parts.netloc}
    if parts.path.strip("/"):
        fields["prefix"] = parts.path
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRETISH.search(name):
            raise _refuse_credentials(f"the option {name!r} in {where}")
        if name in fields:
            raise StorageSpecError(f"the option {name!r} appears twice in {where}.", hint=GRAMMAR_HINT)
        fields[name] = value
    return _s3_from_fields(fields, where)


# -- put, devnet ----------------------------------------------------------------------------------


def _presigned(put_url: str, public: str | None, where: str) -> PresignedPutTarget:
    url = _http_url(put_url, f"the presigned URL in {where}")
    if public is None:
        # An S3/R2/GCS presigned URL without its signature is the object's plain URL.
        public = urlunsplit(urlsplit(url)._replace(query="", fragment=""))
    return PresignedPutTarget(
        put_url=Secret(url, label="presigned URL"), public=_http_url(public, "the public URL")
    )


def _parse_put(spec: str) -> PresignedPutTarget:
    body = spec[len("put:") :]
    put_url, _, fragment = body.partition("#")
    public: str | None = None
    if fragment:
        name, eq, value = fragment.partition("=")
        if name != "public" or not eq or not value:
            raise StorageSpecError(
                "the only thing allowed after # in a put: spec is public=URL.", hint=GRAMMAR_HINT
            )
        public = value
    if not put_url:
        raise StorageSpecError("a put: storage spec needs the presigned PUT URL.", hint=GRAMMAR_HINT)
    return _presigned(put_url, public, "the put: storage spec")


def _devnet(explicit: str | None, chain: ChainProfile | None) -> DevnetTarget:
    if explicit is not None:
        return DevnetTarget(blob_url=_base_url(explicit, "the devnet blob URL"))
    if chain is not None:
        if chain.blob_url:
            return DevnetTarget(blob_url=_base_url(chain.blob_url, f"the blob_url of chain {chain.name}"))
        raise StorageSpecError(
            f"chain {chain.name} has no devnet blob store; it exists only with the embedded devnet.",
            hint="Choose S3-compatible storage (s3://...) or a presigned URL (put:...) with --storage.",
        )
    blob_url = BUILTIN_CHAINS["devnet"].blob_url
    assert blob_url is not None
    return DevnetTarget(blob_url=blob_url)


# -- profiles -------------------------------------------------------------------------------------


def _from_profile(
    name: str, settings: Settings | None, chain: ChainProfile | None, depth: int
) -> StorageTarget:
    profiles = settings.get("storage.profiles", {}) if settings is not None else {}
    if not isinstance(profiles, dict):
        raise StorageSpecError(
            "[storage.profiles] in config.toml must be a table of tables.", hint=GRAMMAR_HINT
        )
    table = profiles.get(name)
    if not isinstance(table, dict):
        known = ", ".join(sorted(profiles))
        raise StorageSpecError(
            f"there is no storage profile {name[:60]!r} in config.toml "
            + (f"(it defines {known})." if known else "(it defines none)."),
            hint=f"Add a [storage.profiles.{name[:60]}] table, or pass a full spec.",
        )
    where = f"[storage.profiles.{name}]"
    for key in table:
        if _SECRETISH.search(key):
            raise _refuse_credentials(f"the key {key!r} in {where}")
    if "spec" in table:
        if set(table) != {"spec"} or not isinstance(table["spec"], str):
            raise StorageSpecError(f"{where} with spec = ... must have no other keys.", hint=GRAMMAR_HINT)
        return _parse(table["spec"], settings, chain, depth + 1)
    fields = dict(table)
    kind = fields.pop("type", None)
    if kind == "s3":
        return _s3_from_fields(fields, where)
    if kind == "put":
        extra = sorted(set(fields) - {"url", "public"})
        if extra or not isinstance(fields.get("url"), str):
            raise StorageSpecError(f"{where} (type put) takes url and optionally public.", hint=GRAMMAR_HINT)
        public = fields.get("public")
        return _presigned(fields["url"], public if isinstance(public, str) else None, where)
    if kind == "devnet":
        extra = sorted(set(fields) - {"url"})
        if extra:
            raise StorageSpecError(f"{where} (type devnet) takes only url.", hint=GRAMMAR_HINT)
        url = fields.get("url")
        return _devnet(url if isinstance(url, str) else None, chain)
    raise StorageSpecError(
        f'{where} needs spec = "..." or type = "s3" | "put" | "devnet".', hint=GRAMMAR_HINT
    )


# -- entry points ---------------------------------------------------------------------------------


def _parse(spec: str, settings: Settings | None, chain: ChainProfile | None, depth: int) -> StorageTarget:
    if depth > _MAX_PROFILE_DEPTH:
        raise StorageSpecError(
            "storage profiles refer to each other in a loop.", hint="Check [storage.profiles]."
        )
    spec = spec.strip()
    if spec == "devnet":
        return _devnet(None, chain)
    if spec.startswith("devnet:"):
        return _devnet(spec[len("devnet:") :], chain)
    if spec.startswith("s3://"):
        return _parse_s3(spec)
    if spec.startswith("put:"):
        return _parse_put(spec)
    if spec.startswith("profile:"):
        return _from_profile(spec[len("profile:") :], settings, chain, depth)
    # Echo only the scheme-ish head: a mistyped spec may still hold a presigned signature.
    head = re.split(r"[:?#/]", spec, maxsplit=1)[0][:20]
    raise StorageSpecError(f"{head!r} is not a storage spec.", hint=GRAMMAR_HINT)


def parse_storage_spec(
    spec: str | None,
    *,
    settings: Settings | None = None,
    chain: ChainProfile | None = None,
    public_url: str | None = None,
) -> StorageTarget:
    """Turn a spec (or, when ``spec`` is None, ``[storage] default`` / the devnet) into a target.

    ``public_url`` overrides where the object is read from: the exact URL for ``put:``, the
    public base for ``s3://`` (a ``--public-url`` option). With a ``chain`` that is not on this
    machine, a public URL on a loopback or private address is refused: validators cannot read it.
    """
    chosen = spec
    if chosen is None and settings is not None:
        default = settings.get("storage.default")
        if default is not None and not isinstance(default, str):
            raise StorageSpecError("[storage] default in config.toml must be a string.", hint=GRAMMAR_HINT)
        chosen = default
    if chosen is None:
        if chain is None or chain.is_devnet:
            chosen = "devnet"
        else:
            raise StorageSpecError(
                f"no storage is configured for chain {chain.name}.",
                hint="Pass --storage SPEC or set [storage] default in config.toml (see docs/storage.md).",
            )
    target = _parse(chosen, settings, chain, 0)
    if public_url is not None:
        target = _override_public(target, public_url)
    _check_reachable(target, chain)
    return target


def _override_public(target: StorageTarget, public_url: str) -> StorageTarget:
    if isinstance(target, S3Target):
        return S3Target(**{**vars(target), "public_base": _base_url(public_url, "the public URL")})
    if isinstance(target, PresignedPutTarget):
        return PresignedPutTarget(put_url=target.put_url, public=_http_url(public_url, "the public URL"))
    raise StorageSpecError(
        "the devnet blob store serves its own URLs; a separate public URL does not apply.",
        hint="Drop the public URL, or use s3:// or put: storage.",
    )


def _check_reachable(target: StorageTarget, chain: ChainProfile | None) -> None:
    if chain is None or chain.is_devnet or is_local_host(chain.rpc_url):
        return
    sample = target.blob_url if isinstance(target, DevnetTarget) else target.public_url("x")
    if is_local_host(sample):
        raise StorageSpecError(
            f"the public URL {display_url(sample)} is on this machine or a private network, so the "
            f"validators of {chain.name} cannot read it.",
            hint="Give a public base URL (public=) that is reachable from the internet.",
        )
