"""Running the console on the terminal: ``run_console``, what ``soma-console console`` calls."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from soma_console.config import Settings
from soma_console.core.console_services import ConsoleServices
from soma_console.tui.app import ConsoleApp
from soma_console.tui.options import ConsoleOptions


@contextlib.contextmanager
def _terminal_on_stdout() -> Iterator[None]:
    """Textual draws on stderr but reads the terminal's size from stdout. With stdout piped
    (``make demo | tee log``) it would draw at 80x24 whatever the terminal's size, and never
    see a resize: while the console runs, stdout is the terminal stderr is (nothing else is
    written to stdout meanwhile; logging goes to its file)."""
    if os.isatty(1) or not os.isatty(2):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def run_console(
    services: ConsoleServices,
    *,
    settings: Settings | None = None,
    mouse: bool = True,
    options: ConsoleOptions | None = None,
) -> int:
    """Run the console on ``services`` until the user quits; return the exit status.

    The services are started after the first frame and stopped when the console exits (also
    when the terminal goes away: SIGHUP restores what it can and exits with 129, quietly).
    """
    app = ConsoleApp(services, settings=settings, options=options)
    with _terminal_on_stdout():
        result = app.run(mouse=mouse)
    if app.hung_up:
        return 129
    return int(result or 0) if app.return_code in (0, None) else int(app.return_code or 1)
