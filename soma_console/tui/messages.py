"""Messages from the console's listeners and workers to the app, and the guard for their handlers."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from textual.css.query import NoMatches
from textual.message import Message

from soma_console.core.chain_errors import ChainError
from soma_console.core.chainstate import ChainSnapshot
from soma_console.core.console_services import CheckpointInfo, RunInfo
from soma_console.core.journal import AuditEntry
from soma_console.core.reveal_queue import QueueEntry

if TYPE_CHECKING:
    from soma_console.tui.app import ConsoleApp


class ChainUpdate(Message):
    def __init__(self, snapshot: ChainSnapshot | None, error: ChainError | None) -> None:
        super().__init__()
        self.snapshot = snapshot
        self.error = error


class RunsLoaded(Message):
    def __init__(self, runs: list[RunInfo]) -> None:
        super().__init__()
        self.runs = runs


class CheckpointsLoaded(Message):
    def __init__(self, run: str, checkpoints: list[CheckpointInfo]) -> None:
        super().__init__()
        self.run = run
        self.checkpoints = checkpoints


class VerdictsLoaded(Message):
    def __init__(self, verdicts: dict[str, str]) -> None:
        super().__init__()
        self.verdicts = verdicts


class QueueLoaded(Message):
    def __init__(self, entries: list[QueueEntry]) -> None:
        super().__init__()
        self.entries = entries


class AuditLoaded(Message):
    def __init__(self, entries: list[AuditEntry]) -> None:
        super().__init__()
        self.entries = entries


class AutopilotLoaded(Message):
    def __init__(self, on: bool) -> None:
        super().__init__()
        self.on = on


class ActionProgress(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


def while_open(method: Callable[..., None]) -> Callable[..., None]:
    """For timer callbacks and message handlers that draw: do nothing once the console is on its
    way out. Textual takes the widgets down before it stops the timers and the message queue, so
    a late tick or a worker's late result would otherwise find no panes and end in a traceback."""

    @wraps(method)
    def guarded(self: ConsoleApp, *args: Any) -> None:
        if not self.is_open:
            return
        try:
            method(self, *args)
        except NoMatches:
            if self.is_open:
                raise

    return guarded
