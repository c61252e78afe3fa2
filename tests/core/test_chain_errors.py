"""The chain's failures, as the SDK really raises them, become sentences a person can act on."""

from __future__ import annotations

from soma_console.core.chain_errors import (
    InsufficientFunds,
    NodeUnreachable,
    RevealTooEarly,
    TransactionFailed,
    translate,
)

URL = "http://127.0.0.1:9000"


def test_reveal_epoch_mismatch_names_both_epochs() -> None:
    err = translate(
        RuntimeError("Execution failed: Failure { error: ModelRevealEpochMismatch }"),
        url=URL,
        commit_epoch=4,
        epoch=4,
    )
    assert isinstance(err, RevealTooEarly)
    assert "accepted only in epoch 5" in str(err) and "this is epoch 4" in str(err)


def test_invalid_state_in_prose_form_is_recognised() -> None:
    raw = 'SomaError(GenericAuthorityError { error: "Model in invalid state for this operation" })'
    err = translate(RuntimeError(raw), url=URL, model_id="0x" + "ab" * 32)
    assert isinstance(err, TransactionFailed) and err.kind == "ModelInvalidState"
    assert "not in a state that allows this action" in str(err)


def test_limits_and_money() -> None:
    too_high = translate(
        RuntimeError("Failure { error: ModelCommissionRateTooHigh }"), url=URL, commission=12000
    )
    assert "12000 bps is above the maximum of 10000" in str(too_high)
    low = translate(
        RuntimeError("Failure { error: ModelMinStakeNotMet }"), url=URL, stake=10**8, min_stake=10**9
    )
    assert "0.1 SOMA is below the chain's minimum of 1 SOMA" in str(low)
    assert isinstance(
        translate(RuntimeError("Failure { error: InsufficientGas }"), url=URL), InsufficientFunds
    )


def test_unreachable_node_suggests_the_devnet_locally() -> None:
    err = translate(RuntimeError('status: Unavailable, message: "tcp connect error"'), url=URL)
    assert isinstance(err, NodeUnreachable)
    assert "soma-console devnet" in (err.hint or "")


# Raw tonic status text, as the SDK raises it for a failed gRPC call (the NotFound one recorded
# from the SDK against the devnet; the others as the SDK formats every status).
_TONIC = (
    'status: {code}, message: "{message}", details: [], '
    'metadata: MetadataMap {{ headers: {{"content-type": "application/grpc"}} }}'
)


def test_raw_grpc_status_text_becomes_one_sentence() -> None:
    cases = {
        ("NotFound", "object 0xabab not found"): "does not know what was asked for (object 0xabab not found)",
        (
            "Internal",
            'devnet internal error: KeyError: \\"x\\"',
        ): 'failed while handling the request (devnet internal error: KeyError: "x")',
        ("InvalidArgument", "owner is missing"): "rejected the request (owner is missing)",
        ("Unimplemented", ""): "does not support this request",
    }
    for (code, message), expected in cases.items():
        err = translate(RuntimeError(_TONIC.format(code=code, message=message)), url=URL)
        text = str(err)
        assert expected in text, text
        assert URL in text and "MetadataMap" not in text and "status:" not in text
        assert "\n" not in text and err.kind == code


def test_a_response_over_the_sdk_limit_says_how_big() -> None:
    raw = _TONIC.format(
        code="OutOfRange",
        message="Error, decoded message length too large: found 8814064 bytes, the limit is: 4194304 bytes",
    )
    text = str(translate(RuntimeError(raw), url=URL))
    assert "8.4 MiB, more than the 4 MiB the SOMA SDK accepts" in text and "MetadataMap" not in text


def test_unavailable_status_text_is_still_unreachable() -> None:
    err = translate(RuntimeError(_TONIC.format(code="Unavailable", message="tcp connect error")), url=URL)
    assert isinstance(err, NodeUnreachable)
