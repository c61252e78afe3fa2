"""``soma-console cron`` as a user runs it: real CLI subprocesses, the unmodified modal client, the fake
control plane, and a devnet standing in for the public chain (the epoch length is read from it)."""

from __future__ import annotations

import io
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from soma_console.training import cron_journal
from soma_console.training.cron_lease import JournalLease, lease_dict_name
from tests.conftest import CliResult, assert_one_line_error
from tests.devnet_fixture import Devnet, _new_devnet
from tests.fake_modal.server import FakeModal

APP = "soma-cli-cron"
VOL = "soma-cli-cron-vol"
FLAGS = ["--app", APP, "--volume", VOL]


@pytest.fixture(scope="module")
def day_devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """A devnet whose epochs last a day (the reveal schedule is derived from that)."""
    yield from _new_devnet(tmp_path_factory.mktemp("day-devnet"), epoch_seconds=86400.0)


def as_testnet(home: Path, chain: Devnet) -> None:
    """This home's `testnet` is the devnet: the name Modal could reach, the node this test can."""
    (home / "config.toml").write_text(f'[chain.profiles.testnet]\nrpc_url = "{chain.rpc_url}"\n')


def write_spec(tmp_path: Path, run: str) -> Path:
    path = tmp_path / f"{run}.json"
    path.write_text(json.dumps({"run": run, "preset": "tiny", "steps": 6, "checkpoint_every": 2}))
    return path


def deploy(cli: Any, spec: Path, *extra: str) -> CliResult:
    r: CliResult = cli(
        "--chain", "testnet", "cron", "deploy", "--spec", str(spec), "--steps", "50", *FLAGS, *extra, "--yes"
    )
    return r


