"""Fixtures for the console tests.

``services`` is the one place the console's data comes from. Here it is the in-memory
:class:`FakeServices`; a test module (or a conftest further down) can override the fixture with
services over a real devnet and run the same tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from soma_console.config import Settings
from soma_console.tui.app import ConsoleApp
from tests.conftest import REPO
from tests.support.fake_world import T0
from tests.tui.fake_services import FakeClock, FakeServices
from tests.tui.helpers import pilot_options


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times on screen are local; pin the zone so snapshots match everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(autouse=True)
def colour(monkeypatch: pytest.MonkeyPatch) -> None:
    """Colour on unless a test asks for NO_COLOR (the developer's shell may set it)."""
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def services(clock: FakeClock) -> FakeServices:
    return FakeServices(clock=clock)


AppFactory = Callable[..., ConsoleApp]


@pytest.fixture
def make_app(services: FakeServices, clock: FakeClock) -> AppFactory:
    def make(*, settings: dict[str, Any] | None = None, svc: Any = None, **kwargs: Any) -> ConsoleApp:
        return ConsoleApp(
            svc or services,
            settings=Settings(raw=settings or {}),
            options=pilot_options(clock=clock, timers=False, **kwargs),
        )

    return make


REPO_ROOT = REPO
