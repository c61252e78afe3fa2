"""Model rows read again: unchanged models keep their identity, so views can skip them cheaply."""

from __future__ import annotations

from dataclasses import replace

from soma_console.core.chainstate import ModelRow, reuse_unchanged


def _row(n: int, stake: int = 10**9) -> ModelRow:
    return ModelRow(
        model_id=f"0x{n:064x}",
        owner="ab" * 32,
        status="active",
        architecture_version=1,
        stake=stake,
        commission_rate=1000,
        next_commission_rate=1000,
    )


def test_an_unchanged_list_is_the_previous_tuple() -> None:
    before = tuple(_row(n) for n in range(5))
    again = tuple(_row(n) for n in range(5))  # equal, but new objects (a new read)
    assert reuse_unchanged(again, before) is before


def test_changed_and_new_models_are_the_new_rows_and_the_rest_the_old_objects() -> None:
    before = tuple(_row(n) for n in range(4))
    fresh = (_row(0), _row(1, stake=2 * 10**9), _row(2), _row(3), _row(4))
    out = reuse_unchanged(fresh, before)
    assert out == fresh
    assert out[0] is before[0] and out[2] is before[2] and out[3] is before[3]
    assert out[1] is fresh[1] and out[1].stake == 2 * 10**9
    assert out[4] is fresh[4]


def test_a_removed_model_or_a_first_read_gives_the_new_rows() -> None:
    before = tuple(_row(n) for n in range(3))
    fewer = (_row(0), _row(1))
    out = reuse_unchanged(fewer, before)
    assert out == fewer and out is not before and out[0] is before[0]
    first = (_row(0),)
    assert reuse_unchanged(first, ()) is first
    assert reuse_unchanged((replace(before[0], status="inactive"),), before)[0].status == "inactive"
