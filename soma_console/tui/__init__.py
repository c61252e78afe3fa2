"""The console's Textual app (imported lazily: ``soma_console.tui.app`` pulls in Textual).

``run_console(services, *, clock=time.time, settings=None, mouse=True)`` runs it on an
implementation of :class:`soma_console.core.console_services.ConsoleServices`; see
``soma_console.tui.app.run_console``.
"""

from __future__ import annotations

from typing import Any


def run_console(*args: Any, **kwargs: Any) -> int:
    from soma_console.tui.app import run_console as run

    return run(*args, **kwargs)
