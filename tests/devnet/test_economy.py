"""The devnet's economy through the real SDK: targets, submissions, claims and their errors.

Nothing of the project runs on the client side: the expectations are computed here from the
chain's rules (sqrt-stake weighted cosine KNN, the 49.75/49.75/0.5 split, the bond per byte).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from soma_sdk import Keypair, SomaClient

from tests.devnet.helpers import BASE_FEE, SHANNONS, failure_kind, fee, funded, make_weights
from tests.devnet_fixture import Devnet, _new_devnet

pytestmark = pytest.mark.asyncio

DIM = 64  # the tiny preset's embedding size
BOND_PER_BYTE = 65


@pytest.fixture
def tiny_devnet(tmp_path: Path) -> Iterator[Devnet]:
    yield from _new_devnet(tmp_path / "devnet", extra_args=("--model-preset", "tiny"))


def _embedding(i: int) -> list[float]:
    return [math.sin(i * 7.0 + j) for j in range(DIM)]


async def _active_models(
    devnet: Devnet, client: SomaClient, stakes: list[float]
) -> tuple[list[str], Keypair]:
    owner = await funded(devnet, soma=sum(stakes) + 20)
    ids = []
    for i, stake in enumerate(stakes):
        mid = await client.create_model(owner, stake_amount=stake, commission_rate=100)
        w = make_weights(devnet.blob_url, embedding=_embedding(i))
        await client.commit_model(owner, mid, w.url, w.encrypted, w.key, w.embedding)
        ids.append((mid, w))
    devnet.advance()
    for mid, w in ids:
        await client.reveal_model(owner, mid, w.key, w.embedding)
    return [mid for mid, _ in ids], owner


def _expected_models(target_embedding: list[float], active: list[Any]) -> list[str]:
    """Stake-weighted nearest three, computed from get_active_models independently."""
    roots = [math.sqrt(m.stake) for m in active]
    total = sum(roots)
    t_norm = math.sqrt(sum(x * x for x in target_embedding))
    scored = []
    for m, root in zip(active, roots, strict=True):
        e = list(m.embedding)
        cos = sum(a * b for a, b in zip(e, target_embedding, strict=True)) / (
            max(math.sqrt(sum(x * x for x in e)), 1e-8) * max(t_norm, 1e-8)
        )
        scored.append(((1 - cos) / (root / total + 1e-10), m.model_id))
    scored.sort()
    return [mid for _, mid in scored[:3]]


async def _open_targets(client: SomaClient) -> list[Any]:
    out: list[Any] = []
    token = None
    while True:
        page = await client.list_targets(status="open", page_token=token, limit=7)
        out.extend(page.targets)
        token = page.next_page_token
        if not token:
            return out


async def test_targets_appear_after_an_epoch_change_with_the_stake_weighted_nearest_models(tiny_devnet):
    client = await tiny_devnet.client()
    assert (await client.list_targets(status="open")).targets == []
    ids, _ = await _active_models(tiny_devnet, client, [1.0, 4.0, 9.0, 2.0, 1.0])
    assert (await client.list_targets(status="open")).targets == []  # none until the boundary
    epoch = tiny_devnet.advance()
    targets = await _open_targets(client)  # paged 7 at a time
    state = await client.get_latest_system_state()
    assert len(targets) == 20 == len({t.id for t in targets})
    assert state.target_state.targets_generated_this_epoch == 20
    reward = 1_370 * SHANNONS * 8000 // 10_000 // 86_400
    assert reward == 12_685_185
    assert state.target_state.reward_per_target == reward
    active = await client.get_active_models()
    assert sorted(m.model_id for m in active) == sorted(ids)
    for t in targets:
        assert t.generation_epoch == epoch and t.status == "open"
        assert len(t.embedding) == DIM and t.reward_pool == reward
        assert t.distance_threshold == pytest.approx(0.978)
        assert list(t.model_ids) == _expected_models(list(t.embedding), active)
    # the chain's targets differ from each other (seeded per creation number)
    assert len({tuple(t.embedding) for t in targets}) == 20
    assert f"epoch {epoch}: 20 targets drawn (reward 12,685,185 shannons each" in tiny_devnet.log_text


async def test_models_of_another_size_than_the_chains_get_no_targets_and_the_log_says_why(devnet):
    client = await devnet.client()  # the v1 preset: 2048-value targets
    await _active_models(devnet, client, [1.0])  # 64-value embeddings
    epoch = devnet.advance()
    assert (await client.list_targets(status="open")).targets == []
    assert f"epoch {epoch}: no targets drawn: the active models' embeddings have 64 values" in devnet.log_text


async def _setup_filled(devnet: Devnet) -> dict[str, Any]:
    client = await devnet.client()
    ids, owner = await _active_models(devnet, client, [1.0, 2.0, 3.0])
    epoch = devnet.advance()
    submitter = await funded(devnet, soma=5)
    target = (await client.list_targets(status="open")).targets[0]
    data = os.urandom(1024)
    model_id = target.model_ids[0]
    await client.submit_data(
        submitter,
        target.id,
        data,
        f"{devnet.blob_url}/blobs/data-{os.urandom(4).hex()}",
        model_id,
        [0.1] * DIM,
        0.5,
        [3.25],
    )
    return {
        "client": client,
        "owner": owner,
        "submitter": submitter,
        "target": target,
        "epoch": epoch,
        "model_id": model_id,
        "ids": ids,
    }


async def test_a_submit_fills_a_target_and_a_claim_at_generation_epoch_plus_two_pays_each_share(tiny_devnet):
    s = await _setup_filled(tiny_devnet)
    client, target = s["client"], s["target"]
    filled = (await client.list_targets(status="filled")).targets
    assert [t.id for t in filled] == [target.id]
    f = filled[0]
    assert f.status == "filled" and f.submitter == "0x" + s["submitter"].address().removeprefix("0x")
    assert f.winning_model_id == s["model_id"] and f.bond_amount == 1024 * BOND_PER_BYTE
    # filters: submitter (0x optional), generation epoch, an unknown status
    mine = await client.list_targets(status="filled", submitter=s["submitter"].address())
    assert [t.id for t in mine.targets] == [target.id]
    assert (await client.list_targets(status="filled", submitter="0x" + "cd" * 32)).targets == []
    assert len((await client.list_targets(status="open", epoch=s["epoch"])).targets) == 20
    assert (await client.list_targets(status="open", epoch=s["epoch"] + 1)).targets == []
    with pytest.raises(RuntimeError, match="status_filter"):
        await client.list_targets(status="bogus")
    # spawn-on-fill keeps 20 open targets
    assert len(await _open_targets(client)) == 20
    state = await client.get_latest_system_state()
    assert state.target_state.hits_this_epoch == 1
    assert state.target_state.targets_generated_this_epoch == 21

    claimer = await funded(tiny_devnet, soma=2)
    tiny_devnet.advance()
    with pytest.raises(RuntimeError) as err:
        await client.claim_rewards(claimer, target.id)  # generation epoch + 1: still open for reports
    assert failure_kind(err.value) == "AuditWindowOpen"
    tiny_devnet.advance()
    assert target.id in {t.id for t in (await client.list_targets(claimable=True)).targets}

    addr = {k: s[k].address() for k in ("owner", "submitter")}
    before = {k: round(await client.get_balance(a) * SHANNONS) for k, a in addr.items()}
    claimer_before = round(await client.get_balance(claimer.address()) * SHANNONS)
    effects = await client.claim_rewards(claimer, target.id)
    r = target.reward_pool
    submitter_share = r * 4975 // 10_000
    model_share = r * 4975 // 10_000
    claimer_share = r * 50 // 10_000
    dust = r - submitter_share - model_share - claimer_share
    assert fee(effects) > BASE_FEE
    assert int(effects.V1.transaction_fee.value_fee) == r * 5 // 10_000
    ops = {oid: change["id_operation"] for oid, change in effects.V1.changed_objects}
    assert ops[target.id] == "Deleted"
    assert list(ops.values()).count("Created") == 4  # submitter, owner, claimer, bond: new coins
    after = {k: round(await client.get_balance(a) * SHANNONS) for k, a in addr.items()}
    assert after["submitter"] - before["submitter"] == submitter_share + dust + 1024 * BOND_PER_BYTE
    assert after["owner"] - before["owner"] == model_share
    claimer_after = round(await client.get_balance(claimer.address()) * SHANNONS)
    assert claimer_after - claimer_before == claimer_share - fee(effects)
    # the claimed target is gone
    with pytest.raises(RuntimeError):
        await client.get_object(target.id)
    for status in ("open", "filled"):
        assert target.id not in {t.id for t in (await client.list_targets(status=status)).targets}
    with pytest.raises(RuntimeError) as err:
        await client.claim_rewards(claimer, target.id)
    assert failure_kind(err.value) == "TargetNotFound"
    supply = tiny_devnet.registry()["supply"]
    assert supply["consistent"], supply
    # targets, the pool and the controller survive a restart
    open_before = sorted(t.id for t in await _open_targets(client))
    pool_before = (await client.get_latest_system_state()).emission_pool.balance
    tiny_devnet.restart()
    client = await tiny_devnet.client()
    assert sorted(t.id for t in await _open_targets(client)) == open_before
    state = await client.get_latest_system_state()
    assert state.emission_pool.balance == pool_before
    # one hit in epoch 2: EMA 1 at the boundary into 3 (threshold eased), floor(0.9 * 1) = 0 into 4
    assert state.target_state.hits_ema == 0
    threshold = struct.unpack("<f", bytes(state.target_state.distance_threshold.bytes))[0]
    assert 0.980 < threshold < 0.981


async def test_submit_data_errors_in_the_chains_order(tiny_devnet):
    s = await _setup_filled(tiny_devnet)
    client, target = s["client"], s["target"]
    sub = await funded(tiny_devnet, soma=5)
    url = f"{tiny_devnet.blob_url}/blobs/d"
    open_t = (await client.list_targets(status="open")).targets[0]
    other = next(m for m in s["ids"] if m not in open_t.model_ids) if len(s["ids"]) > 3 else None

    async def kind(**kw: Any) -> str:
        args = {
            "target_id": open_t.id,
            "data": b"x" * 100,
            "data_url": url,
            "model_id": open_t.model_ids[0],
            "embedding": [0.0] * DIM,
            "distance_score": 0.1,
            "loss_score": [1.0],
        }
        args.update(kw)
        balance = round(await client.get_balance(sub.address()) * SHANNONS)
        with pytest.raises(RuntimeError) as err:
            await client.submit_data(sub, **args)
        charged = balance - round(await client.get_balance(sub.address()) * SHANNONS)
        assert charged == BASE_FEE, charged  # failed, executed, base fee kept
        return failure_kind(err.value)

    assert await kind(target_id=target.id) == "TargetNotOpen"
    assert await kind(model_id="0x" + "ab" * 32) == "ModelNotInTarget"
    assert await kind(embedding=[0.0] * (DIM + 1)) == "EmbeddingDimensionMismatch"
    assert await kind(distance_score=0.99) == "DistanceExceedsThreshold"
    assert await kind(data=b"x" * (1_048_576 + 1)) == "DataExceedsMaxSize"
    assert other is None  # three models: every one is in every target
    poor = await funded(tiny_devnet, soma=0.00005)
    with pytest.raises(RuntimeError) as err:
        await client.submit_data(poor, open_t.id, b"x" * 1000, url, open_t.model_ids[0], [0.0] * DIM, 0.1, [])
    assert failure_kind(err.value) == "InsufficientBond"
    await client.deactivate_model(s["owner"], open_t.model_ids[0])
    assert await kind() == "ModelNotActive"
    tiny_devnet.advance()
    assert await kind(model_id=open_t.model_ids[1]) == "TargetExpired"


async def test_claim_errors_and_expired_targets(tiny_devnet):
    client = await tiny_devnet.client()
    await _active_models(tiny_devnet, client, [1.0])
    tiny_devnet.advance()
    claimer = await funded(tiny_devnet, soma=2)
    target = (await client.list_targets(status="open")).targets[0]
    assert len(target.model_ids) == 1  # k = min(3, active)
    with pytest.raises(RuntimeError) as err:
        await client.claim_rewards(claimer, target.id)
    assert failure_kind(err.value) == "TargetNotFilled"
    tiny_devnet.advance()
    claimable = (await client.list_targets(claimable=True)).targets
    assert target.id in {t.id for t in claimable} and all(t.status == "claimable" for t in claimable)
    before = round(await client.get_balance(claimer.address()) * SHANNONS)
    pool_before = (await client.get_latest_system_state()).emission_pool.balance
    effects = await client.claim_rewards(claimer, target.id)
    r = target.reward_pool
    after = round(await client.get_balance(claimer.address()) * SHANNONS)
    assert after - before == r * 50 // 10_000 - fee(effects)
    pool_after = (await client.get_latest_system_state()).emission_pool.balance
    assert pool_after - pool_before == r - r * 50 // 10_000


async def test_validator_only_kinds_run_and_fail_with_not_a_validator(tiny_devnet):
    client = await tiny_devnet.client()
    kp = await funded(tiny_devnet, soma=1)
    for call in (
        lambda: client.report_submission(kp, "0x" + "11" * 32),
        lambda: client.undo_report_submission(kp, "0x" + "11" * 32),
        lambda: client.report_validator(kp, "0x" + "22" * 32),
        lambda: client.undo_report_validator(kp, "0x" + "22" * 32),
        lambda: client.set_validator_commission_rate(kp, 100),
    ):
        balance = round(await client.get_balance(kp.address()) * SHANNONS)
        with pytest.raises(RuntimeError) as err:
            await call()
        assert failure_kind(err.value) == "NotAValidator"
        assert balance - round(await client.get_balance(kp.address()) * SHANNONS) == BASE_FEE


async def test_manual_epochs_report_a_one_day_duration(devnet):
    client = await devnet.client()
    state = await client.get_latest_system_state()
    assert state.parameters.epoch_duration_ms == 86_400_000
    nxt = await client.get_next_epoch_timestamp()
    following = await client.get_following_epoch_timestamp()
    assert following - nxt == 86_400_000


async def test_withdrawing_a_slashed_models_stake_pays_what_the_pool_holds(devnet):
    client = await devnet.client()
    owner = await funded(devnet, soma=5)
    mid = await client.create_model(owner, stake_amount=1.0, commission_rate=0)
    devnet.advance()
    devnet.advance()  # never committed: slashed 50 %
    receipts = await client.list_owned_objects(owner.address(), object_type="StakedSoma")
    before = round(await client.get_balance(owner.address()) * SHANNONS)
    effects = await client.withdraw_stake(owner, receipts[0].id)
    after = round(await client.get_balance(owner.address()) * SHANNONS)
    assert after - before == SHANNONS // 2 - fee(effects)
    state = await client.get_latest_system_state()  # still serving
    assert state.epoch == 2
    devnet.restart()
    client = await devnet.client()
    assert (await client.get_latest_system_state()).epoch == 2
    assert devnet.registry()["supply"]["consistent"]
    assert mid


async def test_fetch_submission_data_reads_the_target_object_the_sdk_decodes(tiny_devnet):
    import httpx

    client = await tiny_devnet.client()
    await _active_models(tiny_devnet, client, [1.0])
    tiny_devnet.advance()
    sub = await funded(tiny_devnet, soma=2)
    target = (await client.list_targets(status="open")).targets[0]
    data = os.urandom(2000)
    async with httpx.AsyncClient() as http:
        put = await http.put(f"{tiny_devnet.blob_url}/blobs/sub-{os.urandom(4).hex()}", content=data)
    url = put.json()["url"]
    await client.submit_data(sub, target.id, data, url, target.model_ids[0], [0.0] * DIM, 0.2, [1.5])
    # the SDK decodes the target's TargetV1 BCS from GetObject to find the data's URL
    assert await client.fetch_submission_data(target.id) == data


async def test_full_node_proxy_routes_share_the_rpc_port(tiny_devnet):
    import httpx

    client = await tiny_devnet.client()
    owner = await funded(tiny_devnet, soma=5)
    mid = await client.create_model(owner, stake_amount=1.0, commission_rate=0)
    w = make_weights(tiny_devnet.blob_url, embedding=_embedding(3))
    async with httpx.AsyncClient() as http:
        up = await http.put(w.url, content=w.encrypted)
        assert up.status_code == 201
        await client.commit_model(owner, mid, w.url, w.encrypted, w.key, w.embedding)
        tiny_devnet.advance()
        await client.reveal_model(owner, mid, w.key, w.embedding)
        tiny_devnet.advance()
        rpc = tiny_devnet.rpc_url
        got = await http.get(f"{rpc}/model/{mid}")
        assert got.status_code == 200 and got.content == w.encrypted
        assert (await http.get(f"{rpc}/model/{mid.removeprefix('0x')}")).content == w.encrypted
        assert (await http.get(f"{rpc}/model/0x1234")).status_code == 400
        assert (await http.get(f"{rpc}/model/0x{'ab' * 32}")).status_code == 404
        assert await client.fetch_model(mid) == w.encrypted

        target = (await client.list_targets(status="open")).targets[0]
        assert (await http.get(f"{rpc}/data/{target.id}")).status_code == 404  # not filled
        data = os.urandom(3000)
        put = await http.put(f"{tiny_devnet.blob_url}/blobs/d-{os.urandom(4).hex()}", content=data)
        sub = await funded(tiny_devnet, soma=2)
        await client.submit_data(sub, target.id, data, put.json()["url"], mid, [0.0] * DIM, 0.2, [1.0])
        served = await http.get(f"{rpc}/data/{target.id}")
        assert served.status_code == 200 and served.content == data
        # a submission whose bytes do not match its manifest is a bad gateway, not the bytes
        other = (await client.list_targets(status="open")).targets[0]
        bad_url = f"{tiny_devnet.blob_url}/blobs/d-{os.urandom(4).hex()}"
        await http.put(bad_url, content=b"y" * 100)
        await client.submit_data(sub, other.id, b"z" * 100, bad_url, mid, [0.0] * DIM, 0.2, [1.0])
        assert (await http.get(f"{rpc}/data/{other.id}")).status_code == 502
    # gRPC on the same port still works after plain HTTP connections
    assert (await client.get_latest_system_state()).epoch == 2


async def test_value_fee_is_computed_before_the_base_fee_leaves_the_gas_coin(devnet):
    client = await devnet.client()
    owner = await funded(devnet, soma=5)
    mid = await client.create_model(owner, stake_amount=1.0, commission_rate=0)
    staker = Keypair.generate()
    devnet.fund(staker.address(), soma=2)  # one coin of exactly 2 SOMA: gas and stake at once
    effects = await client.add_stake_to_model(staker, mid)
    # 5 bps of the whole coin; taken after the base fee it would be 999,999
    assert int(effects.V1.transaction_fee.value_fee) == 2 * SHANNONS * 5 // 10_000 == 1_000_000


async def test_a_store_left_with_a_negative_pool_is_repaired_when_opened(devnet):
    import sqlite3

    client = await devnet.client()
    owner = await funded(devnet, soma=5)
    mid = await client.create_model(owner, stake_amount=1.0, commission_rate=0)
    devnet.advance()
    devnet.advance()  # slashed: the pool holds 0.5 SOMA
    receipt = (await client.list_owned_objects(owner.address(), object_type="StakedSoma"))[0]
    effects = await client.withdraw_stake(owner, receipt.id)
    paid = next(oid for oid, change in effects.V1.changed_objects if change["id_operation"] == "Created")
    devnet.stop()
    # What an older devnet wrote: the whole principal paid out, the pool at -0.5 SOMA.
    db = sqlite3.connect(devnet.state_dir / "devnet.sqlite")
    with db:
        row = db.execute("SELECT id, data FROM models").fetchone()
        assert '"soma":0,' in row[1]  # the pool after a correct withdrawal
        db.execute(
            "UPDATE models SET data = ? WHERE id = ?",
            (row[1].replace('"soma":0,', '"soma":-500000000,'), row[0]),
        )
        db.execute(
            "UPDATE objects SET contents = ? WHERE id = ?",
            (struct.pack("<Q", SHANNONS), bytes.fromhex(paid.removeprefix("0x"))),
        )
    db.close()
    devnet.start()
    client = await devnet.client()
    state = await client.get_latest_system_state()  # readable again
    assert state.epoch == 2 and mid in vars(state.model_registry.models)
    supply = devnet.registry()["supply"]
    assert supply["consistent"], supply


async def test_chain_identity_is_what_upstream_calls_a_localnet(devnet):
    client = await devnet.client()
    # upstream's Chain::as_str for any chain whose genesis digest is not testnet's
    assert await client.get_chain_identifier() == "localnet"


async def test_a_reveal_that_would_mix_embedding_sizes_is_refused(tiny_devnet):
    client = await tiny_devnet.client()
    await _active_models(tiny_devnet, client, [1.0])
    owner = await funded(tiny_devnet, soma=3)
    mid = await client.create_model(owner, stake_amount=1.0, commission_rate=0)
    w = make_weights(tiny_devnet.blob_url, embedding=[0.5] * (DIM * 2))
    await client.commit_model(owner, mid, w.url, w.encrypted, w.key, w.embedding)
    tiny_devnet.advance()
    balance = await client.get_balance(owner.address())
    with pytest.raises(RuntimeError) as err:
        await client.reveal_model(owner, mid, w.key, w.embedding)
    assert "128 values but the active models' have 64" in str(err.value)
    assert await client.get_balance(owner.address()) == balance  # refused, nothing charged
