"""Against the real Modal, only when real credentials are present (never in CI by default).

Run them on their own: ``python -m pytest -m modal_live tests/test_modal_live.py``. They spend
nothing: they check that the token is accepted and that a missing Volume or call gives the same
one-sentence errors the fake-server tests pin down.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from soma_console.errors import UserError
from soma_console.training.modal_backend import ModalRun, ModalRunRecord
from soma_console.training.modal_client import ModalSettings, ModalVolume, find_credentials

pytestmark = [
    pytest.mark.modal_live,
    pytest.mark.skipif(
        find_credentials() is None or "127.0.0.1" in os.environ.get("MODAL_SERVER_URL", ""),
        reason="needs real Modal credentials (MODAL_TOKEN_ID/MODAL_TOKEN_SECRET or ~/.modal.toml)",
    ),
]


@pytest.fixture(autouse=True)
def real_modal_client() -> Iterator[None]:
    """A client made from the real credentials, not one left over from the fake-server tests."""
    from modal.client import _Client

    _Client._set_env_client(None)
    yield
    _Client._set_env_client(None)


SETTINGS = ModalSettings(
    app_name="soma-console-live-test-absent", volume_name="soma-console-live-test-absent", timeout_s=30
)


async def test_a_missing_volume_is_one_clear_error() -> None:
    with pytest.raises(UserError, match="no Volume named"):
        await ModalVolume(SETTINGS.volume_name, timeout=30).hydrate()


async def test_a_missing_call_is_one_clear_error() -> None:
    record = ModalRunRecord(
        run="x",
        call_id="fc-00000000000000000000000000",
        app_name=SETTINGS.app_name,
        volume_name=SETTINGS.volume_name,
        gpu="A100",
        gpus=1,
        launched_at=0.0,
    )
    with pytest.raises(UserError):
        await ModalRun(record, settings=SETTINGS).status()
