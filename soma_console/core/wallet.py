"""The signer: where the secret key comes from, and keeping it secret.

Order of precedence:
1. ``SOMA_SECRET_KEY`` (32 raw bytes, hex with or without 0x, or Bech32 ``somaprivkey1…``);
2. the soma CLI wallet (``$SOMA_CONFIG_DIR`` or ``~/.soma/soma_config``: ``client.yaml`` names
   the keystore and the active address; ``soma.keystore`` is a JSON list of Base64 strings, each a
   flag byte followed by the 32-byte secret);
3. the key file ``soma-console wallet new`` writes (``<data>/keys/signer.key``, mode 0600).

The secret only ever lives inside a :class:`~soma_console.secrets.Secret` and the SDK's
``Keypair``; :class:`Signer` shows the address and the source, nothing else.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soma_console.config import Home
from soma_console.errors import UserError
from soma_console.fsutil import ensure_dir, write_private_text
from soma_console.secrets import Secret

ENV_SECRET = "SOMA_SECRET_KEY"  # noqa: S105 - the name of a variable, not a secret


class WalletError(UserError):
    pass


@dataclass(frozen=True)
class Signer:
    """A usable signer. ``keypair`` is the SDK object; never print it (its repr is opaque anyway)."""

    address: str
    source: str
    _secret: Secret
    _keypair: Any

    @property
    def keypair(self) -> Any:
        return self._keypair

    def __repr__(self) -> str:
        return f"Signer(address={self.address!r}, source={self.source!r})"

    __str__ = __repr__


def _keypair_from(secret: bytes | str, *, source: str) -> Signer:
    from soma_sdk import Keypair

    holder = Secret(secret, label="signer key")
    try:
        kp = Keypair.from_secret_key(secret)
    except Exception:
        # The SDK's message may quote the input; ours never does.
        raise WalletError(
            f"the secret key from {source} is not valid.",
            hint="Use 32 raw bytes, hex (with or without 0x), or a somaprivkey1… string.",
        ) from None
    return Signer(address=kp.address(), source=source, _secret=holder, _keypair=kp)


def soma_cli_config_dir() -> Path:
    env = os.environ.get("SOMA_CONFIG_DIR")
    return Path(env).expanduser() if env else Path.home() / ".soma" / "soma_config"


def _load_soma_cli_wallet(config_dir: Path) -> Signer | None:
    client_yaml = config_dir / "client.yaml"
    if not client_yaml.exists():
        return None
    import yaml

    try:
        cfg = yaml.safe_load(client_yaml.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise WalletError(
            f"cannot read the soma CLI wallet config {client_yaml} ({type(exc).__name__})."
        ) from None
    if not isinstance(cfg, dict):
        raise WalletError(f"{client_yaml} is not a soma CLI wallet config.")
    keystore_cfg = cfg.get("keystore")
    path: Path | None = None
    if isinstance(keystore_cfg, dict):
        raw = keystore_cfg.get("File") or keystore_cfg.get("file") or keystore_cfg.get("path")
        path = Path(str(raw)).expanduser() if raw else None
    elif isinstance(keystore_cfg, str):
        path = Path(keystore_cfg).expanduser()
    if path is None:
        path = config_dir / "soma.keystore"
    if not path.is_absolute():
        path = config_dir / path
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise WalletError(f"the soma CLI keystore {path} cannot be read.") from None
    except ValueError:
        raise WalletError(f"the soma CLI keystore {path} is not JSON.") from None
    if not isinstance(entries, list) or not entries:
        raise WalletError(f"the soma CLI keystore {path} holds no keys.")
    active = str(cfg.get("active_address") or "").lower().removeprefix("0x")
    signers = []
    for entry in entries:
        try:
            raw_key = base64.b64decode(str(entry), validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw_key) != 33:
            continue
        signers.append(_keypair_from(raw_key[1:], source=f"soma CLI wallet ({path})"))
    if not signers:
        raise WalletError(f"the soma CLI keystore {path} holds no Ed25519 key soma-console can use.")
    if active:
        for s in signers:
            if s.address.lower() == active:
                return s
        raise WalletError(
            f"the soma CLI wallet's active address {active[:10]}… is not in {path}.",
            hint="Run `soma client switch --address …` or set SOMA_SECRET_KEY.",
        )
    return signers[0]


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise WalletError(
            f"{path} is readable by other users (mode {mode:o}).",
            hint=f"Run `chmod 600 {path}`; the key is not loaded until then.",
        )


def load_signer(home: Home, *, required: bool = True) -> Signer | None:
    """Return the configured signer, or None (``required=False``) when there is none."""
    env = os.environ.get(ENV_SECRET)
    if env:
        return _keypair_from(env.strip(), source=f"${ENV_SECRET}")
    cli_wallet = _load_soma_cli_wallet(soma_cli_config_dir())
    if cli_wallet is not None:
        return cli_wallet
    if home.key_file.exists():
        _check_private(home.key_file)
        try:
            text = home.key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise WalletError(f"cannot read {home.key_file}: {exc.strerror}.") from None
        secret = _parse_key_file(text, home.key_file)
        return _keypair_from(secret, source=f"key file {home.key_file}")
    if required:
        raise WalletError(
            "no wallet is configured.",
            hint="Run `soma-console wallet new`, set SOMA_SECRET_KEY, or set up the soma CLI wallet.",
        )
    return None


def _parse_key_file(text: str, path: Path) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            if "=" in line:  # "secret_key = ..." form
                line = line.split("=", 1)[1].strip().strip('"')
            return line
    raise WalletError(f"{path} holds no key.", hint="Move it aside and run `soma-console wallet new`.")


def create_key_file(home: Home, *, force: bool = False) -> Signer:
    """Generate a fresh Ed25519 key and write it to the key file (mode 0600, atomic)."""
    from soma_sdk import Keypair

    path = home.key_file
    if path.exists() and not force:
        raise WalletError(
            f"{path} already exists.",
            hint="Refusing to overwrite a key; move it aside first (it may control funds).",
        )
    ensure_dir(home.keys_dir, private=True)
    kp = Keypair.generate()
    secret = Secret(kp.to_secret_key(), label="signer key")
    write_private_text(
        path,
        "# soma-console signer key (Ed25519). Anyone with this file controls the address below.\n"
        f"# address: {kp.address()}\n"
        f"{secret.reveal()}\n",
    )
    return Signer(address=kp.address(), source=f"key file {path}", _secret=secret, _keypair=kp)


def describe_signer(home: Home) -> dict[str, Any]:
    """For doctor/wallet show: never raises, never includes the secret."""
    try:
        signer = load_signer(home, required=False)
    except UserError as exc:
        return {"configured": False, "error": str(exc)}
    if signer is None:
        return {"configured": False, "error": None}
    return {"configured": True, "address": signer.address, "source": signer.source}
