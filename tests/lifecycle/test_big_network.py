"""A network past the SDK's 4 MiB response limit: 1,000 active models with 2048-float embeddings
(a system state of about 9 MB), each created, committed and revealed through the real SDK.

Every command and the console must work on it, and a reveal must go through in its window even
when the model list cannot be read at all (here: a receive limit of 1 MiB, set the way a user
would, in config.toml)."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.active_models import fill_active
from soma_console.config import Settings
from soma_console.context import AppContext
from soma_console.core.live_services import LiveServices
from soma_console.core.wallet import load_signer
from soma_console.tui.app import ConsoleApp
from tests.conftest import assert_one_line_error
from tests.devnet_fixture import Devnet
from tests.lifecycle.conftest import Owner, audit_secrets, make_owner, write_chain_config
from tests.tui.helpers import pilot_options, screen_text

pytestmark = pytest.mark.slow

ACTIVE = 1000


def _limit_state(owner: Owner, mib: int | None) -> None:
    """Set (or drop) chain.max_state_mib in the owner's config.toml."""
    write_chain_config(owner.home, owner.chain)
    if mib is not None:
        path = owner.home / "config.toml"
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("[chain]\n", f"[chain]\nmax_state_mib = {mib}\n", 1), encoding="utf-8")


def _revealed(owner: Owner) -> list[str]:
    return [
        i["model_id"]
        for i in owner.journal_rows("intents")
        if i["kind"] == "commit" and i["state"] == "revealed"
    ]


async def _console(owner: Owner, *, until: Any) -> tuple[list[str], str]:
    """Open the console (autopilot on) on the owner's home, as ``soma-console`` would with its
    config.toml, and wait until ``until(app)``; returns the errors it showed and its screen."""
    ctx = replace(AppContext.create(home=str(owner.home)), chain=owner.chain.profile)
    services = LiveServices.open(ctx, signer=load_signer(ctx.home))
    services.session.poll_interval = 0.5
    services.autopilot.set(True)
    app = ConsoleApp(services, settings=Settings(raw={}), options=pilot_options())
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            for _ in range(1200):
                await pilot.pause(0.1)
                if until(app):
                    break
            else:
                raise AssertionError(f"the console did not get there in time; errors: {app.errors}")
            return [str(e) for e in app.errors], screen_text(app)
    finally:
        await services.stop()


def _with_network_embeddings(run: Path, dest: Path) -> Path:
    """A copy of ``run`` whose manifests' embeddings are widened to 2048 values (repeated)."""
    shutil.copytree(run, dest)
    for manifest in (dest / "checkpoints").glob("*.json"):
        data = json.loads(manifest.read_text())
        emb = data["embedding"]
        data["embedding"] = [emb[i % len(emb)] for i in range(2048)]
        data["embedding_dim"] = 2048
        manifest.write_text(json.dumps(data))
    return dest


def test_every_command_works_with_1000_active_models(
    tmp_path: Path, devnet: Devnet, tiny_run: Path, home: Path, remember_secret: Any
) -> None:
    filled = asyncio.run(fill_active(devnet.rpc_url, devnet.fund, devnet.advance, count=ACTIVE, signers=16))
    assert len(filled.model_ids) == ACTIVE
    # The devnet refuses a registry of mixed embedding sizes (the chain's target generation needs
    # one), so the owners' tiny checkpoints carry embeddings of the network's size, 2048.
    run = _with_network_embeddings(tiny_run, tmp_path / "run-2048")
    cli, headless, console = (make_owner(tmp_path, devnet, run, name=n, soma=5.0) for n in "abc")

    faucet = cli.json("wallet", "faucet")
    assert faucet["balance"] > faucet["balance_before"]

    listed = cli.json("models")
    assert listed["epoch"] == filled.reveal_epoch
    by_id = {m["model_id"]: m for m in listed["models"]}
    assert set(filled.model_ids) <= set(by_id)
    assert all(by_id[m]["status"] == "active" for m in filled.model_ids)

    committed = {
        o.home.name: o.json("commit", o.checkpoint(2), "--yes")["model_id"] for o in (cli, headless, console)
    }
    queue = cli.json("queue")["entries"]
    assert [(e["model_id"], e["state"]) for e in queue] == [(committed["a"], "waiting")]
    devnet.advance()
    assert cli.json("queue")["entries"][0]["state"] == "open"

    # From here the model list cannot be read at all (9 MB against a 1 MiB limit)...
    for o in (cli, headless, console):
        _limit_state(o, 1)
    assert_one_line_error(cli.cli("models"), "MiB", "chain.max_state_mib")
    # ...and every reveal still goes through in its window: the CLI,
    revealed = cli.json("reveal", "--yes")
    assert [r["model_id"] for r in revealed["revealed"]] == [committed["a"]]
    # headless autopilot,
    r = headless.cli("autopilot", "--once", "--yes")
    assert r.returncode == 0, r.output
    assert _revealed(headless) == [committed["b"]]
    # and the console's autopilot, which says in one sentence why the list is missing.
    # (The reveal can land before the poller's first read of the list fails, so wait for both.)
    errors, screen = asyncio.run(
        _console(
            console,
            until=lambda app: (
                _revealed(console) == [committed["c"]] and any("model list" in e for e in app.errors)
            ),
        )
    )
    assert "connected, no model list" in screen and "offline" not in screen
    # Each failure that needs the list (the poll, the earnings sync) says why, in one sentence.
    assert any("model list" in e for e in errors), errors
    assert all("MiB" in e and "chain.max_state_mib" in e and "\n" not in e for e in errors), errors
    assert not any("MetadataMap" in e or "status:" in e for e in errors)

    for o in (cli, headless, console):
        _limit_state(o, None)
        [mine] = o.json("models", "--mine")["models"]
        assert mine["model_id"] == committed[o.home.name] and mine["status"] == "active"
        assert mine["embedding_matches"] is True
        assert o.json("queue")["entries"] == []
    # With the list readable, the whole of it reaches the console's Models pane.
    errors, screen = asyncio.run(_console(cli, until=lambda app: len(app.models.models) >= ACTIVE + 3))
    assert errors == [] and "● connected" in screen
    audit_secrets(cli, remember_secret)
