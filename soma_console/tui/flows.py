"""The console's action flows: what happens between a key and a transaction.

Each flow runs in one exclusive worker (group ``flow``): it asks for a value if the action needs
one (a stake, a commission), has the services plan the action, shows the plan in a dialog that
sends nothing unless the plan's word is typed, then executes it and reloads what it changed.
While a flow runs, the main screen's action keys are disabled (``ConsoleFlows.running``), so keys
typed ahead (the confirmation word, say) cannot start another.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.errors import ReadOnlyError
from soma_console.secrets import redact
from soma_console.tui.dialogs import ConfirmPlanScreen, TrainDialog, ValueDialog, parse_bps, parse_soma
from soma_console.tui.messages import ActionProgress
from soma_console.tui.status_bar import short_id

if TYPE_CHECKING:
    from soma_console.tui.app import ConsoleApp


class ConsoleFlows:
    """The flows of one console; ``app.flows``. State shown elsewhere (``app.executing``) stays
    on the app."""

    def __init__(self, app: ConsoleApp) -> None:
        self.app = app

    def refuse_readonly(self, what: str) -> bool:
        """True (and a notification, nothing sent) when read-only mode forbids ``what``."""
        if not self.app.services.readonly:
            return False
        self.app.report(ReadOnlyError(what), what)
        return True

    def _busy(self) -> bool:
        if self.app.executing is None:
            return False
        self.app.notify(
            f"A {self.app.executing} transaction is being sent; wait for it to finish.",
            severity="warning",
            timeout=5,
        )
        return True

    @property
    def running(self) -> bool:
        """An action flow (plan, dialog, execute) is under way."""
        return any(w.group == "flow" and not w.is_finished for w in self.app.workers)

    def _run_flow(self, flow: Callable[[], Awaitable[None]], description: str) -> None:
        self.app.call_after_refresh(self.app.main.refresh_bindings)
        self.app.run_worker(flow, group="flow", exclusive=True, exit_on_error=False, description=description)

    async def _confirm_and_execute(self, plan: ActionPlan) -> ActionResult | None:
        confirmed = await self.app.push_screen_wait(ConfirmPlanScreen(plan))
        if not confirmed:
            self.app.notify(f"Cancelled; nothing was sent ({plan.action}).", timeout=4)
            return None
        return await self._execute(plan)

    async def _execute(self, plan: ActionPlan) -> ActionResult:
        self.app.executing = plan.action
        self.app.action_log.border_subtitle = f"{plan.action}: starting"
        try:
            result = await self.app.services.execute(plan, self.progress)
        except BaseException as exc:
            if isinstance(exc, Exception):
                self.app.action_log.note(f"✗ {plan.action} failed: {redact(str(exc))}", self.app.clock())
            raise
        finally:
            self.app.executing = None
            self.app.action_log.border_subtitle = ""
        mark = "✓" if result.ok else "✗"
        self.app.notify(f"{mark} {result.summary}", title=plan.action, timeout=6)
        if result.digest is None:
            self.app.action_log.note(f"{mark} {result.summary}", self.app.clock())
        self.app.load_audit()
        self.app.load_queue()
        if self.app.training.followed:
            self.app.load_checkpoints(self.app.training.followed)
        return result

    def progress(self, text: str) -> None:
        # The services may report from any thread; post_message is thread-safe.
        self.app.post_message(ActionProgress(text))

    def _plan_then_confirm(self, what: str, planner: Callable[[], Awaitable[ActionPlan]]) -> None:
        if self.refuse_readonly(what) or self._busy():
            return

        async def flow() -> None:
            plan = await planner()
            await self._confirm_and_execute(plan)

        self._run_flow(flow, what)

    def commit_selected(self, model_id: str | None = None) -> None:
        checkpoint = self.app.checkpoints_pane.selected()
        if self.refuse_readonly("commit"):
            return
        if checkpoint is None:
            self.app.notify("Select a checkpoint in the Checkpoints pane first (2 jumps there).", timeout=5)
            return
        path = checkpoint.path
        self._plan_then_confirm(
            "commit", lambda: self.app.services.plan_commit(path, model_id, None, None, self.progress)
        )

    def claim_wins(self) -> None:
        """Plan claiming every claimable win of the wallet's models; a typed word confirms."""
        planner = getattr(self.app.services, "plan_claim", None)
        if planner is None:
            self.app.notify("Claiming is not available here; use `soma-console claim`.", timeout=5)
            return
        self._plan_then_confirm("claim", planner)

    def reveal_selected(self, model_id: str | None = None) -> None:
        if model_id is None:
            entry = self.app.queue_pane.selected()
            if entry is not None and entry in self.app.queue_pane.actionable(self.app.clock()):
                model_id = entry.model_id
        self._plan_then_confirm("reveal", lambda: self.app.services.plan_reveal(model_id))

    def _selected_model(self, what: str) -> str | None:
        model = self.app.models.selected()
        if model is None:
            self.app.notify(f"Select a model in the Models pane to {what} (4 jumps there).", timeout=5)
            return None
        return model.model_id

    def _refuse_status(self, allowed: tuple[str, ...], what: str) -> bool:
        """Say at once that the selected model cannot take ``what`` (before asking for a value)."""
        model = self.app.models.selected()
        if model is None or model.status in allowed:
            return False
        self.app.notify(
            f"Model {short_id(model.model_id)} is {model.status}; {what}.",
            title="Not possible",
            severity="warning",
            timeout=6,
        )
        return True

    def stake_selected(self) -> None:
        if self.refuse_readonly("add stake") or self._busy():
            return
        model_id = self._selected_model("add stake")
        if model_id is None:
            return
        if self._refuse_status(
            ("created", "pending", "active"), "stake goes only to created, pending or active models"
        ):
            return

        async def flow() -> None:
            amount = await self.app.push_screen_wait(
                ValueDialog(f"Add stake to {short_id(model_id)}", "Amount of SOMA to add", parse_soma)
            )
            if amount is None:
                return
            assert isinstance(amount, float)
            plan = await self.app.services.plan_stake(model_id, amount)
            await self._confirm_and_execute(plan)

        self._run_flow(flow, "add stake")

    def commission_selected(self) -> None:
        if self.refuse_readonly("set commission") or self._busy():
            return
        model_id = self._selected_model("set its commission")
        if model_id is None:
            return
        if self._refuse_status(("active",), "only an active model's commission can change"):
            return
        model = self.app.models.selected()
        current = "" if model is None or model.commission_rate is None else str(model.commission_rate)

        async def flow() -> None:
            bps = await self.app.push_screen_wait(
                ValueDialog(
                    f"Commission of {short_id(model_id)}",
                    "New commission in basis points (250) or percent (2.5%)",
                    parse_bps,
                    value=current,
                )
            )
            if bps is None:
                return
            assert isinstance(bps, int)
            plan = await self.app.services.plan_commission(model_id, bps)
            await self._confirm_and_execute(plan)

        self._run_flow(flow, "set commission")

    def deactivate_selected(self) -> None:
        if self.refuse_readonly("deactivate"):
            return
        model_id = self._selected_model("deactivate")
        if model_id is None:
            return
        self._plan_then_confirm("deactivate", lambda: self.app.services.plan_deactivate(model_id))

    def toggle_autopilot(self) -> None:
        turn_on = not bool(self.app.autopilot)
        if turn_on and self.refuse_readonly("turn autopilot on"):
            return
        self.app.switch_autopilot(turn_on)

    def start_train_flow(self) -> None:
        async def flow() -> None:
            spec = await self.app.push_screen_wait(
                TrainDialog(self.app.services.training_presets, default_steps=self._default_steps())
            )
            if spec is None:
                return
            assert isinstance(spec, dict)
            name = await self.app.services.start_training(spec)
            self.app.notify(f"Started run {name}.", timeout=5)
            self.app._select_run = name
            self.app.load_runs()

        self._run_flow(flow, "start training")

    def _default_steps(self) -> int:
        """The training dialog's steps (``[console] train_steps`` in config.toml, else 200)."""
        value = self.app.settings.get("console.train_steps", 200) if self.app.settings is not None else 200
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.app.notify(
                f"[console] train_steps must be a whole number above 0, not {value!r}; using 200.",
                title="config.toml",
                severity="warning",
                timeout=8,
            )
            return 200
        return value

    def stop_run_flow(self, run: str | None) -> None:
        if run is None:
            self.app.notify("Select a run in the Training pane first.", timeout=4)
            return
        info = self.app.training.runs.get(run)
        if info is not None and info.status != "running":
            self.app.notify(f"Run {run} is not running ({info.status}).", timeout=4)
            return

        async def flow() -> None:
            plan = ActionPlan(
                action="stop",
                title=f"Stop training run {run}",
                lines=(("Run", run), ("Effect", "the trainer saves a checkpoint if it can, then exits")),
                confirm_word="stop",
            )
            if not await self.app.push_screen_wait(ConfirmPlanScreen(plan)):
                return
            await self.app.services.stop_training(run)
            self.app.notify(f"Asked run {run} to stop.", timeout=5)
            self.app.load_runs()

        self._run_flow(flow, "stop training")
