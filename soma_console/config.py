"""Where soma-console keeps things, and which chain it talks to.

* Settings: ``config.toml`` in platformdirs' user config dir.
* State (journal, runs, artifacts, key file, logs, devnet state): platformdirs' user data dir.
* ``--home DIR`` or ``SOMA_CONSOLE_HOME`` puts both under one directory (tests always do).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from soma_console.errors import ConfigError, UsageError
from soma_console.fsutil import atomic_write_text, ensure_dir

APP_NAME = "soma-console"
HOME_ENV = "SOMA_CONSOLE_HOME"

DEVNET_HOST = "127.0.0.1"
DEVNET_PORTS = {"rpc": 9000, "faucet": 9123, "scoring": 9124, "admin": 9125, "blob": 9210}
TESTNET_RPC = "https://fullnode.testnet.soma.org"
TESTNET_FAUCET = "https://faucet.testnet.soma.org"


@dataclass(frozen=True)
class Home:
    """Every path soma-console reads or writes."""

    config_dir: Path
    data_dir: Path

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None = None) -> Home:
        chosen = home if home is not None else os.environ.get(HOME_ENV) or None
        if chosen is not None:
            root = Path(chosen).expanduser().resolve()
            if root.exists() and not root.is_dir():
                raise ConfigError(f"--home {root} is a file, not a directory.", hint="Pick a directory.")
            return cls(config_dir=root, data_dir=root)
        import platformdirs

        return cls(
            config_dir=Path(platformdirs.user_config_dir(APP_NAME)),
            data_dir=Path(platformdirs.user_data_dir(APP_NAME)),
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def journal_path(self) -> Path:
        return self.data_dir / "journal.sqlite"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def artifacts_dir(self) -> Path:
        return self.data_dir / "artifacts"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def key_file(self) -> Path:
        return self.keys_dir / "signer.key"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def devnet_dir(self) -> Path:
        return self.data_dir / "devnet"

    def ensure(self) -> Home:
        ensure_dir(self.config_dir)
        ensure_dir(self.data_dir, private=True)
        return self


@dataclass(frozen=True)
class ChainProfile:
    """The endpoints of one network."""

    name: str
    rpc_url: str
    faucet_url: str | None = None
    admin_url: str | None = None
    scoring_url: str | None = None
    blob_url: str | None = None
    # Only the embedded devnet accepts non-V1 (small) weights for rehearsal.
    is_devnet: bool = False

    def sdk_kwargs(self) -> dict[str, Any]:
        """Arguments for ``soma_sdk.SomaClient`` that connect lazily.

        The SDK connects eagerly (and raises on a dead endpoint) when it is given a faucet or
        admin URL; ChainSession creates such helpers only when a faucet/admin call is made.
        """
        return {"rpc_url": self.rpc_url}


def local_profile(name: str, host: str = DEVNET_HOST, ports: dict[str, int] | None = None) -> ChainProfile:
    p = {**DEVNET_PORTS, **(ports or {})}
    return ChainProfile(
        name=name,
        rpc_url=f"http://{host}:{p['rpc']}",
        faucet_url=f"http://{host}:{p['faucet']}",
        scoring_url=f"http://{host}:{p['scoring']}",
        admin_url=f"http://{host}:{p['admin']}",
        blob_url=f"http://{host}:{p['blob']}" if name == "devnet" else None,
        is_devnet=name == "devnet",
    )


BUILTIN_CHAINS: dict[str, ChainProfile] = {
    "devnet": local_profile("devnet"),
    "localnet": local_profile("localnet"),
    "testnet": ChainProfile(name="testnet", rpc_url=TESTNET_RPC, faucet_url=TESTNET_FAUCET),
}


@dataclass
class Settings:
    """The parsed ``config.toml``. Unknown keys are kept (and ignored) so newer files still load."""

    raw: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def load(cls, home: Home) -> Settings:
        path = home.config_file
        if not path.exists():
            return cls(raw={}, path=path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}.", hint="Check its permissions.") from None
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{path} is not valid TOML ({exc}).", hint="Fix the file or move it aside."
            ) from None
        return cls(raw=raw, path=path)

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] in {self.path} must be a table.")
        return value

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def number(self, dotted: str, default: float, *, minimum: float = 0.0) -> float:
        value = self.get(dotted, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
            raise ConfigError(f"{dotted} in {self.path} must be a number >= {minimum}, not {value!r}.")
        return float(value)

    @property
    def default_chain(self) -> str:
        return str(self.get("chain.default", "devnet"))

    @property
    def poll_seconds(self) -> float:
        return self.number("chain.poll_seconds", 3.0, minimum=0.2)

    @property
    def rpc_timeout(self) -> float:
        return self.number("chain.timeout_seconds", 30.0, minimum=1.0)

    @property
    def max_state_bytes(self) -> int:
        """The largest system state (every model included) a read accepts."""
        return int(self.number("chain.max_state_mib", 1024.0, minimum=1.0) * 1024 * 1024)

    def chain_profiles(self) -> dict[str, ChainProfile]:
        profiles = dict(BUILTIN_CHAINS)
        custom = self.get("chain.profiles", {})
        if not isinstance(custom, dict):
            raise ConfigError(f"[chain.profiles] in {self.path} must be a table of tables.")
        for name, spec in custom.items():
            if not isinstance(spec, dict) or "rpc_url" not in spec:
                raise ConfigError(f"[chain.profiles.{name}] in {self.path} needs an rpc_url.")
            profiles[name] = ChainProfile(
                name=name,
                rpc_url=str(spec["rpc_url"]),
                faucet_url=spec.get("faucet_url"),
                admin_url=spec.get("admin_url"),
                scoring_url=spec.get("scoring_url"),
                blob_url=spec.get("blob_url"),
                is_devnet=bool(spec.get("is_devnet", False)),
            )
        return profiles

    def resolve_chain(self, spec: str | None) -> ChainProfile:
        """``devnet|localnet|testnet``, a profile named in config.toml, or an RPC URL."""
        chosen = spec or self.default_chain
        profiles = self.chain_profiles()
        if chosen in profiles:
            return profiles[chosen]
        parsed = urlparse(chosen)
        if parsed.scheme in ("http", "https") and parsed.netloc:
            return ChainProfile(name=chosen, rpc_url=chosen.rstrip("/"))
        names = ", ".join(sorted(profiles))
        raise UsageError(f"unknown chain {chosen!r}.", hint=f"Use one of {names}, or an http(s):// RPC URL.")


def write_settings(home: Home, text: str) -> None:
    """Replace config.toml atomically after checking that ``text`` parses."""
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"refusing to write invalid TOML ({exc}).") from None
    atomic_write_text(home.config_file, text)
