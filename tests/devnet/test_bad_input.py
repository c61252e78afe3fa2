"""Malformed requests get INVALID_ARGUMENT with a message, never a crash; the node stays up."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3

import grpc
import pytest
from soma_sdk import Keypair

from soma_console.core import txdata, txkinds
from soma_console.devnet.proto import services_pb2 as svc
from soma_console.devnet.proto import services_pb2_grpc as stubs
from soma_console.devnet.proto import transaction_pb2 as tx_pb
from soma_console.devnet.proto import types_pb2
from soma_console.encoding import b58decode, b58encode
from tests.conftest import assert_one_line_error, run_cli
from tests.devnet.helpers import funded
from tests.devnet.test_cli_and_node import FREE_PORTS

RPC_METHODS = [
    "/soma.rpc.LedgerService/GetServiceInfo",
    "/soma.rpc.LedgerService/GetObject",
    "/soma.rpc.LedgerService/GetTransaction",
    "/soma.rpc.LedgerService/GetCheckpoint",
    "/soma.rpc.LedgerService/GetEpoch",
    "/soma.rpc.StateService/ListOwnedObjects",
    "/soma.rpc.StateService/GetBalance",
    "/soma.rpc.TransactionExecutionService/ExecuteTransaction",
    "/soma.rpc.TransactionExecutionService/SimulateTransaction",
]


def _raw_call(target: str, method: str, payload: bytes) -> grpc.RpcError | bytes:
    with grpc.insecure_channel(target) as ch:
        call = ch.unary_unary(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)
        try:
            return call(payload, timeout=10)
        except grpc.RpcError as exc:
            return exc


def test_garbage_bytes_on_every_method(devnet):
    target = devnet.rpc_url.removeprefix("http://")
    garbage = b"\xff\xff\xff\xff\x0f" + os.urandom(64)
    for method in RPC_METHODS:
        err = _raw_call(target, method, garbage)
        assert isinstance(err, grpc.RpcError), method
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, err.code(), err.details())
        assert err.details()
    for method, payload in [
        ("/faucet.Faucet/RequestGas", b"\x05ab"),  # string longer than the data
        ("/admin.Admin/AdvanceEpoch", b"\x01"),
        ("/admin.Admin/Fund", b""),
    ]:
        port = devnet.faucet_url if method.startswith("/faucet") else devnet.admin_url
        err = _raw_call(port.removeprefix("http://"), method, payload)
        assert isinstance(err, grpc.RpcError), method
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, err.details())
    # still alive and still at epoch 0
    with grpc.insecure_channel(target) as ch:
        info = stubs.LedgerServiceStub(ch).GetServiceInfo(svc.GetServiceInfoRequest(), timeout=10)
    assert info.epoch == 0


def _signed_request(
    kp: Keypair, tx: txdata.TransactionData, *, digest: bytes | None = None
) -> svc.ExecuteTransactionRequest:
    signed = kp.sign(tx.to_bcs())
    sig = signed[-97:]  # flag || signature || public key, as the SDK lays it out
    coin = tx.gas_payment[0]
    kind = tx.kind
    assert isinstance(kind, txkinds.SetModelCommissionRate)
    msg = tx_pb.Transaction(
        digest=b58encode(digest if digest is not None else tx.digest()),
        sender="0x" + tx.sender.hex(),
        kind=tx_pb.TransactionKind(
            set_model_commission_rate=tx_pb.SetModelCommissionRate(
                model_id="0x" + kind.model_id.hex(), new_rate=kind.new_rate
            )
        ),
        gas_payment=[
            types_pb2.ObjectReference(
                object_id="0x" + coin.object_id.hex(), version=coin.version, digest=b58encode(coin.digest)
            )
        ],
    )
    user_sig = types_pb2.UserSignature(
        scheme=types_pb2.ED25519,
        simple=types_pb2.SimpleSignature(scheme=types_pb2.ED25519, signature=sig[1:65], public_key=sig[65:]),
    )
    return svc.ExecuteTransactionRequest(transaction=msg, signatures=[user_sig])


async def test_forged_and_inconsistent_transactions_are_refused(devnet):
    client = await devnet.client()
    kp = await funded(devnet)
    coin = (await client.list_owned_objects(kp.address(), object_type="coin"))[0]
    ref = txkinds.ObjectRef(bytes.fromhex(coin.id[2:]), coin.version, b58decode(coin.digest))
    tx = txdata.TransactionData(
        txkinds.SetModelCommissionRate(os.urandom(32), 5), bytes.fromhex(kp.address()), (ref,)
    )
    target = devnet.rpc_url.removeprefix("http://")
    with grpc.insecure_channel(target) as ch:
        execute = stubs.TransactionExecutionServiceStub(ch).ExecuteTransaction

        def refused(req: svc.ExecuteTransactionRequest) -> str:
            with pytest.raises(grpc.RpcError) as err:
                execute(req, timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            return str(err.value.details())

        good = _signed_request(kp, tx)
        # the client's digest must be the transaction's
        assert "does not match" in refused(
            _signed_request(kp, tx, digest=hashlib.blake2b(b"x", digest_size=32).digest())
        )
        # somebody else's key cannot sign for the sender
        assert "does not belong" in refused(_signed_request(Keypair.generate(), tx))
        # a signature over different content does not verify
        tampered = svc.ExecuteTransactionRequest()
        tampered.CopyFrom(good)
        sig = bytearray(tampered.signatures[0].simple.signature)
        sig[0] ^= 1
        tampered.signatures[0].simple.signature = bytes(sig)
        assert "does not verify" in refused(tampered)
        # missing pieces are named
        no_kind = svc.ExecuteTransactionRequest()
        no_kind.CopyFrom(good)
        no_kind.transaction.ClearField("kind")
        assert "transaction.kind" in refused(no_kind)
        bad_sender = svc.ExecuteTransactionRequest()
        bad_sender.CopyFrom(good)
        bad_sender.transaction.sender = "not-hex"
        assert "sender" in refused(bad_sender)
        assert "exactly one signature" in refused(svc.ExecuteTransactionRequest(transaction=good.transaction))
        # the real one goes through (and fails on the chain: no such model), proving the above
        # were refused for the stated reasons
        resp = execute(good, timeout=10)
        assert resp.transaction.effects.status.error.kind == types_pb2.ExecutionError.MODEL_NOT_FOUND
    assert await client.get_balance(kp.address()) == pytest.approx(10 - 1000 / 1e9)


def test_unknown_object_and_paging(devnet):
    target = devnet.rpc_url.removeprefix("http://")
    with grpc.insecure_channel(target) as ch:
        ledger = stubs.LedgerServiceStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            ledger.GetObject(svc.GetObjectRequest(object_id="0x" + "11" * 32), timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as err:
            ledger.GetObject(svc.GetObjectRequest(object_id="0xzz"), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        addr = Keypair.generate().address()
        for _ in range(5):
            devnet.fund(addr, soma=1)
        state = stubs.StateServiceStub(ch)
        seen = []
        token = None
        while True:
            req = svc.ListOwnedObjectsRequest(owner=addr, page_size=2)
            if token:
                req.page_token = token
            resp = state.ListOwnedObjects(req, timeout=10)
            seen += [o.object_id for o in resp.objects]
            if not resp.HasField("next_page_token"):
                break
            token = resp.next_page_token
        assert len(seen) == len(set(seen)) == 5


def test_port_in_use_is_one_clear_line(home, tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        result = run_cli(
            "devnet",
            "--port",
            str(port),
            "--faucet-port",
            "0",
            "--scoring-port",
            "0",
            "--admin-port",
            "0",
            "--blob-port",
            "0",
            "--state",
            str(tmp_path / "s"),
        )
    assert_one_line_error(result, f"port {port}", "already in use")


def test_incompatible_state_dir_is_refused_untouched(home, tmp_path):
    state = tmp_path / "old"
    state.mkdir()
    db = state / "devnet.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.executemany(
        "INSERT INTO meta VALUES (?, ?)", [("format", "soma-console-devnet"), ("schema_version", "99")]
    )
    con.commit()
    con.close()
    before = db.read_bytes()
    args = (
        "devnet",
        *FREE_PORTS,
        "--state",
        str(state),
    )
    result = run_cli(*args)
    assert_one_line_error(result, "schema version 99", "untouched")
    assert db.read_bytes() == before

    db.write_bytes(b"this is somebody's notes, not a database")
    result = run_cli(*args)
    assert_one_line_error(result, "not a devnet database")
    assert db.read_bytes() == b"this is somebody's notes, not a database"


def test_second_node_on_the_same_state_is_refused(devnet, home):
    args = (
        "devnet",
        *FREE_PORTS,
        "--state",
        str(devnet.state_dir),
    )
    assert_one_line_error(run_cli(*args), "another devnet is already running")
