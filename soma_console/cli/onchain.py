"""The on-chain commands: commit, queue, reveal, models and model actions.

Each one runs on one event loop with one ChainSession and the journal, through
:class:`~soma_console.core.lifecycle.Lifecycle`, the same code the console uses. Anything that sends
a transaction prints its plan and asks first (``--yes`` skips the question, for scripts).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from soma_console.cli.common import make_session
from soma_console.cli.output import confirm, print_json, print_table, stderr_console, stdout_console
from soma_console.context import AppContext
from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.chain_errors import RevealTooEarly, soma
from soma_console.core.journal import Journal
from soma_console.core.lifecycle import Lifecycle
from soma_console.core.reveal_queue import format_countdown
from soma_console.core.wallet import load_signer
from soma_console.secrets import redact

T = TypeVar("T")


def with_lifecycle(
    app: AppContext, job: Callable[[Lifecycle], Awaitable[T]], *, signer_required: bool = True
) -> T:
    """Run ``job`` with this process's one Lifecycle (session + journal + signer), then close them."""
    signer = load_signer(app.home, required=signer_required)

    async def main() -> T:
        journal = Journal.open(app.home.ensure().journal_path)
        session = make_session(app, address=signer.address if signer else None)
        try:
            return await job(Lifecycle(app, session, journal, signer))
        finally:
            await session.close()
            journal.close()

    return asyncio.run(main())


def _progress(quiet: bool) -> Callable[[str], None]:
    err = stderr_console()
    last = [""]
    # Steps are shown to a person at a terminal; scripts get stderr for errors only.
    quiet = quiet or not err.is_terminal

    def report(line: str) -> None:
        if quiet or line == last[0]:
            return
        last[0] = line
        err.print(f"[dim]… {redact(line)}[/]")

    return report


def _show_plan(plan: ActionPlan, *, to_stderr: bool) -> None:
    con = stderr_console() if to_stderr else stdout_console()
    con.print(plan.render_text(), markup=False, highlight=False)


def _confirm_plan(plan: ActionPlan, yes: bool) -> None:
    expect = plan.confirm_word if (plan.irreversible or plan.confirm_word == "overwrite") else None
    confirm("Send this?", yes=yes, expect=expect)


async def _plan_confirm_execute(lc: Lifecycle, plan: ActionPlan, *, yes: bool, as_json: bool) -> ActionResult:
    _show_plan(plan, to_stderr=as_json)
    _confirm_plan(plan, yes)
    return await lc.execute(plan, _progress(as_json))


def _print_result(result: ActionResult, as_json: bool) -> None:
    if as_json:
        print_json({"action": result.action, "ok": result.ok, "summary": result.summary, **result.data})
        return
    con = stdout_console()
    con.print(result.summary[0].upper() + result.summary[1:] + ".")
    if result.digest:
        con.print(f"digest  {result.digest}")


