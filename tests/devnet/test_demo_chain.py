"""The demo's chain: the devnet and its built-in submitter in a child process, so that the console's
own process never imports torch; funded once, stopped cleanly, refused in one sentence when busy."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from soma_sdk import Keypair, SomaClient

from tests.conftest import remember_captured

REPO = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, sys
from soma_console.context import AppContext
from soma_console.cli.console import start_demo_devnet
app = AppContext.create(home=sys.argv[1])
chain = start_demo_devnet(app, epoch_seconds=0, fresh=False, any_ports=True, fund=sys.argv[2])
print(json.dumps({"urls": chain.endpoints.as_dict(), "pid": chain.proc.pid, "torch": "torch" in sys.modules}))
sys.stdout.flush()
sys.stdin.readline()  # until the test says stop
print(json.dumps({"code": chain.stop(), "torch": "torch" in sys.modules}))
"""


async def _active_tiny_model(urls: dict[str, str]) -> None:
    """One tiny model created, committed and revealed, then the epoch turned (targets drawn)."""
    import httpx
    import numpy as np

    from tests.scoring.reference import tiny_weights

    client = await SomaClient(
        rpc_url=urls["rpc_url"], faucet_url=urls["faucet_url"], admin_url=urls["admin_url"]
    )
    enc, key = SomaClient.encrypt_weights(tiny_weights(101))
    async with httpx.AsyncClient() as http:
        r = await http.put(f"{urls['blob_url']}/blobs/demo-model.enc", content=enc)
    owner = Keypair.generate()
    await client.request_faucet(owner.address())
    emb = [float(x) for x in np.random.default_rng(0).normal(size=64).astype(np.float32)]
    mid = await client.create_model(owner, 0, 1.0)
    await client.commit_model(owner, mid, r.json()["url"], enc, key, emb)
    await client.advance_epoch()
    await client.reveal_model(owner, mid, key, emb)
    await client.advance_epoch()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start(home: Path, address: str) -> tuple[subprocess.Popen[str], dict]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(home), address],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else ""
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen[str]) -> dict:
    out, err = proc.communicate("\n", timeout=60)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


async def test_the_demo_chain_runs_in_a_child_with_its_submitter_and_funds_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    me = Keypair.generate().address()
    proc, ready = _start(home, me)
    try:
        assert ready["torch"] is False  # the console's process never loads the scorer
        child = ready["pid"]
        assert _alive(child) and child != proc.pid
        client = await SomaClient(rpc_url=ready["urls"]["rpc_url"], admin_url=ready["urls"]["admin_url"])
        assert await client.get_balance(me) == 50.0  # DEMO_FUNDS_SOMA, in SOMA
        # The built-in submitter runs: a tiny model made active is assigned targets, and the
        # submitter fills some of them through the child's scoring service.
        await _active_tiny_model(ready["urls"])
        deadline = time.monotonic() + 180
        while not (await client.list_targets(status="filled")).targets:
            assert time.monotonic() < deadline, (home / "devnet" / "node.err").read_text()[-3000:]
            await asyncio.sleep(1)
    finally:
        done = _stop(proc)
        remember_captured((home / "devnet" / "node.err").read_text())
    assert done["torch"] is False and done["code"] == 0
    # stop() waited for the child (SIGTERM, then SIGKILL): it is gone, its ports with it
    assert not _alive(child)
    assert "submitter" in (home / "devnet" / "node.err").read_text()

    # The next demo on the same state: the wallet holds 50 SOMA, more than 5, so it is not funded again.
    proc, ready = _start(home, me)
    try:
        client = await SomaClient(rpc_url=ready["urls"]["rpc_url"])
        assert await client.get_balance(me) == 50.0
        # A second demo while this one runs: the child's one sentence, no traceback.
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", SCRIPT, str(home), me],
            input="\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )
        assert second.returncode != 0
        assert "another devnet is already running on" in second.stderr, second.stderr
    finally:
        _stop(proc)
