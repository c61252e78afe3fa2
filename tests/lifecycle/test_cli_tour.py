"""The command line as the tour uses it: ``reveal --wait`` while it waits, tables at 80 columns
and through a pipe, ids that paste back."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from tests.conftest import remember_captured
from tests.devnet_fixture import Devnet, devnet  # noqa: F401 - the fixture
from tests.lifecycle.conftest import Owner, copy_run, write_chain_config

pytestmark = pytest.mark.slow


def test_reveal_wait_does_not_tell_the_user_to_wait_while_it_waits(own_chain_owner: Owner) -> None:
    owner = own_chain_owner
    committed = owner.json("commit", owner.checkpoint(2), "--yes")
    proc = subprocess.Popen(
        [sys.executable, "-m", "soma_console", "--home", str(owner.home), "reveal", "--wait", "--yes"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        time.sleep(4)  # it is waiting for the boundary now
        owner.chain.advance()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    remember_captured(out + err)
    assert proc.returncode == 0, err
    assert "Revealed" in out or "revealed" in out.lower(), out
    assert "reveal --wait" not in err, err  # it is already waiting: no advice to do so
    assert committed["model_id"]


def test_tables_are_whole_through_a_pipe_and_their_ids_paste_back(owner: Owner) -> None:
    copy_run(owner.run, owner.home / "runs" / "r1")
    committed = owner.json("commit", "r1@2", "--yes")  # a checkpoint as `checkpoints` names it
    model_id = committed["model_id"]
    owner.chain.advance()
    owner.json("reveal", "--yes")

    listing = owner.cli("checkpoints", "--run", "r1")
    assert listing.returncode == 0, listing.output
    assert "…" not in listing.stdout
    assert re.search(r"^r1@4\s+4 final\s", listing.stdout, re.M), listing.stdout  # one row, marked
    assert "r1@2" in listing.stdout and listing.stdout.count("r1@4") == 1

    table = owner.cli("models", "--mine")
    assert table.returncode == 0, table.output
    assert "…" not in table.stdout, table.stdout
    short = model_id[:14]
    row = next(line for line in table.stdout.splitlines() if short in line)
    assert model_id not in row and re.search(r"\s1\s", row), row  # short id; arch 1 filled in
    assert model_id in owner.cli("models", "--mine", "--wide").stdout
    assert owner.json("models", "--mine")["models"][0]["model_id"] == model_id  # JSON unchanged

    # The short id goes back into every command that takes a model id.
    owner.json("model", "stake", short, "1", "--yes")
    owner.json("model", "commission", short, "3%", "--yes")
    rows = {m["model_id"]: m for m in owner.json("models", "--mine")["models"]}
    assert rows[model_id]["next_commission_rate"] == 300
    r = owner.cli("model", "stake", "0x", "1", "--yes")
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_a_refused_data_path_leaves_no_run_behind(owner: Owner) -> None:
    r = owner.cli("train", "--preset", "tiny", "--steps", "2", "--data", "/nonexistent/corpus", "--run", "x")
    assert r.returncode == 2 and "does not exist" in r.stderr, r.output
    assert not (owner.home / "runs" / "x").exists()
    assert owner.json("runs") == []
    bad = owner.cli("train", "--preset", "nope", "--steps", "2")
    assert bad.returncode == 2 and "unknown preset" in bad.stderr  # same kind of mistake, same code


def test_a_new_chain_under_the_same_name_does_not_inherit_the_old_ones_commits(
    owner: Owner,
    devnet: Devnet,  # noqa: F811 - the fixture
) -> None:
    first = owner.json("commit", owner.checkpoint(2), "--yes")
    # The chain is started over (demo --fresh, a reset): same name, another genesis.
    write_chain_config(owner.home, devnet)
    devnet.fund(owner.address, 50)
    again = owner.json("commit", owner.checkpoint(2), "--yes")  # not "already committed"
    assert again["model_id"] != first["model_id"]
    current = owner.json("queue", "--all")["entries"]
    assert [e["model_id"] for e in current] == [again["model_id"]]
    earlier = owner.json("queue", "--earlier")["entries"]
    assert [e["model_id"] for e in earlier] == [first["model_id"]]  # kept for the record
    assert earlier[0]["chain"].startswith("devnet~")
    table = owner.cli("queue", "--earlier")
    assert table.returncode == 0 and first["model_id"][:14] in table.stdout, table.output
