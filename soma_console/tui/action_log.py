"""The action log: every transaction sent, the autopilot's too, one line each with its digest."""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import Log

from soma_console.core.journal import AuditEntry
from soma_console.secrets import redact
from soma_console.tui.pane import clock_text
from soma_console.tui.status_bar import short_id


class ActionLog(Log):
    """Every transaction sent (from the audit log, so autopilot's too), with its digest."""

    def __init__(self) -> None:
        super().__init__(max_lines=1000, auto_scroll=True, id="action-log")
        self.border_title = "Action log"
        self.last_id = 0

    def add_audit(self, entries: Sequence[AuditEntry]) -> None:
        lines = []
        for a in entries:
            if a.id <= self.last_id:
                continue
            self.last_id = a.id
            summary = a.summary.get("summary") if isinstance(a.summary, dict) else None
            text = summary or ", ".join(f"{k}={v}" for k, v in sorted(a.summary.items()))
            # the journal writes success | failed | unknown (sent, outcome not known yet)
            mark = {"success": "✓", "ok": "✓", "unknown": "?"}.get(a.status, "✗")
            # redact(): the audit log never holds a secret, and the screen makes sure of it.
            lines.append(
                redact(
                    f"{clock_text(a.at)} {mark} {a.kind:<10} {short_id(a.model_id, 4, 4):<11} "
                    f"digest {a.digest or '-'}  {text}{'  error: ' + a.error if a.error else ''}"
                )
            )
        if lines:
            self.write_lines(lines)

    def note(self, text: str, at: float) -> None:
        self.write_line(redact(f"{clock_text(at)} {text}"))
