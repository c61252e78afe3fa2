"""Fixtures for the Modal tests: one fake Modal control plane on loopback for the package.

The unmodified ``modal`` client is pointed at it through MODAL_SERVER_URL / MODAL_TOKEN_ID /
MODAL_TOKEN_SECRET (and an empty MODAL_CONFIG_PATH, so a developer's ~/.modal.toml is never read).
The server is started once for this package (the modal client keeps one connection per process)
and stopped when the package's tests end; knobs are reset before every test.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fake_modal.server import Container, FakeModal

HERE = Path(__file__).resolve().parent
STANDIN_WORKER = [sys.executable, str(HERE / "standin_worker.py")]
VOLUME = "soma-test-runs"
APP = "soma-test"


@pytest.fixture(scope="package")
def fake_modal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeModal]:
    workdir = tmp_path_factory.mktemp("fake-modal")
    saved = {
        k: os.environ.get(k)
        for k in ("MODAL_SERVER_URL", "MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_CONFIG_PATH")
    }
    with FakeModal(workdir) as fake:
        os.environ.update(
            MODAL_SERVER_URL=fake.url,
            MODAL_TOKEN_ID=fake.token[0],
            MODAL_TOKEN_SECRET=fake.token[1],
            MODAL_CONFIG_PATH=str(workdir / "no-modal.toml"),
        )
        try:
            yield fake
        finally:
            from modal.client import _Client

            _Client._set_env_client(None)  # later tests must not reuse a client bound to this server
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


@pytest.fixture
def fake(fake_modal: FakeModal) -> FakeModal:
    fake_modal.reset_knobs()
    return fake_modal


def train_runner(volume: str = VOLUME, *, poll_s: float = 0.5, reload: bool = True) -> Callable[..., Any]:
    """The fake container's body for ``train``: the real container code running the stand-in worker
    (``reload=False``: as if it never called ``Volume.reload()``)."""
    from soma_console.training.modal.container import train_entry

    def runner(c: Container, spec_json: str, resume: bool = False, gpus: int = 1) -> dict[str, Any]:
        return train_entry(
            spec_json,
            resume=resume,
            gpus=gpus,
            volume_root=c.volume_dir(volume),
            commit=lambda: c.commit(volume),
            reload=(lambda: c.reload(volume)) if reload else None,
            out=c.stdout,  # type: ignore[arg-type]
            err=c.stderr,  # type: ignore[arg-type]
            stop=c.stop,
            worker_cmd=STANDIN_WORKER,
            poll_s=poll_s,
        )

    return runner


@pytest.fixture
def deployed(fake: FakeModal) -> FakeModal:
    """The training app deployed on the fake, its Volume created."""
    fake.deploy(APP, {"train": train_runner()}, volume=VOLUME)
    return fake
