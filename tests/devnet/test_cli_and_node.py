"""`soma-console devnet` as a user runs it, and the in-process node the demo uses."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from soma_sdk import Keypair, SomaClient

from soma_console.devnet.node import DevnetConfig, DevnetNode, PortInUse
from tests.conftest import remember_captured, run_cli


def stop_cleanly(proc: subprocess.Popen[str], sig: int, *, timeout: float) -> tuple[str, str]:
    """Stop a running ``soma-console devnet`` with ``sig`` and check it said goodbye, exit 0, no
    traceback; returns its remaining stdout and stderr. Killed if it does not stop in time."""
    try:
        if proc.poll() is None:
            proc.send_signal(sig)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    remember_captured(out + err)
    assert proc.returncode == 0, err
    assert out.strip().endswith("devnet stopped.")
    assert "Traceback" not in err
    return out, err


FREE_PORTS = [
    "--port",
    "0",
    "--faucet-port",
    "0",
    "--scoring-port",
    "0",
    "--admin-port",
    "0",
    "--blob-port",
    "0",
]


def _start_cli(home: Path, *args: str) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "soma_console", "devnet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "SOMA_CONSOLE_HOME": str(home)},
    )
    lines: list[str] = []
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if "Ctrl-C stops the devnet" in line:
            break
    return proc, lines


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_foreground_node_prints_endpoints_and_stops_cleanly(home, sig):
    kp = Keypair.generate()
    proc, lines = _start_cli(home, *FREE_PORTS, "--epoch-seconds", "0", "--fund", kp.address())
    try:
        text = "\n".join(lines)
        assert "SOMA devnet running: epoch 0" in text
        assert str(home / "devnet") in text  # the default state dir is under the console's home
        rpc = re.search(r"rpc\s+(http://127\.0\.0\.1:\d+)", text)
        admin = re.search(r"admin\s+(http://127\.0\.0\.1:\d+)", text)
        blob = re.search(r"blobs\s+(http://127\.0\.0\.1:\d+)/blobs/<name>", text)
        assert rpc, text
        assert admin, text
        assert blob, text
        client = await SomaClient(rpc.group(1))
        assert await client.get_balance(kp.address()) == 2.0  # --fund happens before "running"
        result = run_cli("devnet", "advance", "--admin-url", admin.group(1))
        assert (result.returncode, result.stdout.strip()) == (0, "epoch 1")
        status = run_cli("devnet", "status", "--blob-url", blob.group(1), "--json")
        assert status.returncode == 0, status.output
        assert status.json()["epoch"] == 1
        stop_cleanly(proc, sig, timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_advance_without_a_devnet_is_one_line(home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_cli("devnet", "advance", "--admin-url", f"http://127.0.0.1:{port}")
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1
    assert "no devnet admin service answers" in lines[0]


async def test_in_process_node_start_stop_and_port_conflict(tmp_path):
    config = DevnetConfig(
        state_dir=tmp_path / "inproc",
        rpc_port=0,
        faucet_port=0,
        scoring_port=0,
        admin_port=0,
        blob_port=0,
        epoch_seconds=0,
    )
    node = DevnetNode(config)
    endpoints = node.start()
    try:
        client = await SomaClient(
            rpc_url=endpoints.url(endpoints.rpc),
            faucet_url=endpoints.url(endpoints.faucet),
            admin_url=endpoints.url(endpoints.admin),
        )
        kp = Keypair.generate()
        await client.request_faucet(kp.address())
        assert await client.advance_epoch() == 1
        # a second node on a port in use fails with one clear sentence, leaving the first alone
        clash = DevnetNode(
            DevnetConfig(
                state_dir=tmp_path / "other",
                rpc_port=endpoints.rpc,
                faucet_port=0,
                scoring_port=0,
                admin_port=0,
                blob_port=0,
                epoch_seconds=0,
            )
        )
        with pytest.raises(
            PortInUse, match=rf"port {endpoints.rpc} on 127\.0\.0\.1 \(rpc\) is already in use"
        ):
            clash.start()
        assert await client.get_balance(kp.address()) == 2.0
    finally:
        node.stop()
    # everything was released: the same ports and state can be used again at once
    again = DevnetNode(
        DevnetConfig(
            state_dir=tmp_path / "inproc",
            rpc_port=endpoints.rpc,
            faucet_port=endpoints.faucet,
            scoring_port=endpoints.scoring,
            admin_port=endpoints.admin,
            blob_port=endpoints.blob,
            epoch_seconds=0,
        )
    )
    again.start()
    try:
        assert again.engine is not None
        assert again.engine.epoch == 1
    finally:
        again.stop()


def _default_ports_free() -> bool:
    for port in (9000, 9123, 9124, 9125, 9210):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@pytest.mark.skipif(not _default_ports_free(), reason="the default localnet ports are in use on this machine")
async def test_chain_localnet_works_unchanged(tmp_path):
    node = DevnetNode(DevnetConfig(state_dir=tmp_path / "localnet", epoch_seconds=0))
    node.start()
    try:
        client = await SomaClient(chain="localnet")
        kp = Keypair.generate()
        assert (await client.request_faucet(kp.address())).status == "Success"
        model_id = await client.create_model(kp, 100)
        assert await client.advance_epoch() == 1
        assert (await client.get_latest_system_state()).epoch == 1
        assert model_id in vars((await client.get_latest_system_state()).model_registry.models)
        await client.check_api_version()
        assert await client.scoring_health() is True
    finally:
        node.stop()
