"""``stake list`` and ``stake withdraw`` on the real devnet: receipts per model, a plain warning, the
principal back in the wallet and the model's stake lowered."""

from __future__ import annotations

from pathlib import Path

from tests.devnet_fixture import Devnet
from tests.lifecycle.conftest import make_owner


def test_stake_list_and_withdraw(tmp_path: Path, shared_devnet: Devnet, tiny_run: Path) -> None:
    owner = make_owner(tmp_path, shared_devnet, tiny_run)
    model_id = owner.json("commit", owner.checkpoint(2), "--yes")["model_id"].lower()
    [first] = owner.json("stake", "list")
    assert first["model_id"] == model_id and first["principal_shannons"] > 0
    owner.json("model", "stake", model_id, "2.5", "--yes")
    positions = owner.json("stake", "list")
    assert sorted(p["principal_shannons"] for p in positions) == sorted(
        [first["principal_shannons"], 2_500_000_000]
    )
    extra = next(p for p in positions if p["principal_shannons"] == 2_500_000_000)

    no = owner.cli("stake", "withdraw", extra["receipt_id"])  # no terminal, no --yes: nothing sent
    assert no.returncode != 0 and "--yes" in no.stderr
    bad = owner.cli("stake", "withdraw", "0x" + "ab" * 32, "--yes")
    assert bad.returncode != 0 and "no stake receipt" in bad.stderr and "Traceback" not in bad.stderr

    before = int(owner.json("wallet", "show")["balance"])
    r = owner.cli("stake", "withdraw", extra["receipt_id"], "--yes")
    assert r.returncode == 0, r.output
    said = " ".join(r.stdout.split())
    assert "fewer targets" in said and "Withdrew 2.5 SOMA" in said
    after = int(owner.json("wallet", "show")["balance"])
    assert 0 < after - before <= 2_500_000_000  # the principal, less the fee
    assert [p["receipt_id"] for p in owner.json("stake", "list")] == [first["receipt_id"]]
