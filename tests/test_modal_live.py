"""Against the real Modal, only when real credentials are present (never in CI by default).

Run them on their own: ``python -m pytest -m modal_live tests/test_modal_live.py``. The first two
spend nothing: they check that the token is accepted and that a missing Volume or call gives the
same one-sentence errors the fake-server tests pin down. The smoke test runs the container paths on
real Modal, CPU only, in a few minutes (cents): an ephemeral app, the Volume
``soma-console-live-smoke`` and the Dict ``smoke-cron-lease`` (delete them afterwards with
``modal volume delete`` / ``modal dict delete`` if you like).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from soma_console.errors import UserError
from soma_console.training.modal.backend import ModalRun, ModalRunRecord
from soma_console.training.modal.client import ModalSettings, ModalVolume, find_credentials

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


# ---- smoke: the container paths on real Modal, CPU only, a few minutes --------------------------------

SMOKE_APP = "soma-console-live-smoke"
SMOKE_VOLUME = "soma-console-live-smoke"


def _smoke_app() -> Any:
    """An ephemeral app with two CPU functions: the real container code running the stand-in worker,
    and a dry cron reveal round (the lease in a real Dict, the journal snapshot on a real Volume)."""
    import sys

    import modal

    from soma_console.training.modal.app import image_packages

    image = (
        modal.Image.debian_slim(python_version=f"{sys.version_info.major}.{sys.version_info.minor}")
        .pip_install(*image_packages(False, training=False), "pytest")
        .env({"PYTHONUNBUFFERED": "1"})
        .add_local_python_source("soma_console", "tests")
    )
    app = modal.App(SMOKE_APP)
    volume = modal.Volume.from_name(SMOKE_VOLUME, create_if_missing=True)

    @app.function(image=image, cpu=1.0, volumes={"/vol": volume}, timeout=600, serialized=True)
    def smoke_train(spec_json: str) -> dict[str, Any]:
        import sys as _sys
        from pathlib import Path as _Path

        import modal as _modal

        from soma_console.training.modal.container import train_entry

        vol = _modal.Volume.from_name(SMOKE_VOLUME)
        worker = [_sys.executable, "/root/tests/modal/standin_worker.py"]
        return train_entry(
            spec_json,
            resume=False,
            gpus=1,
            volume_root=_Path("/vol"),
            commit=vol.commit,
            reload=vol.reload,
            out=_sys.stdout,
            err=_sys.stderr,
            worker_cmd=worker,
            poll_s=2.0,
        )

    @app.function(image=image, cpu=0.25, volumes={"/vol": volume}, timeout=300, serialized=True)
    def smoke_reveal() -> dict[str, Any]:
        import sqlite3 as _sqlite3
        import sys as _sys
        from pathlib import Path as _Path

        import modal as _modal

        from soma_console.core.onchain.cron_rounds import ChainSteps, reveal_entry
        from soma_console.training.cron_lease import lease_dict_name
        from soma_console.training.cron_plan import CronPlan

        async def dry_reveal(home: Any, *, chain: str, persist: Any, **_: Any) -> dict[str, Any]:
            con = _sqlite3.connect(home.journal_path)
            con.execute("CREATE TABLE IF NOT EXISTS rows (what TEXT)")
            con.execute("INSERT INTO rows VALUES ('dry reveal')")
            con.commit()
            con.close()
            persist()  # lease check, snapshot, fsync, rename, chmod and commit on a real Volume mount
            return {"revealed": [], "pending": [], "said": []}

        async def no_commit(*_: Any, **__: Any) -> dict[str, Any]:
            raise AssertionError("the dry round commits nothing")

        vol = _modal.Volume.from_name(SMOKE_VOLUME)
        plan = CronPlan(app_name="smoke-cron", spec_json='{"run": "smoke"}', steps=1)
        out = reveal_entry(
            plan,
            volume_root=_Path("/vol"),
            commit=vol.commit,
            reload=vol.reload,
            lease_store=_modal.Dict.from_name(lease_dict_name("smoke-cron"), create_if_missing=True),
            err=_sys.stderr,
            chain_steps=ChainSteps(no_commit, dry_reveal),
        )
        journal = _Path("/vol/cron/smoke-cron/home/journal.sqlite")
        out["journal_mode"] = oct(journal.stat().st_mode & 0o777)
        return out

    return app, smoke_train, smoke_reveal


async def test_smoke_spawn_logs_volume_download_cancel_and_a_dry_cron_round(tmp_path: Any) -> None:
    """Minutes on CPU: the stand-in worker through spawn, its logs streamed, the Volume listed and a
    checkpoint downloaded, a call cancelled, and one dry reveal round (real Dict lease, real Volume)."""
    import json

    from soma_console.training.events import Finished, LineAssembler
    from soma_console.training.modal.client import ModalCallLogs
    from soma_console.training.modal.logs import LogFollower, Notice
    from soma_console.training.modal.volume import (
        download_checkpoint,
        list_remote_checkpoints,
        pick_checkpoint,
    )

    app, smoke_train, smoke_reveal = _smoke_app()
    run = f"smoke-{os.getpid()}"
    async with app.run.aio():
        call = await smoke_train.spawn.aio(json.dumps({"run": run, "steps": 6, "checkpoint_every": 2}))
        assembler, records = LineAssembler(), []
        async for entry in LogFollower(ModalCallLogs(call), what=run).entries():
            if not isinstance(entry, Notice):
                records += assembler.feed(entry.message)
        assert any(isinstance(r, Finished) for r in records)
        result = await call.get.aio(timeout=60)
        assert result["finished"] is True

        vol = ModalVolume(SMOKE_VOLUME, timeout=60)
        ckpts = await list_remote_checkpoints(vol, run)
        assert [c.step for c in ckpts] == [2, 4, 6]
        path = await download_checkpoint(vol, pick_checkpoint(ckpts, "4"), tmp_path)
        assert path.stat().st_size == pick_checkpoint(ckpts, "4").size

        slow = await smoke_train.spawn.aio(json.dumps({"run": f"{run}-slow", "steps": 500, "sleep_s": 1.0}))
        await slow.cancel.aio()
        with pytest.raises(Exception):  # noqa: B017 - modal raises its own cancellation error
            await slow.get.aio(timeout=120)

        dry = await smoke_reveal.remote.aio()
        assert dry["reveal"] == {"revealed": [], "pending": [], "said": []}
        assert dry["journal_mode"] in ("0o600", "0o644")  # a Volume mount may not keep the mode
