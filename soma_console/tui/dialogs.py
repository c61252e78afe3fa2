"""Modal dialogs: the typed confirmation, the training spec, amounts, the quit warning, help.

Every dialog works from the keyboard alone (tab between fields, enter to submit, escape to
cancel) and says in words what will happen; none needs the mouse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from soma_console.core import amounts
from soma_console.core.actions import LAST_LABELS, ActionPlan
from soma_console.core.console_services import BACKENDS, train_spec
from soma_console.core.reveal_queue import QueueEntry, format_countdown
from soma_console.errors import UsageError
from soma_console.secrets import redact
from soma_console.tui.keymap import DIALOG_KEYS, HELP_KEYS, QUIT_WARNING_KEYS, bindings
from soma_console.tui.options import ConsoleOptions
from soma_console.tui.queue_pane import live_state
from soma_console.tui.status_bar import short_id


class Dialog(ModalScreen[object]):
    BINDINGS = bindings(DIALOG_KEYS)
    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > #dialog {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    Dialog .error { color: $error; text-style: bold; }
    Dialog .buttons { height: auto; margin-top: 1; }
    Dialog .buttons Button { margin-right: 2; }
    Dialog Input { margin-bottom: 0; }
    Dialog Label { margin-top: 1; }
    Dialog #plan-body { height: auto; }
    Dialog #plan-gate { text-style: bold reverse; display: none; }
    ConfirmPlanScreen #confirm-error { display: none; }
    ConfirmPlanScreen Label { margin-top: 0; }
    Dialog #confirm-word { margin: 0; }
    """

    def action_cancel(self) -> None:
        self.dismiss(None)

    def blink(self, widget: Input) -> Input:
        options = getattr(self.app, "options", None)
        widget.cursor_blink = options.cursor_blink if isinstance(options, ConsoleOptions) else True
        return widget


