"""Numbers a person types: amounts of SOMA and commission rates, on the command line and in the
console alike, checked the same way. Every refusal is one sentence that says what to type.

``nan``, ``inf``, ``1e400``, negative and too-small values are refused here, before anything is
planned: an amount becomes whole shannons (1 SOMA = 10^9 shannons) and a rate whole basis points
(100 bps = 1%), and both must fit what the chain takes.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from soma_console.errors import UsageError

SHANNONS_PER_SOMA = 10**9
MAX_SHANNONS = 2**64 - 1  # amounts are u64 on chain
MAX_BPS = 10_000


def _number(text: str) -> Decimal | None:
    cleaned = text.strip().replace(",", "").replace("_", "")
    try:
        value = Decimal(cleaned)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def parse_soma(text: str) -> float:
    """An amount of SOMA (``2.5``, ``1,000``): more than 0, at least one shannon, at most u64."""
    value = _number(text)
    if value is None:
        raise UsageError(f"{text.strip()!r} is not an amount; type a number of SOMA such as 2.5.")
    if value <= 0:
        raise UsageError(f"an amount of {text.strip()} SOMA is not positive; type more than 0.")
    shannons = int((value * SHANNONS_PER_SOMA).to_integral_value(rounding=ROUND_HALF_EVEN))
    if shannons < 1:
        raise UsageError(
            f"{text.strip()} SOMA is less than the smallest amount, 0.000000001 SOMA (1 shannon)."
        )
    if shannons > MAX_SHANNONS:
        raise UsageError(f"{text.strip()} SOMA is more than the chain can hold in one amount.")
    return shannons / SHANNONS_PER_SOMA


def parse_bps(text: str) -> int:
    """A commission rate: basis points (``250``) or a percentage (``2.5%``), 0..10000 bps."""
    raw = text.strip()
    percent = raw.endswith("%")
    value = _number(raw[:-1] if percent else raw.removesuffix("bps"))
    if value is None:
        raise UsageError(f"{raw!r} is not a rate; type basis points (250) or a percentage (2.5%).")
    bps = value * 100 if percent else value
    if bps != bps.to_integral_value():
        raise UsageError(f"{raw} is not a whole number of basis points (100 bps = 1%, so 2.55% is 255).")
    if not 0 <= bps <= MAX_BPS:
        raise UsageError(f"a commission of {raw} is outside 0..10000 bps (0%..100%).")
    return int(bps)