def test_cron_deploy_status_pull_remove(
    cli: Any, fake: FakeModal, home: Path, tmp_path: Path, day_devnet: Devnet
) -> None:
    as_testnet(home, day_devnet)
    spec = write_spec(tmp_path, "cron-run")
    assert_one_line_error(
        deploy(cli, spec, "--every", "6h"), "Secret 'soma-signer' not found", "docs/modal.md"
    )
    fake.secrets |= {"soma-signer", "soma-storage"}
    r = deploy(cli, spec, "--every", "6h", "--commit-if-better", "5")
    assert r.returncode == 0, r.output
    assert "run cron-run, 50 steps per round, every 6:00:00, chain testnet" in r.stdout
    assert "an update only if it beats the current weights on the last 5 filled targets" in r.stdout
    assert json.loads((home / "modal" / "cron.json").read_text())["gate_targets"] == 5
    assert "reveals on cron '0 * * * *'" in r.stdout  # a day's epoch: hourly, 24 attempts per window
    train = fake.app_function(APP, "cron_round")
    reveal = fake.app_function(APP, "reveal_round")
    assert train is not None and reveal is not None
    assert train.definition.schedule.period.hours == 6
    assert reveal.definition.schedule.cron.cron_string == "0 * * * *"  # wall clock: redeploys keep it
    assert not reveal.definition.resources.gpu_config.gpu_type  # reveals run on a CPU
    assert train.definition.resources.gpu_config.gpu_type == "A100"

    st = cli("cron", "status", *FLAGS, "--json")
    body = json.loads(st.stdout)
    assert body["deployed"] is True and body["rounds"] == [] and body["lease"] is None
    assert "0 * * * *" in body["reveal_schedule"]

    # A round is writing the journal: redeploy, remove and pull all refuse.
    import modal

    store = modal.Dict.from_name(lease_dict_name(APP), create_if_missing=True)
    with JournalLease(store, purpose="commit", holder="train-round-7"):
        assert_one_line_error(deploy(cli, spec, "--every", "6h"), "train-round-7", "not redeploying")
        assert_one_line_error(cli("cron", "remove", "--app", APP, "--yes"), "train-round-7")
        assert_one_line_error(cli("cron", "pull", *FLAGS), "train-round-7")
        body = json.loads(cli("cron", "status", *FLAGS, "--json").stdout)
        assert body["lease"]["holder"] == "train-round-7"
        human = cli("cron", "status", *FLAGS).stdout
        assert f"reveal schedule {body['reveal_schedule']}." in human
        assert "a commit round (train-round-7) holds the journal lease now." in human

    # A round left a reveal pending: a redeploy starts a reveal round at once (and the wall-clock
    # reveal schedule is unchanged), so the window is kept.
    root = fake.volume(VOL).root
    cron_root = root / "cron" / APP
    pending = {"revealed": [], "pending": [{"model_id": "0xabc", "state": "waiting"}], "said": []}
    cron_journal.append(
        cron_journal.round_path(cron_root, "20260101T000000Z-reveal-0001"), "round_started", "r1"
    )
    cron_journal.append(
        cron_journal.round_path(cron_root, "20260101T000000Z-reveal-0001"), "revealed", "r1", result=pending
    )
    fake.runners["reveal_round"] = lambda c: {"round": "ran"}
    before = {c.call_id for c in fake.calls.values()}
    r = deploy(cli, spec, "--every", "6h")
    assert r.returncode == 0, r.output
    assert "a reveal round started at once" in r.stdout
    started = [c for c in fake.calls.values() if c.call_id not in before]
    assert [fake.functions[c.function_id].tag for c in started] == ["reveal_round"]
    assert fake.app_function(APP, "reveal_round").definition.schedule.cron.cron_string == "0 * * * *"  # type: ignore[union-attr]

    # The journal comes home: private, atomic, and never over newer local entries.
    journal = cron_root / "home" / "journal.sqlite"
    journal.parent.mkdir(parents=True, exist_ok=True)
    _journal_with(journal, intents=[(1, 100.0)])
    dest = tmp_path / "pulled"
    p = cli("cron", "pull", *FLAGS, "--to", str(dest), "--json")
    assert p.returncode == 0, p.output
    got = json.loads(p.stdout)
    assert got["intents"] == 1 and (dest / "journal.sqlite").stat().st_mode & 0o777 == 0o600
    assert "SOMA_SECRET_KEY=... soma-console --home" in cli("cron", "pull", *FLAGS, "--to", str(dest)).stdout
    _touch_intent(dest / "journal.sqlite", 1, 200.0)  # revealed from here after the pull
    assert_one_line_error(cli("cron", "pull", *FLAGS, "--to", str(dest)), "changes the cron's copy lacks")
    assert _intent_time(dest / "journal.sqlite", 1) == 200.0  # untouched
    assert not [f for f in os.listdir(dest) if f.endswith(".part")]

    assert_one_line_error(cli("cron", "remove", "--app", APP), "needs confirmation")
    rm = cli("cron", "remove", "--app", APP, "--yes")
    assert rm.returncode == 0, rm.output
    assert "cron pull" in rm.stdout
    assert json.loads(cli("cron", "status", *FLAGS, "--json").stdout)["deployed"] is False


def _journal_with(path: Path, *, intents: list[tuple[int, float]]) -> None:
    from soma_console.core.journal import Journal

    Journal.open(path).close()
    con = sqlite3.connect(path)
    for i, t in intents:
        con.execute(
            "INSERT INTO intents(id, created_at, updated_at, chain, signer, kind, state) "
            "VALUES (?, ?, ?, 'testnet', '0xme', 'commit', 'confirmed')",
            (i, t, t),
        )
    con.commit()
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()


def _touch_intent(path: Path, intent: int, t: float) -> None:
    con = sqlite3.connect(path)
    con.execute("UPDATE intents SET updated_at = ?, state = 'revealed' WHERE id = ?", (t, intent))
    con.commit()
    con.close()


def _intent_time(path: Path, intent: int) -> float:
    con = sqlite3.connect(path)
    try:
        return float(con.execute("SELECT updated_at FROM intents WHERE id = ?", (intent,)).fetchone()[0])
    finally:
        con.close()


@pytest.fixture
def short_devnet(tmp_path: Path) -> Iterator[Devnet]:
    """A devnet whose epochs last two minutes."""
    yield from _new_devnet(tmp_path / "short-devnet", epoch_seconds=120.0)


