"""Every refusal is one line, sends nothing, and leaves the journal as it was."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.devnet_fixture import Devnet
from tests.lifecycle.conftest import Owner, make_owner, write_chain_config

pytestmark = pytest.mark.slow


def _journal_state(owner: Owner) -> tuple[list[dict], list[dict]]:
    return owner.journal_rows("intents"), owner.journal_rows("audit")


@pytest.fixture
def active_model(owner: Owner) -> str:
    model_id = owner.json("commit", owner.checkpoint(2), "--yes")["model_id"]
    owner.chain.advance()
    owner.json("reveal", "--yes")
    return model_id


def test_commit_arguments_are_checked_before_anything_is_sent(owner: Owner) -> None:
    ckpt = owner.checkpoint(2)
    cases = [
        (["--commission", "10001"], "outside 0..10000"),
        (["--commission", "-5"], "outside 0..10000"),
        (["--stake", "0"], "not positive"),
        (["--stake", "-1"], "not positive"),
        (["--stake", "0.5"], "below the chain's minimum"),
        (["--stake", "100000"], "more than the wallet holds"),
        (["--model", "0x" + "ab" * 32], "does not exist"),
        (["--model", "not-an-id"], "not a model id"),
    ]
    for extra, needle in cases:
        assert_one_line_error(owner.cli("commit", ckpt, "--yes", *extra), needle)
    assert_one_line_error(owner.cli("commit", str(owner.home / "nope.safetensors"), "--yes"), "no checkpoint")
    assert owner.journal_rows("intents") == [] and owner.journal_rows("audit") == []
    assert owner.json("models", "--mine")["models"] == []


def test_model_actions_refuse_bad_amounts_and_other_peoples_models(
    owner: Owner, active_model: str, tmp_path: Path
) -> None:
    before = _journal_state(owner)
    assert_one_line_error(
        owner.cli("model", "commission", active_model, "10001", "--yes"), "outside 0..10000"
    )
    assert_one_line_error(owner.cli("model", "stake", active_model, "0", "--yes"), "not positive")
    assert_one_line_error(owner.cli("model", "stake", "--yes", active_model, "--", "-3"), "not positive")
    # Numbers as people type them: no crash, no "No such option", one sentence, exit 2.
    for amount, needle in (
        ("-1", "not positive"),
        ("inf", "is not an amount"),
        ("nan", "is not an amount"),
        ("1e400", "more than the chain can hold"),
        ("0.0000000001", "smallest amount, 0.000000001 SOMA"),
    ):
        r = owner.cli("model", "stake", active_model, amount, "--yes")
        assert_one_line_error(r, needle)
        assert r.returncode == 2, (amount, r.returncode)
    for rate, needle in (("-1", "outside 0..10000"), ("inf", "is not a rate"), ("2.555%", "whole number")):
        r = owner.cli("model", "commission", active_model, rate, "--yes")
        assert_one_line_error(r, needle)
        assert r.returncode == 2, (rate, r.returncode)
    assert_one_line_error(
        owner.cli("model", "stake", active_model, "1000000", "--yes"), "more than the wallet"
    )
    assert_one_line_error(owner.cli("model", "deactivate", "0x" + "cd" * 32, "--yes"), "does not exist")
    assert _journal_state(owner) == before
    # A percentage is taken on the command line as in the console.
    owner.json("model", "commission", active_model, "2.5%", "--yes")
    rows = {m["model_id"]: m for m in owner.json("models", "--mine")["models"]}
    assert rows[active_model]["next_commission_rate"] == 250
    before = _journal_state(owner)

    stranger = make_owner(tmp_path, owner.chain, owner.run, name="stranger")
    for args in (
        ("model", "commission", active_model, "100", "--yes"),
        ("model", "deactivate", active_model, "--yes"),
        ("commit", owner.checkpoint(4), "--model", active_model, "--yes"),
    ):
        assert_one_line_error(stranger.cli(*args), "belongs to")
    assert stranger.journal_rows("intents") == [] and stranger.journal_rows("audit") == []


def test_readonly_refuses_every_transaction(owner: Owner) -> None:
    for args in (
        ("commit", owner.checkpoint(2), "--yes"),
        ("reveal", "--yes"),
        ("model", "stake", "0x" + "ab" * 32, "1", "--yes"),
        ("autopilot", "--yes", "--once"),
    ):
        assert_one_line_error(owner.cli("--readonly", *args), "read-only")
    assert owner.journal_rows("intents") == [] and owner.journal_rows("artifacts") == []


def test_small_weights_are_refused_off_the_devnet(owner: Owner) -> None:
    write_chain_config(owner.home, owner.chain, is_devnet=False)
    assert_one_line_error(owner.cli("commit", owner.checkpoint(2), "--yes"), "not the V1 architecture")
    assert owner.journal_rows("intents") == []


class _Liar(http.server.BaseHTTPRequestHandler):
    """A 'CDN' in front of the bucket that serves the object with one byte changed."""

    upstream = ""

    def do_GET(self) -> None:
        import httpx

        real = httpx.get(self.upstream + self.path, timeout=10)
        body = bytearray(real.content)
        if body:
            body[-1] ^= 0xFF
        self.send_response(real.status_code)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(bytes(body))

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def lying_server() -> Iterator[type[_Liar]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Liar)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Liar.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield _Liar
    server.shutdown()


def test_s3_upload_commits_and_a_url_serving_other_bytes_is_refused(
    owner: Owner, moto_endpoint: str, new_bucket: object, lying_server: type[_Liar], shared_devnet: Devnet
) -> None:
    bucket = new_bucket()  # type: ignore[operator]
    lying_server.upstream = f"{moto_endpoint}/{bucket}"
    liar = f"s3://{bucket}/w?endpoint={moto_endpoint}&public={lying_server.url}"  # type: ignore[attr-defined]
    assert_one_line_error(owner.cli("commit", owner.checkpoint(2), "--storage", liar, "--yes"), "different")
    assert owner.journal_rows("intents") == []

    private = new_bucket(public=False)  # type: ignore[operator]
    closed = f"s3://{private}/w?endpoint={moto_endpoint}"
    assert_one_line_error(owner.cli("commit", owner.checkpoint(2), "--storage", closed, "--yes"), "read")
    assert owner.journal_rows("intents") == []

    good = f"s3://{bucket}/w?endpoint={moto_endpoint}"
    done = owner.json("commit", owner.checkpoint(2), "--storage", good, "--yes")
    assert done["weights_url"].startswith(f"{moto_endpoint}/{bucket}/w/")
