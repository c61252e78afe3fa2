"""pytest plugin: a real devnet node in a subprocess, for any test that needs a chain.

    def test_something(devnet):            # a fresh chain for this test
        client = await SomaClient(**devnet.sdk_kwargs())
        devnet.fund(address, soma=5)       # mint coins straight to an address
        devnet.advance()                   # next epoch, now
        devnet.restart() / devnet.kill()   # clean stop + start / SIGKILL (state survives)

    def test_other(shared_devnet):         # one chain for the whole session (faster; other
        ...                                # tests' epochs and models are visible)

The node runs ``python -m soma_console devnet --epoch-seconds 0`` on free loopback ports with
its state in a temporary directory; its stdout/stderr go to files there (``devnet.out``,
``devnet.err``), which are printed when a start fails. Every node is stopped at teardown.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from soma_console.config import ChainProfile

SHANNONS = 1_000_000_000
START_TIMEOUT = 60.0
_PORT_KEYS = ("rpc", "faucet", "scoring", "admin", "blob")


class DevnetStartError(RuntimeError):
    pass


def _bcs_string(text: str) -> bytes:
    from soma_console.encoding import uleb128

    raw = text.encode()
    return uleb128(len(raw)) + raw


@dataclass
class Devnet:
    """A devnet node running in a subprocess; see the module docstring."""

    state_dir: Path
    epoch_seconds: float = 0.0
    ports: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_PORT_KEYS, 0))
    extra_args: tuple[str, ...] = ()
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    # -- endpoints -----------------------------------------------------------------------------

    def _url(self, key: str) -> str:
        return f"http://127.0.0.1:{self.ports[key]}"

    @property
    def rpc_url(self) -> str:
        return self._url("rpc")

    @property
    def faucet_url(self) -> str:
        return self._url("faucet")

    @property
    def admin_url(self) -> str:
        return self._url("admin")

    @property
    def scoring_url(self) -> str:
        return self._url("scoring")

    @property
    def blob_url(self) -> str:
        return self._url("blob")

    @property
    def profile(self) -> ChainProfile:
        return ChainProfile(
            name="devnet",
            rpc_url=self.rpc_url,
            faucet_url=self.faucet_url,
            admin_url=self.admin_url,
            scoring_url=self.scoring_url,
            blob_url=self.blob_url,
            is_devnet=True,
        )

    def sdk_kwargs(self) -> dict[str, str]:
        """Arguments for ``soma_sdk.SomaClient`` with faucet and admin (connects eagerly)."""
        return {"rpc_url": self.rpc_url, "faucet_url": self.faucet_url, "admin_url": self.admin_url}

    async def client(self) -> Any:
        from soma_sdk import SomaClient

        return await SomaClient(**self.sdk_kwargs())

    # -- process control -----------------------------------------------------------------------

    @property
    def log_text(self) -> str:
        parts = []
        for name in ("devnet.out", "devnet.err"):
            p = self.state_dir / name
            if p.exists():
                parts.append(f"--- {name} ---\n{p.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def start(self) -> Devnet:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the devnet is already running")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        out = self.state_dir / "devnet.out"
        args = [
            sys.executable,
            "-m",
            "soma_console",
            "-v",  # INFO logs in devnet.err: more for the secret audit to read
            "devnet",
            "--json",
            "--exit-with-parent",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.ports["rpc"]),
            "--faucet-port",
            str(self.ports["faucet"]),
            "--scoring-port",
            str(self.ports["scoring"]),
            "--admin-port",
            str(self.ports["admin"]),
            "--blob-port",
            str(self.ports["blob"]),
            "--epoch-seconds",
            str(self.epoch_seconds),
            "--state",
            str(self.state_dir),
            *self.extra_args,
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(out, "wb") as fout, open(self.state_dir / "devnet.err", "ab") as ferr:
            self.proc = subprocess.Popen(
                args,
                stdout=fout,
                stderr=ferr,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            line = out.read_text(errors="replace").splitlines()[:1]
            if line and line[0].startswith("{"):
                ready = json.loads(line[0])
                for key in _PORT_KEYS:
                    self.ports[key] = int(ready[f"{key}_url"].rsplit(":", 1)[1])
                self.starts += 1
                return self
            if self.proc.poll() is not None:
                raise DevnetStartError(f"the devnet exited with {self.proc.returncode}:\n{self.log_text}")
            time.sleep(0.02)
        self.kill()
        raise DevnetStartError(f"the devnet did not become ready in {START_TIMEOUT:.0f} s:\n{self.log_text}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait (a clean shutdown); returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.proc = None
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL: the node gets no chance to clean up, as in a crash."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        self.proc = None

    def restart(self) -> Devnet:
        """Stop cleanly and start again on the same ports and state."""
        self.stop()
        return self.start()

    # -- chain helpers (admin service; no SDK needed) ------------------------------------------

    def _admin(self, method: str, payload: bytes) -> bytes:
        import grpc

        with grpc.insecure_channel(f"127.0.0.1:{self.ports['admin']}") as channel:
            call = channel.unary_unary(
                f"/admin.Admin/{method}", request_serializer=lambda b: b, response_deserializer=lambda b: b
            )
            return bytes(call(payload, timeout=30))

    def advance(self) -> int:
        """Advance to the next epoch; returns its number."""
        return int.from_bytes(self._admin("AdvanceEpoch", b"")[:8], "little")

    def fund(self, address: str, soma: float = 10.0) -> str:
        """Mint one coin of ``soma`` SOMA for ``address``; returns the coin id."""
        from soma_console.devnet.bcs_services import decode_gas_response

        amount = round(soma * SHANNONS)
        raw = self._admin("Fund", _bcs_string(address) + amount.to_bytes(8, "little"))
        return str(decode_gas_response(raw)["coins_sent"][0]["id"])

    def registry(self) -> dict[str, Any]:
        """The devnet's own registry view (weights checks, supply), from the blob port."""
        import httpx

        return dict(httpx.get(f"{self.blob_url}/devnet/registry", timeout=10).json())


def _new_devnet(tmp: Path, **kwargs: Any) -> Iterator[Devnet]:
    from tests.conftest import remember_captured

    node = Devnet(state_dir=tmp, **kwargs)
    node.start()
    try:
        yield node
    finally:
        node.kill()
        remember_captured(node.log_text)  # the session's secret audit reads the node's output


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    """A fresh devnet for one test (epochs advance only through ``advance()``)."""
    yield from _new_devnet(tmp_path / "devnet")


@pytest.fixture(scope="session")
def shared_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """One devnet for the whole session; use fresh keypairs and expect others' activity."""
    yield from _new_devnet(tmp_path_factory.mktemp("shared-devnet"))