def test_schedules_that_could_miss_a_window_are_refused(
    cli: Any, fake: FakeModal, home: Path, tmp_path: Path, short_devnet: Devnet
) -> None:
    spec = write_spec(tmp_path, "cron-bad")
    assert_one_line_error(cli("cron", "deploy", "--spec", str(spec), "--every", "2m", "--yes"), "too often")
    assert_one_line_error(
        cli("cron", "deploy", "--spec", str(spec), "--every", "often", "--yes"), "not a period"
    )
    assert_one_line_error(
        cli("cron", "deploy", "--spec", str(spec), "--every", "30d", "--yes"), "longer than 7d"
    )
    for expr, why in (
        ("0 */6 * *", "4 fields"),
        ("61 * * * *", "minute field"),
        ("0 0 31 2 *", "never fires"),
        ("0 0 1 1 *", "up to"),
        ("*/5 * * * *", "fires every 5m"),
    ):
        assert_one_line_error(cli("cron", "deploy", "--spec", str(spec), "--cron", expr, "--yes"), why)
    assert_one_line_error(cli("cron", "deploy", "--yes"), "exactly one of --spec")
    r = cli("cron", "deploy", "--spec", str(spec), "--yes")  # default chain: devnet
    assert_one_line_error(r, "cannot reach the chain 'devnet' on this machine", "--chain testnet")
    # epochs too short for any Modal schedule to promise several reveal attempts in each window
    as_testnet(home, short_devnet)
    fake.secrets |= {"soma-signer", "soma-storage"}
    r = cli("--chain", "testnet", "cron", "deploy", "--spec", str(spec), "--app", "soma-cli-short", "--yes")
    assert_one_line_error(r, "too short for a Modal schedule", "autopilot")
    assert fake.app_function("soma-cli-short", "reveal_round") is None  # nothing was deployed


@pytest.mark.slow
def test_after_cron_remove_the_reveals_are_taken_over_from_this_machine(
    cli: Any,
    fake: FakeModal,
    home: Path,
    tmp_path: Path,
    shared_devnet: Devnet,
    tiny_run: Path,
    monkeypatch: pytest.MonkeyPatch,
    remember_secret: Any,
) -> None:
    """The docs' recipe, for real: a cron round commits on the devnet (the container code against the
    fake's Volume), the epoch turns, `cron pull` brings the journal home, and `reveal` from that home
    reveals the commit."""
    import sys

    from soma_sdk import Keypair

    from soma_console.core.onchain.cron_rounds import cron_entry
    from soma_console.training.cron_lease import MemoryLeaseStore
    from soma_console.training.cron_plan import CronPlan
    from tests.lifecycle.conftest import write_chain_config
    from tests.modal.conftest import HERE

    kp = Keypair.generate()
    secret = kp.to_secret_key()
    remember_secret(secret)
    monkeypatch.setenv("SOMA_SECRET_KEY", secret)
    shared_devnet.fund(kp.address(), 20)
    vol = "soma-cli-takeover-vol"
    root = fake.create_volume(vol).root
    write_chain_config(root / "cron" / "takeover" / "home", shared_devnet)
    replay = str(tiny_run / "checkpoints" / "checkpoint-00000002.safetensors")
    plan = CronPlan(
        app_name="takeover",
        spec_json=json.dumps({"run": "loop", "replay_from": replay}),
        steps=1,
        chain="devnet",
    )
    first = cron_entry(
        plan,
        volume_root=root,
        commit=lambda: None,
        reload=lambda: None,
        lease_store=MemoryLeaseStore(),
        out=io.StringIO(),
        err=io.StringIO(),
        worker_cmd=[sys.executable, str(HERE / "replay_worker.py")],
        poll_s=0.2,
    )
    model_id = first["chain"]["committed"]["model_id"]
    shared_devnet.advance()  # the reveal window is open; the cron is gone

    dest = tmp_path / "taken-over"
    p = cli("cron", "pull", "--app", "takeover", "--volume", vol, "--to", str(dest), "--json")
    assert p.returncode == 0, p.output
    write_chain_config(dest, shared_devnet)  # `--chain` as the cron used it
    env = {"SOMA_SECRET_KEY": secret}
    r = cli("--home", str(dest), "--chain", "devnet", "reveal", "--yes", "--json", env=env)
    assert r.returncode == 0, r.output
    assert [x["model_id"] for x in json.loads(r.stdout)["revealed"]] == [model_id]
