"""Owned objects (coins and stake receipts) and their content digests.

An object's digest is what the chain computes: Blake2b-256 of ``b"Object::"`` followed by
the BCS of ``ObjectInner { data: ObjectData { type, version, id ‖ contents }, owner,
previous_transaction }``. The SDK recomputes it from what ListOwnedObjects returns and sends it
back in gas payments, so the devnet can insist on an exact match.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from soma_console.core.bcs import BcsError, Reader, Writer
from soma_console.core.txdata import blake2b256

COIN = "Coin"
STAKED_SOMA = "StakedSoma"
SYSTEM_STATE = "SystemState"
OBJECT_TYPE_TAGS = {SYSTEM_STATE: 0, COIN: 1, STAKED_SOMA: 2, "Target": 3}

SYSTEM_STATE_ID = bytes(31) + b"\x05"
_OBJECT_SALT = b"Object::"  # ObjectInner is renamed "Object" for serde


def hex_id(raw: bytes) -> str:
    return "0x" + raw.hex()


def parse_hex32(text: str, what: str = "id") -> bytes:
    """32 bytes from hex with or without 0x. Short forms (0x5) are left-padded, as the chain does."""
    raw = text.strip().lower()
    raw = raw.removeprefix("0x")
    if not raw or len(raw) > 64 or any(c not in "0123456789abcdef" for c in raw):
        raise ValueError(f"{what} {text!r} is not 32-byte hex")
    return bytes.fromhex(raw.rjust(64, "0"))


@dataclass(frozen=True)
class StakedSoma:
    pool_id: bytes
    stake_activation_epoch: int
    principal: int

    def to_bcs(self) -> bytes:
        return Writer().raw(self.pool_id).u64(self.stake_activation_epoch).u64(self.principal).to_bytes()

    @classmethod
    def from_bcs(cls, data: bytes) -> StakedSoma:
        r = Reader(data)
        out = cls(r.raw(32), r.u64(), r.u64())
        r.finish()
        return out


@dataclass(frozen=True)
class ObjectRecord:
    """One version of an address-owned object."""

    object_id: bytes
    object_type: str
    owner: bytes
    version: int
    contents: bytes  # BCS of the value, without the id
    previous_transaction: bytes

    def digest(self) -> bytes:
        w = Writer().raw(_OBJECT_SALT)
        w.uleb(OBJECT_TYPE_TAGS[self.object_type]).u64(self.version)
        w.var_bytes(self.object_id + self.contents)
        w.uleb(0).raw(self.owner)  # Owner::AddressOwner
        w.var_bytes(self.previous_transaction)
        return blake2b256(w.to_bytes())

    @property
    def balance(self) -> int:
        if self.object_type != COIN:
            raise BcsError("not a coin")
        r = Reader(self.contents)
        value = r.u64()
        r.finish()
        return value

    def staked(self) -> StakedSoma:
        if self.object_type != STAKED_SOMA:
            raise BcsError("not a StakedSoma object")
        return StakedSoma.from_bcs(self.contents)

    def replace(self, **changes: object) -> ObjectRecord:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def coin_contents(balance: int) -> bytes:
    return Writer().u64(balance).to_bytes()
