"""How the command line talks: one-line errors, JSON on request, confirmations."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from soma_console.errors import Aborted, UserError
from soma_console.secrets import redact

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


def _err(line: str) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        click.echo(redact(line), err=True)


def _crash_log_dir() -> Path:
    ctx = click.get_current_context(silent=True)
    obj = getattr(ctx.find_root(), "obj", None) if ctx else None
    home = getattr(obj, "home", None)
    if home is not None:
        return Path(home.logs_dir)
    import tempfile

    return Path(tempfile.gettempdir())


def die_with(exc: BaseException) -> int:
    """Print ``exc`` as one line on stderr; return the exit code to use."""
    if isinstance(exc, SystemExit):
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    if isinstance(exc, UserError):
        _err(f"error: {exc}")
        return exc.exit_code
    if isinstance(exc, click.exceptions.NoSuchOption | click.exceptions.BadParameter | click.UsageError):
        ctx = exc.ctx
        where = f" Try '{ctx.command_path} --help'." if ctx is not None else ""
        _err(f"error: {exc.format_message()}{where}")
        return 2
    if isinstance(exc, click.ClickException):
        _err(f"error: {exc.format_message()}")
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt | click.exceptions.Abort):
        _err("interrupted; nothing more was done.")
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return 0
    # A bug, not a user error: keep the details in a file, not on the screen.
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = _crash_log_dir() / f"crash-{stamp}-{os.getpid()}.log"
    detail = redact("".join(traceback.format_exception(exc)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(detail, encoding="utf-8")
        where = f" Details are in {path}; please report it."
    except OSError:
        where = ""
    _err(f"internal error: {type(exc).__name__}: {redact(str(exc))}.{where}")
    return EXIT_INTERNAL


def print_json(obj: Any) -> None:
    """Write one JSON document to stdout (sorted keys, no secrets: callers pass plain data)."""
    click.echo(json.dumps(obj, indent=2, sort_keys=True, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def stdout_console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def confirm(question: str, *, yes: bool, expect: str | None = None) -> None:
    """Ask before sending anything; raise :class:`Aborted` on anything but a clear yes.

    With ``--yes`` nothing is asked. With no terminal on stdin and no ``--yes`` we refuse rather
    than guess. ``expect`` asks the user to type a word (used for irreversible actions).
    """
    if yes:
        return
    if not sys.stdin.isatty() and os.environ.get("SOMA_CONSOLE_ASSUME_TTY") != "1":
        raise UserError("this needs confirmation and stdin is not a terminal.", hint="Pass --yes to proceed.")
    if expect is not None:
        answer = click.prompt(f"{question} Type {expect!r} to confirm", default="", show_default=False)
        if answer.strip() != expect:
            raise Aborted()
        return
    if not click.confirm(question, default=False):
        raise Aborted()


def print_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    title: str | None = None,
    keep: Sequence[str] = (),
) -> None:
    """A table on stdout that stays readable: the ``keep`` columns (ids and names people copy and
    paste back) are never cut or wrapped; other long cells wrap. At a terminal the table fits its
    width; into a pipe or a file it is as wide as it needs (nothing is cut for a script)."""
    from rich import box
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    cells = [["" if row.get(c) is None else str(row.get(c)) for c in columns] for row in rows]
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        header_style="bold",
        pad_edge=False,
        title_justify="left",
    )
    for i, col in enumerate(columns):
        if col in keep:
            widest = max([len(col), *(len(r[i]) for r in cells)])
            table.add_column(col, no_wrap=True, min_width=widest)
        else:  # long values wrap between words, never inside one
            word = max([*(len(w) for w in col.split()), *(len(w) for r in cells for w in r[i].split())])
            table.add_column(col, min_width=word)
    for r in cells:
        table.add_row(*r)
    console = stdout_console()
    if not console.is_terminal:
        natural = Measurement.get(console, console.options.update_width(100_000), table).maximum
        console = Console(highlight=False, soft_wrap=False, width=max(80, natural))
    console.print(table)
