"""Earnings end to end: a tiny model trained, committed and revealed on a devnet running its built-in
submitter and the tiny preset, assigned targets, winning, claimed at generation epoch + 2 through
``soma-console claim``, and its wins still listed after the chain deleted the targets."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.devnet_fixture import Devnet, _new_devnet
from tests.lifecycle.conftest import Owner, make_owner
from tests.tui.helpers import pilot_options


@pytest.fixture
def submitter_devnet(tmp_path: Path) -> Iterator[Devnet]:
    yield from _new_devnet(tmp_path / "devnet", extra_args=("--model-preset", "tiny", "--submitter"))


def _balance(owner: Owner) -> int:
    return int(owner.json("wallet", "show")["balance"])


def _wait_for_wins(owner: Owner, timeout: float = 240.0) -> list[dict[str, Any]]:
    deadline = time.time() + timeout
    while True:
        wins = owner.json("earnings")["wins"]
        if wins:
            return wins
        assert time.time() < deadline, owner.chain.log_text[-3000:]
        time.sleep(3)


def _claimable(tmp_path: Path, chain: Devnet, run: Path) -> tuple[Owner, int, list[dict[str, Any]]]:
    """Train (the fixture's run), commit, reveal, be assigned and win; return at generation epoch + 2."""
    owner = make_owner(tmp_path, chain, run)
    model_id = owner.json("commit", owner.checkpoint(2), "--yes")["model_id"].lower()
    chain.advance()
    owner.json("reveal", "--yes")
    epoch = chain.advance()  # the boundary draws targets for the active model

    mine = owner.json("targets", "--mine", "--epoch", str(epoch))
    assert mine and all(model_id in t["model_ids"] for t in mine)
    assert set(mine[0]) == {
        "target_id",
        "generation_epoch",
        "status",
        "model_ids",
        "winning_model_id",
        "reward_pool",
        "distance_threshold",
    }
    wins = _wait_for_wins(owner)
    assert {w["model_id"] for w in wins} == {model_id}
    assert all(w["claimable_from_epoch"] == epoch + 2 and not w["claimed"] for w in wins)
    filled = owner.json("targets", "--mine", "--status", "filled")
    assert {t["target_id"] for t in filled} >= {w["target_id"] for w in wins}

    # generation epoch + 1: nothing claimable yet, and nothing is sent
    chain.advance()
    early = owner.cli("claim", "--all", "--yes")
    assert early.returncode != 0 and "claimable" in early.stderr and "Traceback" not in early.stderr
    chain.advance()
    report = owner.json("earnings")
    due = [w for w in report["wins"] if w["generation_epoch"] == epoch]
    assert due and report["claimable_now_shannons"] == sum(w["owner_share_shannons"] for w in due)
    return owner, epoch, due


def test_a_tiny_model_is_assigned_wins_and_its_owner_claims_exactly_the_share(
    tmp_path: Path, submitter_devnet: Devnet, tiny_run: Path
) -> None:
    owner, epoch, due = _claimable(tmp_path, submitter_devnet, tiny_run)
    before = _balance(owner)
    # The tables' ids paste back: claim the wins by the short ids the earnings table printed.
    table = owner.cli("earnings")
    assert table.returncode == 0 and "…" not in table.stdout, table.stdout
    short = {w["target_id"][:14] for w in due}
    assert short <= set(re.findall(r"0x[0-9a-f]{12}\b", table.stdout))
    shown = owner.cli("targets", "--mine")
    assert shown.returncode == 0 and "…" not in shown.stdout and short <= set(shown.stdout.split())
    r = owner.cli("claim", *sorted(short), "--yes", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    me = owner.json("wallet", "show")["address"]
    assert f"{me} (this wallet)" in r.stderr and "0x" + me not in r.stderr  # addresses as `wallet show`
    assert all(w["target_id"] in r.stderr for w in due)  # the plan names each target whole
    assert sorted(c["target_id"] for c in result["claimed"]) == sorted(w["target_id"] for w in due)
    for c in result["claimed"]:
        w = next(w for w in due if w["target_id"] == c["target_id"])
        assert c["owner_share_shannons"] == w["reward_shannons"] * 4975 // 10_000
        assert c["claimer_fee_shannons"] == w["reward_shannons"] * 50 // 10_000
    gained = sum(c["owner_share_shannons"] + c["claimer_fee_shannons"] for c in result["claimed"])
    # the owner signed the claims: share + claimer fee, net of the fees charged
    assert _balance(owner) - before == gained - result["fees_shannons"]
    assert result["fees_shannons"] > 0

    # the targets are gone from the chain; the wins are still listed, now claimed
    live = {t["target_id"] for t in owner.json("targets")}
    assert not live & {c["target_id"] for c in result["claimed"]}
    after = owner.json("earnings")
    claimed = {w["target_id"] for w in after["wins"] if w["claimed"]}
    assert claimed == {c["target_id"] for c in result["claimed"]}
    assert after["total_earned_shannons"] == sum(c["owner_share_shannons"] for c in result["claimed"])
    assert any(e["epoch"] == epoch and e["earned_shannons"] > 0 for e in after["by_epoch"])
    # claiming again sends nothing
    again = owner.cli("claim", "--all", "--yes")
    assert again.returncode != 0 and "has a claimable win" in again.stderr


def _claim_rows(owner: Owner) -> list[dict[str, Any]]:
    con = sqlite3.connect(owner.home / "targets.sqlite")
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM claims ORDER BY updated_at")]
    finally:
        con.close()


def test_a_kill_during_a_claim_leaves_no_double_claim_and_nothing_lost(
    tmp_path: Path, submitter_devnet: Devnet, tiny_run: Path
) -> None:
    owner, _, due = _claimable(tmp_path, submitter_devnet, tiny_run)
    before = _balance(owner)
    crash = {"SOMA_CONSOLE_CRASH_AT": "claim_before_send"}
    r = owner.cli("claim", "--all", "--yes", "--json", env=crash)
    assert r.returncode == -9
    [row] = _claim_rows(owner)
    assert row["state"] == "sent" and row["digest"]
    assert _balance(owner) == before  # journaled, never sent

    r = owner.cli("claim", "--all", "--yes", "--json", env={"SOMA_CONSOLE_CRASH_AT": "claim_after_send"})
    assert r.returncode == -9
    [row] = _claim_rows(owner)
    assert row["state"] == "sent"  # the chain has it; the journal does not know yet

    finished = owner.json("claim", "--all", "--yes")
    rows = _claim_rows(owner)
    assert sorted(r["target_id"] for r in rows) == sorted(w["target_id"] for w in due)
    assert all(r["state"] == "done" and r["fee"] > 0 for r in rows)  # settled, none failed
    first = rows[0]["target_id"]
    assert first not in {c["target_id"] for c in finished["claimed"]}  # not sent a second time
    gained = sum(w["owner_share_shannons"] + w["reward_shannons"] * 50 // 10_000 for w in due)
    assert _balance(owner) - before == gained - sum(r["fee"] for r in rows)
    due_ids = {w["target_id"] for w in due}
    assert {w["target_id"] for w in owner.json("earnings")["wins"] if w["claimed"]} == due_ids


def test_autopilot_claims_the_wins_due_at_generation_epoch_plus_two(
    tmp_path: Path, submitter_devnet: Devnet, tiny_run: Path
) -> None:
    owner, _, due = _claimable(tmp_path, submitter_devnet, tiny_run)
    before = _balance(owner)
    r = owner.cli("autopilot", "--once", "--yes")
    assert r.returncode == 0, r.output
    assert f"claimed {len(due)} win" in r.stderr
    rows = _claim_rows(owner)
    assert sorted(r["target_id"] for r in rows) == sorted(w["target_id"] for w in due)
    gained = sum(w["owner_share_shannons"] + w["reward_shannons"] * 50 // 10_000 for w in due)
    assert _balance(owner) - before == gained - sum(r["fee"] for r in rows)
    # a second round in the same epoch sends nothing
    r = owner.cli("autopilot", "--once", "--yes")
    assert r.returncode == 0 and "claimed" not in r.stderr, r.output
    assert len(_claim_rows(owner)) == len(due)


def test_the_consoles_claim_plans_exact_payouts_and_its_earnings_view_keeps_the_win(
    tmp_path: Path, submitter_devnet: Devnet, tiny_run: Path
) -> None:
    import asyncio

    from soma_console.context import AppContext
    from soma_console.core.live_services import LiveServices

    owner, epoch, due = _claimable(tmp_path, submitter_devnet, tiny_run)
    before = _balance(owner)

    async def main() -> tuple[Any, Any, Any]:
        services = LiveServices.open(AppContext.create(home=str(owner.home)))
        services.autopilot.set(False)
        (owner.home / "targets.sqlite").unlink()  # the console syncs the index by itself
        try:
            await services.start()
            for _ in range(300):
                view = await asyncio.to_thread(services.earnings_view)
                if view is not None and view.claimable:
                    break
                await asyncio.sleep(0.1)
            assert view is not None, "the console did not sync the target index"
            assert sorted(w["target_id"] for w in view.claimable) == sorted(w["target_id"] for w in due)
            plan = await services.plan_claim()
            result = await services.execute(plan, lambda line: None)
            await services.session.snapshot()
            return plan, result, services.earnings_view()
        finally:
            await services.stop()

    plan, result, view = asyncio.run(main())
    assert plan.confirm_word == "claim" and len(plan.payload) == len(due)
    text = plan.render_text()
    owners = sum(w["owner_share_shannons"] for w in due)
    assert f"{owners / 1e9:,.9f}".rstrip("0").rstrip(".") + " SOMA" in text and "fees" in text
    assert result.ok and len(result.data["claimed"]) == len(due)
    gained = owners + sum(w["reward_shannons"] * 50 // 10_000 for w in due)
    assert _balance(owner) - before == gained - result.data["fees_shannons"]
    assert view is not None and view.report["total_earned_shannons"] == owners
    # Every claimed win left the list (the built-in submitter may have filled and won more targets
    # meanwhile: those may be listed).
    claimed_ids = {w["target_id"] for w in due}
    assert not claimed_ids & {w["target_id"] for w in view.claimable}, view.claimable
    assert any(e["epoch"] == epoch for e in view.report["by_epoch"])


def test_the_consoles_models_pane_shows_every_models_wins_from_its_own_index(
    tmp_path: Path, submitter_devnet: Devnet, tiny_run: Path
) -> None:
    """The live console of a wallet that owns no model: the Models pane's wins and earnings of the
    owner's model (someone else's) come from the console's own index sync, at 80x24."""
    import asyncio

    from soma_console.config import Settings
    from soma_console.context import AppContext
    from soma_console.core.live_services import LiveServices
    from soma_console.core.targets_index import TargetIndex
    from soma_console.tui.app import ConsoleApp
    from soma_console.tui.models_pane import compact_soma
    from tests.tui.helpers import screen_text

    owner = make_owner(tmp_path, submitter_devnet, tiny_run)
    model_id = owner.json("commit", owner.checkpoint(2), "--yes")["model_id"].lower()
    submitter_devnet.advance()
    owner.json("reveal", "--yes")
    submitter_devnet.advance()
    wins = _wait_for_wins(owner)
    watcher = make_owner(tmp_path, submitter_devnet, tiny_run, name="watcher")

    async def console() -> tuple[tuple[int, int], list[str], str]:
        services = LiveServices.open(AppContext.create(home=str(watcher.home)))
        services.session.poll_interval = 0.5
        services.autopilot.set(False)
        app = ConsoleApp(services, settings=Settings(raw={}), options=pilot_options())
        try:
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause(0.5)
                await pilot.press("4")
                for _ in range(600):
                    await pilot.pause(0.1)
                    if app.models.wins.get(model_id, (0, 0))[0] >= len(wins):
                        break
                else:
                    raise AssertionError(f"no wins in the Models pane; errors: {app.errors}")
                await pilot.pause(0.2)
                row = app.models.table.rows[model_id]
                cells = [c.text.plain for c in row]
                return app.models.wins[model_id], cells, screen_text(app)
        finally:
            await services.stop()

    (won, earned), cells, screen = asyncio.run(console())
    index = TargetIndex.open(watcher.home / "targets.sqlite")  # the console synced it by itself
    try:
        mine = index.wins("devnet", [model_id])
    finally:
        index.close()
    assert won == len(mine) >= len(wins)
    assert earned == sum(t.reward_pool * 4975 // 10_000 for t in mine) > 0
    assert cells[4:6] == [str(won), compact_soma(earned)]
    assert cells[7] != "you"  # another wallet's model
    assert "wins" in screen and "earned" in screen and compact_soma(earned) in screen