# -- commit ---------------------------------------------------------------------------------------
@click.command()
@click.argument("checkpoint")
@click.option("--model", "model_id", help="Commit an update to this model (default: a new model).")
@click.option("--commission", "commission", type=int, help="Commission for a new model, in bps (0..10000).")
@click.option("--stake", "stake", type=float, help="Stake for a new model, in SOMA (default: the minimum).")
@click.option("--storage", help="Where the encrypted weights go (see docs/storage.md; default per chain).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.pass_obj
def commit(
    app: AppContext,
    checkpoint: str,
    model_id: str | None,
    commission: int | None,
    stake: float | None,
    storage: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Encrypt, upload and commit CHECKPOINT (a .safetensors file, its manifest, or a run name)."""
    app.require_writable("commit")

    async def job(lc: Lifecycle) -> ActionResult:
        plan = await lc.plan_commit(
            checkpoint,
            model_id=model_id,
            commission_bps=commission,
            stake_soma=stake,
            storage=storage,
            progress=_progress(as_json),
        )
        return await _plan_confirm_execute(lc, plan, yes=yes, as_json=as_json)

    result = with_lifecycle(app, job)
    _print_result(result, as_json)
    if not as_json:
        stdout_console().print(
            f"Reveal it during epoch {result.data['reveal_epoch']}: `soma-console reveal --wait` "
            "or keep `soma-console autopilot --yes` running."
        )


# -- queue ----------------------------------------------------------------------------------------
@click.command()
@click.option("--all", "show_all", is_flag=True, help="Include revealed and missed commits.")
@click.option("--json", "as_json", is_flag=True, help="Print the queue as JSON.")
@click.pass_obj
def queue(app: AppContext, show_all: bool, as_json: bool) -> None:
    """Every commit waiting for its reveal, with its window and countdowns."""

    async def job(lc: Lifecycle) -> tuple[list[Any], list[str], int]:
        snap = await lc.session.head()  # windows need the clock; reconcile reads models if it must
        changes = await lc.reconcile(snap)
        return lc.queue(snap, time.time()), changes, snap.epoch

    entries, changes, epoch = with_lifecycle(app, job, signer_required=False)
    if not show_all:
        entries = [e for e in entries if e.state not in ("revealed", "missed", "failed")]
    for line in changes:
        stderr_console().print(f"[yellow]{redact(line)}[/]")
    if as_json:
        print_json({"epoch": epoch, "entries": [e.to_json() for e in entries]})
        return
    if not entries:
        stdout_console().print(f"Nothing waiting for a reveal (epoch {epoch}).")
        return
    rows = [
        {
            "model": e.model_id,
            "kind": e.kind,
            "commit": e.commit_epoch,
            "reveal": e.reveal_epoch,
            "state": e.state.upper() if e.alarm else e.state,
            "opens in": format_countdown(e.seconds_to_open),
            "closes in": format_countdown(e.seconds_to_close),
        }
        for e in entries
    ]
    print_table(
        rows,
        ["model", "kind", "commit", "reveal", "state", "opens in", "closes in"],
        title=f"Reveal queue (epoch {epoch})",
    )


# -- reveal ---------------------------------------------------------------------------------------
@click.command()
@click.option("--model", "model_id", help="Reveal only this model's commit.")
@click.option("--wait", is_flag=True, help="Sleep until the window opens, then reveal.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def reveal(app: AppContext, model_id: str | None, wait: bool, yes: bool, as_json: bool) -> None:
    """Reveal every commit whose window is open (the epoch right after its commit)."""
    app.require_writable("reveal")

    said = [""]

    def waiting(left: float) -> None:
        line = (
            f"the window opens in {format_countdown(left)}"
            if left > 0
            else "the epoch boundary is due; waiting for the chain to close the epoch"
        )
        if not as_json and line != said[0]:
            said[0] = line
            stderr_console().print(f"[dim]… {line}[/]")

    async def job(lc: Lifecycle) -> ActionResult:
        asked = False
        while True:
            try:
                plan = await lc.plan_reveal(model_id)
            except RevealTooEarly as exc:
                if not wait:
                    raise
                if not asked:
                    stderr_console().print(f"{redact(str(exc))}")
                    confirm("Wait, then reveal?", yes=yes)
                    asked = True
                snap = lc.session.latest
                await lc.session.wait_for_epoch((snap.epoch + 1) if snap else 0, on_wait=waiting)
                continue
            _show_plan(plan, to_stderr=as_json)
            if not asked:
                _confirm_plan(plan, yes)
            return await lc.execute(plan, _progress(as_json))

    _print_result(with_lifecycle(app, job), as_json)


# -- models ---------------------------------------------------------------------------------------
@click.command()
@click.option("--mine", is_flag=True, help="Only models this wallet owns.")
@click.option("--json", "as_json", is_flag=True, help="Print the models as JSON.")
@click.pass_obj
def models(app: AppContext, mine: bool, as_json: bool) -> None:
    """Every model on the chain: status, stake, commission; yours marked."""
    signer = load_signer(app.home, required=mine)
    address = signer.address if signer else None

    async def job(lc: Lifecycle) -> tuple[Any, dict[str, Any]]:
        snap = await lc.session.snapshot()
        committed: dict[str, Any] = {}
        for intent in lc.journal.intents(chain=app.chain.name, kinds=("commit",), states=("revealed",)):
            if intent.model_id and intent.model_id not in committed:
                committed[intent.model_id] = lc.journal.artifact(intent.artifact_id or 0)
        return snap, committed

    snap, committed = with_lifecycle(app, job, signer_required=False)
    rows = []
    for m in snap.models:
        is_mine = address is not None and m.is_owned_by(address)
        if mine and not is_mine:
            continue
        row = m.to_json()
        row["mine"] = is_mine
        art = committed.get(m.model_id) if is_mine else None
        if art is not None and art.embedding is not None and m.embedding is not None:
            row["embedding_matches"] = _same_embedding(art.embedding, m.embedding)
        else:
            row["embedding_matches"] = None
        row.pop("embedding", None)
        rows.append(row)
    if as_json:
        print_json({"epoch": snap.epoch, "models": rows})
        return
    if not rows:
        stdout_console().print("No models." if not mine else "This wallet owns no models.")
        return
    table = [
        {
            "model": ("* " if r["mine"] else "  ") + r["model_id"],
            "owner": (r.get("owner") or "")[:10],
            "status": r.get("status"),
            "arch": r.get("architecture_version"),
            "stake": soma(r.get("stake")),
            "commission": r.get("commission_rate"),
            "next": r.get("next_commission_rate"),
            "update": "yes" if r.get("has_pending_update") else "",
            "embedding": {True: "matches", False: "DIFFERS", None: ""}[r["embedding_matches"]],
        }
        for r in rows
    ]
    print_table(table, list(table[0]), title=f"Models (epoch {snap.epoch}; * = yours)")


def _same_embedding(a: list[float], b: tuple[float, ...]) -> bool:
    import struct

    if len(a) != len(b):
        return False
    pack = struct.Struct("<f").pack
    return all(pack(x) == pack(y) for x, y in zip(a, b, strict=True))


# -- model actions --------------------------------------------------------------------------------
@click.group()
def model() -> None:
    """Commission, stake and deactivation of one model."""


def _simple(
    app: AppContext,
    action: str,
    plan_job: Callable[[Lifecycle], Awaitable[ActionPlan]],
    yes: bool,
    as_json: bool,
) -> None:
    app.require_writable(action)

    async def job(lc: Lifecycle) -> ActionResult:
        return await _plan_confirm_execute(lc, await plan_job(lc), yes=yes, as_json=as_json)

    _print_result(with_lifecycle(app, job), as_json)


_yes = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
_json = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@model.command("commission")
@click.argument("model_id")
@click.argument("bps", type=int)
@_yes
@_json
@click.pass_obj
def model_commission(app: AppContext, model_id: str, bps: int, yes: bool, as_json: bool) -> None:
    """Set MODEL_ID's commission to BPS (0..10000; effective next epoch)."""
    _simple(app, "commission", lambda lc: lc.plan_commission(model_id, bps), yes, as_json)


@model.command("stake")
@click.argument("model_id")
@click.argument("amount", type=float)
@_yes
@_json
@click.pass_obj
def model_stake(app: AppContext, model_id: str, amount: float, yes: bool, as_json: bool) -> None:
    """Add AMOUNT SOMA of stake to MODEL_ID."""
    _simple(app, "stake", lambda lc: lc.plan_stake(model_id, amount), yes, as_json)


@model.command("deactivate")
@click.argument("model_id")
@_yes
@_json
@click.pass_obj
def model_deactivate(app: AppContext, model_id: str, yes: bool, as_json: bool) -> None:
    """Deactivate MODEL_ID (irreversible)."""
    _simple(app, "deactivate", lambda lc: lc.plan_deactivate(model_id), yes, as_json)
