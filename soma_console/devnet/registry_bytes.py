"""GetEpoch's system state, encoded straight to protobuf bytes with a per-model cache.

Building ten thousand ``Model`` messages in Python for every GetEpoch would take a large part
of a second. Models are replaced, never mutated, when a transaction changes them, so the
encoded registry entry of each model is cached against the model object itself and the
registry is assembled by concatenation (protobuf map fields are just repeated entries, and a
message field may be appended to an already serialized message).
"""

from __future__ import annotations

import threading

from soma_console.devnet.convert import outgoing
from soma_console.devnet.engine.models import Model
from soma_console.devnet.engine.objects import hex_id
from soma_console.devnet.engine.values import Snapshot
from soma_console.devnet.proto import state_pb2
from soma_console.encoding import uleb128

# A protobuf varint is ULEB128.
varint = uleb128


def length_delimited(field_number: int, payload: bytes) -> bytes:
    return varint((field_number << 3) | 2) + varint(len(payload)) + payload


def _map_entry(field_number: int, key: str, value: bytes) -> bytes:
    return length_delimited(field_number, length_delimited(1, key.encode()) + length_delimited(2, value))


# Field numbers in state.proto.
_SYSTEM_STATE_IN_EPOCH = 3
_REGISTRY_IN_SYSTEM_STATE = 11
_POOL_MAPPINGS = 3
_MODELS = 7


class RegistryEncoder:
    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[Model, bytes]] = {}
        self._last: tuple[int, bytes] | None = None
        self._lock = threading.Lock()

    def _entry(self, model_id: bytes, model: Model) -> bytes:
        cached = self._entries.get(model_id)
        if cached is not None and cached[0] is model:
            return cached[1]
        key = hex_id(model_id)
        encoded = _map_entry(_POOL_MAPPINGS, hex_id(model.staking_pool.pool_id), key.encode()) + _map_entry(
            _MODELS, key, outgoing.model_msg(model).SerializeToString()
        )
        self._entries[model_id] = (model, encoded)
        return encoded

    def system_state_field(self, snap: Snapshot) -> bytes:
        """``Epoch.system_state`` (field 3), ready to append to a serialized Epoch."""
        with self._lock:
            if self._last is not None and self._last[0] == snap.version:
                return self._last[1]
        meta = snap.meta
        economy = meta.economy
        assert economy is not None
        state = state_pb2.SystemState(
            epoch=meta.epoch,
            epoch_start_timestamp_ms=meta.epoch_start_ms,
            protocol_version=snap.params.protocol_version,
            parameters=outgoing.parameters_msg(snap.params, meta.epoch_duration_ms),
            validators=state_pb2.ValidatorSet(total_stake=0),
            emission_pool=state_pb2.EmissionPool(
                balance=economy.emission_balance, emission_per_epoch=economy.emission_per_epoch
            ),
            target_state=state_pb2.TargetState(
                distance_threshold=economy.distance_threshold,
                targets_generated_this_epoch=economy.targets_generated_this_epoch,
                hits_this_epoch=economy.hits_this_epoch,
                hits_ema=economy.hits_ema,
                reward_per_target=economy.reward_per_target,
            ),
            safe_mode=False,
            safe_mode_accumulated_fees=0,
            safe_mode_accumulated_emissions=0,
        )
        registry = state_pb2.ModelRegistry(
            total_model_stake=snap.totals.total_model_stake
        ).SerializeToString()
        registry += b"".join(self._entry(mid, m) for mid, m in snap.models.items())
        body = state.SerializeToString() + length_delimited(_REGISTRY_IN_SYSTEM_STATE, registry)
        out = length_delimited(_SYSTEM_STATE_IN_EPOCH, body)
        with self._lock:
            self._last = (snap.version, out)
        return out
