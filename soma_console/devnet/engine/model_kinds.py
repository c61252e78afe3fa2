"""The model-lifecycle transaction kinds: create, commit, reveal, commission and deactivate.

The registry rules themselves are in :mod:`~soma_console.devnet.engine.models`; this module feeds
them a transaction's arguments and the working set, and pays for what creating a model writes.
"""

from __future__ import annotations

from soma_console.core.txkinds import (
    CommitModel,
    CreateModel,
    DeactivateModel,
    RevealModel,
    SetModelCommissionRate,
)
from soma_console.devnet.engine import models as rules
from soma_console.devnet.engine.errors import ExecutionFailure, TxRejected
from soma_console.devnet.engine.objects import StakedSoma
from soma_console.devnet.engine.params import ChainParams
from soma_console.devnet.engine.working_set import WorkingSet


def create_model(
    ws: WorkingSet,
    params: ChainParams,
    kind: CreateModel,
    *,
    sender: bytes,
    epoch: int,
    gas_id: bytes,
    value_fee: int,
) -> None:
    rules.check_create(
        params,
        architecture_version=kind.architecture_version,
        stake=kind.stake_amount,
        commission_rate=kind.commission_rate,
    )
    ws.touched_system_state = True
    if ws.balance(gas_id) < kind.stake_amount + value_fee + 3 * params.write_object_fee:
        raise ExecutionFailure("InsufficientCoinBalance")
    model_id, pool_id = ws.new_id(), ws.new_id()
    rules.create_model(
        ws.registry(),
        owner=sender,
        model_id=model_id,
        pool_id=pool_id,
        architecture_version=kind.architecture_version,
        stake=kind.stake_amount,
        commission_rate=kind.commission_rate,
        epoch=epoch,
    )
    ws.new_receipt(sender, StakedSoma(pool_id, epoch + 1, kind.stake_amount))
    ws.set_balance(gas_id, ws.balance(gas_id) - kind.stake_amount)


def commit_model(ws: WorkingSet, kind: CommitModel, *, sender: bytes, epoch: int) -> None:
    rules.commit_model(
        ws.registry(),
        signer=sender,
        model_id=kind.model_id,
        manifest=kind.manifest,
        weights_commitment=kind.weights_commitment,
        embedding_commitment=kind.embedding_commitment,
        decryption_key_commitment=kind.decryption_key_commitment,
        epoch=epoch,
    )


def reveal_model(ws: WorkingSet, kind: RevealModel, *, sender: bytes, epoch: int) -> None:
    _check_embedding_dim(kind.model_id, kind.embedding, ws)
    rules.reveal_model(
        ws.registry(),
        signer=sender,
        model_id=kind.model_id,
        decryption_key=kind.decryption_key,
        embedding=kind.embedding,
        epoch=epoch,
    )


def set_commission_rate(ws: WorkingSet, kind: SetModelCommissionRate, *, sender: bytes) -> None:
    rules.set_commission_rate(ws.registry(), signer=sender, model_id=kind.model_id, new_rate=kind.new_rate)


def deactivate_model(ws: WorkingSet, kind: DeactivateModel, *, sender: bytes, epoch: int) -> None:
    rules.deactivate_model(ws.registry(), signer=sender, model_id=kind.model_id, epoch=epoch)


def _check_embedding_dim(model_id: bytes, embedding: tuple[float, ...], ws: WorkingSet) -> None:
    """Refuse a reveal that would mix embedding sizes in the registry.

    The chain accepts it, and then its target generation fails for good on the mixed registry;
    the devnet refuses the reveal instead (nothing is charged) and says why.
    """
    for mid, model in ws.committed_models.items():
        if mid == model_id or model.state != rules.ACTIVE or not model.embedding:
            continue
        if len(model.embedding) != len(embedding):
            raise TxRejected(
                f"the embedding has {len(embedding)} values but the active models' have "
                f"{len(model.embedding)}; a registry of mixed sizes breaks target generation, "
                "so the devnet refuses it. Reveal an embedding of the chain's size."
            )
