"""Fixtures for the live console tests: real services over a real devnet, journal and trainer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from soma_sdk import Keypair

from soma_console.context import AppContext
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.live_services import LiveServices
from soma_console.core.wallet import load_signer


@pytest.fixture(autouse=True)
def no_modal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Modal credentials: Modal must stay silent and off the network."""
    for var in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "no-modal.toml"))


@pytest.fixture
def owner(home: Path, shared_devnet: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A fresh funded key, configured as the console's wallet (SOMA_SECRET_KEY)."""
    kp = Keypair.generate()
    shared_devnet.fund(kp.address(), soma=20)
    monkeypatch.setenv("SOMA_SECRET_KEY", kp.to_secret_key())
    return kp


def live_ctx(home: Path, devnet: Any, *, readonly: bool = False) -> AppContext:
    ctx = AppContext.create(home=str(home), readonly=readonly)
    return replace(ctx, chain=devnet.profile)


@pytest.fixture
async def live(home: Path, shared_devnet: Any, owner: Any) -> AsyncIterator[LiveServices]:
    ctx = live_ctx(home, shared_devnet)
    services = LiveServices.open(ctx, signer=load_signer(ctx.home))
    services.session.poll_interval = 0.3
    try:
        yield services
    finally:
        await services.stop()


async def first_snapshot(
    services: LiveServices, *, timeout: float = 20.0, until: Callable[[ChainSnapshot], bool] | None = None
) -> ChainSnapshot:
    """Start the services (if needed) and wait for a poll that satisfies ``until``."""
    import asyncio

    seen: list[ChainSnapshot] = []
    unsubscribe = services.subscribe_chain(lambda snap, err: seen.append(snap) if snap else None)
    try:
        await services.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for snap in reversed(seen):
                if until is None or until(snap):
                    return snap
            services.session.wake()
            await asyncio.sleep(0.1)
    finally:
        unsubscribe()
    raise AssertionError("no matching chain snapshot in time")