class ConfirmPlanScreen(Dialog):
    """Shows an :class:`ActionPlan` exactly and sends nothing unless its word is typed.

    Dismisses with True (typed correctly) or None (escape). A wrong word keeps the dialog open
    and says that nothing was sent.
    """

    def __init__(self, plan: ActionPlan) -> None:
        super().__init__()
        self.plan = plan

    # Rows of the dialog that are not the plan's body: border 2, title 1, prompt 1, input 1
    # (the error line and the gate's line take one more each, only while they are shown).
    CHROME_ROWS = 5

    def compose(self) -> ComposeResult:
        plan = self.plan
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        details: list[str] = []
        for whole_label, value in plan.ordered_lines():
            # A plan never carries a secret (the decryption key stays in the journal); redact()
            # makes sure a mistake upstream does not put one on screen. Labels may carry ids too
            # (a claim's "target 0x…"): shortened like the values, or they crowd the values out.
            shown = short_hex(redact(value))
            label = short_hex(whole_label)
            if label in LAST_LABELS:  # the technical proof: one paragraph, after what matters
                details.append(f"{label}: {shown}")
            elif label == "Checkpoint":  # the file's name is enough here; the title names the run
                table.add_row(label, Text(_file_name_only(shown)))
            else:
                table.add_row(label, Text(shown))
        if details:
            table.add_row("Details", Text(" · ".join(details), style="dim"))
        with Vertical(id="dialog") as box:
            box.border_title = "Confirm: " + plan.action
            yield Static(Text(plan.title, style="bold"), id="plan-title")
            # The warnings first, then what is sent and what it costs, the technical rest last.
            with VerticalScroll(id="plan-body", can_focus=True):
                for warning in plan.warning_texts():
                    yield Static(Text(f"! {warning}", style="bold reverse"), classes="warning")
                yield Static(table, id="plan-lines")
            yield Static("", id="plan-gate")
            yield Label(
                Text.assemble(
                    "Type ", (plan.confirm_word, "bold"), " and press enter to send; escape cancels."
                )
            )
            yield self.blink(Input(placeholder=plan.confirm_word, id="confirm-word", compact=True))
            yield Static("", id="confirm-error", classes="error")

    def on_mount(self) -> None:
        self._fit_body()
        body = self.query_one("#plan-body", VerticalScroll)
        self.watch(body, "scroll_y", lambda _: self._gate(), init=False)
        self.watch(body, "max_scroll_y", lambda _: self._gate(), init=False)
        self.query_one(Input).focus()
        self.call_after_refresh(self._gate)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_body()

    def _fit_body(self) -> None:
        body = self.query_one("#plan-body", VerticalScroll)
        extra = sum(1 for w in self.query("#plan-gate, #confirm-error") if w.display)
        height = max(3, self.app.size.height - self.CHROME_ROWS - extra)
        if body.styles.max_height is None or body.styles.max_height.value != height:
            body.styles.max_height = height

    @property
    def read_to_end(self) -> bool:
        """Everything in the plan has been on screen (it fits, or it was scrolled to the end)."""
        body = self.query_one("#plan-body", VerticalScroll)
        return body.max_scroll_y <= 0 or body.scroll_y >= body.max_scroll_y - 0.5

    def _gate(self) -> None:
        """While part of the plan is still below the fold, the word cannot be typed."""
        if not self.is_mounted:
            return
        box = self.query_one("#confirm-word", Input)
        gate = self.query_one("#plan-gate", Static)
        if self.read_to_end:
            if box.disabled:
                box.disabled = False
                box.focus()
            gate.update("")
            if gate.display:
                gate.display = False
                self._fit_body()
        else:
            if not box.disabled:
                box.disabled = True
                self.query_one("#plan-body").focus()
            if not gate.display:
                gate.display = True
                self._fit_body()
            gate.update(
                Text("▼ More below: scroll down (↓, pgdn, end) to read the whole plan before confirming.")
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not self.read_to_end:  # belt and braces: the box is disabled until then
            self._gate()
            return
        typed = event.value.strip()
        if typed == self.plan.confirm_word:
            self.dismiss(True)
            return
        shown = typed if typed else "nothing"
        error = self.query_one("#confirm-error", Static)
        error.update(Text(f"You typed {shown!r}, not {self.plan.confirm_word!r}. Nothing was sent."))
        if not error.display:
            error.display = True
            self._fit_body()
        event.input.value = ""


class TrainDialog(Dialog):
    """The spec of a new training run; dismisses with the spec dict or None."""

    def __init__(
        self, presets: Sequence[str], *, default_steps: int = 200, default_data: str = "builtin"
    ) -> None:
        super().__init__()
        self.presets = list(presets) or ["tiny"]
        self.default_steps = default_steps
        self.default_data = default_data

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as box:
            box.border_title = "Start training"
            yield Label("Preset")
            yield Select(
                [(p, p) for p in self.presets], value=self.presets[0], allow_blank=False, id="preset"
            )
            yield Label("Steps")
            yield self.blink(Input(str(self.default_steps), id="steps", type="integer"))
            yield Label("Data (builtin, a local file or directory, or a dataset name)")
            yield self.blink(Input(self.default_data, id="data"))
            yield Label("Run name (empty: pick one)")
            yield self.blink(Input("", id="name"))
            yield Label("Backend")
            yield Select([(b, b) for b in BACKENDS], value=BACKENDS[0], allow_blank=False, id="backend")
            yield Static("", id="train-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Start", id="start", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        # The defaults are ready to go: enter starts them. (On a Select, enter only opens the
        # list; tab and shift+tab reach every field from here.)
        self.query_one("#start", Button).focus()

    def _submit(self) -> None:
        error = self.query_one("#train-error", Static)
        steps_text = self.query_one("#steps", Input).value.strip()
        try:
            steps = int(steps_text)
        except ValueError:
            steps = 0
        if steps <= 0:
            error.update(f"Steps must be a whole number above 0, not {steps_text!r}.")
            self.query_one("#steps", Input).focus()
            return
        data = self.query_one("#data", Input).value.strip()
        if not data:
            error.update("Say where the data comes from (builtin uses the offline corpus).")
            self.query_one("#data", Input).focus()
            return
        name = self.query_one("#name", Input).value.strip() or None
        preset = str(self.query_one("#preset", Select).value)
        backend = str(self.query_one("#backend", Select).value)
        self.dismiss(train_spec(preset=preset, steps=steps, data=data, backend=backend, name=name))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "start":
            self._submit()
        else:
            self.dismiss(None)


class ValueDialog(Dialog):
    """One value (an amount, a rate), checked by ``parse``; dismisses with the parsed value or None."""

    def __init__(
        self,
        title: str,
        prompt: str,
        parse: Callable[[str], object],
        *,
        value: str = "",
    ) -> None:
        super().__init__()
        self.title_text = title
        self.prompt = prompt
        self.parse = parse
        self.initial = value

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as box:
            box.border_title = self.title_text
            yield Label(self.prompt)
            yield self.blink(Input(self.initial, id="value"))
            yield Static("", id="value-error", classes="error")
            yield Static("enter continues to the confirmation; escape cancels.")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            parsed = self.parse(event.value.strip())
        except ValueError as exc:
            self.query_one("#value-error", Static).update(str(exc))
            return
        self.dismiss(parsed)


def _file_name_only(text: str) -> str:
    """``step 60 of run r (/long/path/checkpoint-00000060.safetensors)`` without the folders."""
    return re.sub(r"\((/[^()]*/)([^/()]+)\)", r"(\2)", text)


_BASE58_RUN = re.compile(r"\b([1-9A-HJ-NP-Za-km-z]{8})[1-9A-HJ-NP-Za-km-z]{24,}([1-9A-HJ-NP-Za-km-z]{4})\b")
_LONG_HEX = re.compile(r"\b(?:0x)?([0-9a-fA-F]{12})[0-9a-fA-F]{20,}([0-9a-fA-F]{6})\b")


def short_hex(text: str) -> str:
    """Long hex strings (commitments, digests, ids inside URLs) as ``0123456789ab…abcdef``: the
    dialog has to fit an 80x24 screen. ``--json`` on the command line shows them whole."""
    text = _LONG_HEX.sub(lambda m: f"{m.group(1)}…{m.group(2)}", text)
    return _BASE58_RUN.sub(lambda m: f"{m.group(1)}…{m.group(2)}", text)


def parse_soma(text: str) -> float:
    try:
        return amounts.parse_soma(text)
    except UsageError as exc:
        raise ValueError(str(exc)) from None


def parse_bps(text: str) -> int:
    try:
        return amounts.parse_bps(text)
    except UsageError as exc:
        raise ValueError(str(exc)) from None


class QuitWarningScreen(ModalScreen[bool]):
    """Shown by ``q`` while a reveal window is open and unrevealed."""

    BINDINGS = bindings(QUIT_WARNING_KEYS)
    DEFAULT_CSS = """
    QuitWarningScreen { align: center middle; }
    QuitWarningScreen > #dialog {
        width: 76; max-width: 100%; height: auto; border: thick $error; background: $surface; padding: 0 1;
    }
    """

    def __init__(
        self, entries: Sequence[QueueEntry], now: float, quit_key: str, quit_keys: Sequence[str] = ()
    ) -> None:
        super().__init__()
        self.entries = list(entries)
        self.now = now
        self.quit_key = quit_key  # shown
        self.quit_keys = set(quit_keys)  # whatever quits on the main screen also confirms here

    def on_key(self, event: events.Key) -> None:
        if event.key in self.quit_keys:
            event.stop()
            self.dismiss(True)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as box:
            box.border_title = "!! A reveal window is open"
            lines = []
            for e in self.entries:
                _, _, left, _ = live_state(e, self.now)
                lines.append(f"  {short_id(e.model_id)}  closes in {format_countdown(left)}")
            yield Static(
                Text(
                    "Unrevealed commits in their window:\n"
                    + "\n".join(lines)
                    + "\nA missed first reveal costs half the model's stake. Autopilot or "
                    "`soma-console reveal` can still reveal after you quit, if they run in time.",
                )
            )
            yield Static(
                Text.assemble(
                    "Press ", (self.quit_key, "bold"), " again to quit anyway, escape to stay and press r."
                ),
                id="quit-help",
            )

    def action_confirm_quit(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class HelpScreen(ModalScreen[None]):
    """The keys of the focused pane, then the ones that work everywhere, with their binding ids."""

    BINDINGS = bindings(HELP_KEYS)
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > #dialog {
        width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, title: str, sections: Sequence[tuple[str, Sequence[tuple[str, str, str]]]]) -> None:
        super().__init__()
        self.title_text = title
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog") as box:
            box.border_title = self.title_text
            for heading, rows in self.sections:
                table = Table(
                    title=heading, title_justify="left", title_style="bold", box=None, padding=(0, 2)
                )
                table.add_column("key", no_wrap=True, style="bold")
                table.add_column("does")
                table.add_column(Text("binding id ([keys] in config.toml)"), style="dim")
                for key, what, binding_id in rows:
                    table.add_row(key, what, binding_id)
                yield Static(table)
            yield Static("Escape closes. ctrl+p (or :) opens the command palette.")

    def action_close(self) -> None:
        self.dismiss(None)
