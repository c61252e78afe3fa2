"""The on-chain commands: commit, queue, reveal, models and model actions.

Each one runs on one event loop with one ChainSession and the journal, through
:class:`~soma_console.core.lifecycle.Lifecycle`, the same code the console uses. Anything that sends
a transaction prints its plan and asks first (``--yes`` skips the question, for scripts).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from soma_console.cli.common import make_session, short_model_id
from soma_console.cli.output import confirm, print_json, print_table, stderr_console, stdout_console
from soma_console.context import AppContext
from soma_console.core.actions import ActionPlan, ActionResult
from soma_console.core.amounts import parse_bps, parse_soma
from soma_console.core.chain_errors import RevealTooEarly, soma
from soma_console.core.chain_identity import adopt_chain_identity
from soma_console.core.journal import Journal
from soma_console.core.lifecycle import Lifecycle
from soma_console.core.reveal_queue import format_countdown
from soma_console.core.wallet import load_signer
from soma_console.errors import UserError
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
            await adopt_chain_identity(session, journal)
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


# -- ids as tables print them ------------------------------------------------------------------------
_HEX_PREFIX = re.compile(r"(?:0x)?([0-9a-f]{4,63})")
_CHECKPOINT_REF = re.compile(r"(?P<run>[^/@]+)@(?P<step>\d+|final)")


async def full_model_id(lc: Lifecycle, text: str) -> str:
    """``text`` as a whole model id: a full id as it is, a short one (the tables' ``0x`` and 12
    hex digits, or any unique prefix) looked up among the chain's models."""
    match = _HEX_PREFIX.fullmatch(text.strip().lower())
    if match is None:
        return text  # whole ids and anything else: the planner checks them
    prefix = match.group(1)
    snap = await lc.session.snapshot()
    hits = sorted(
        {m.model_id for m in snap.models if m.model_id.lower().removeprefix("0x").startswith(prefix)}
    )
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise UserError(f"no model id starts with {text}.", hint="See `soma-console models`.")
    raise UserError(f"{text} is the start of {len(hits)} model ids; type more of it.")


def checkpoint_path(app: AppContext, text: str) -> str:
    """``RUN@STEP`` (as ``checkpoints`` prints it) or ``RUN@final`` as the checkpoint's file;
    anything else as it is."""
    match = _CHECKPOINT_REF.fullmatch(text.strip())
    if match is None or Path(text).expanduser().exists():
        return text
    cdir = app.home.runs_dir / match["run"] / "checkpoints"
    step = match["step"]
    name = "model-final.safetensors" if step == "final" else f"checkpoint-{int(step):08d}.safetensors"
    if not (cdir / name).is_file():
        raise UserError(
            f"there is no checkpoint {text}.", hint="See `soma-console checkpoints` for the ones there are."
        )
    return str(cdir / name)


# -- commit ---------------------------------------------------------------------------------------
@click.command()
@click.argument("checkpoint")
@click.option("--model", "model_id", help="Commit an update to this model (default: a new model).")
@click.option(
    "--commission", "commission_text", help="Commission for a new model: bps (250) or percent (2.5%)."
)
@click.option("--stake", "stake_text", help="Stake for a new model, in SOMA (default: the minimum).")
@click.option("--storage", help="Where the encrypted weights go (see docs/storage.md; default per chain).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.pass_obj
def commit(
    app: AppContext,
    checkpoint: str,
    model_id: str | None,
    commission_text: str | None,
    stake_text: str | None,
    storage: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Encrypt, upload and commit CHECKPOINT (a .safetensors file, its manifest, or a run name)."""
    app.require_writable("commit")
    commission = None if commission_text is None else parse_bps(commission_text)
    stake = None if stake_text is None else parse_soma(stake_text)

    checkpoint = checkpoint_path(app, checkpoint)

    async def job(lc: Lifecycle) -> ActionResult:
        plan = await lc.plan_commit(
            checkpoint,
            model_id=None if model_id is None else await full_model_id(lc, model_id),
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
@click.option("--wide", is_flag=True, help="Show model ids whole.")
@click.option(
    "--earlier",
    is_flag=True,
    help="The journal's commits on earlier networks of this chain name (before a reset); offline.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the queue as JSON.")
@click.pass_obj
def queue(app: AppContext, show_all: bool, wide: bool, earlier: bool, as_json: bool) -> None:
    """Every commit waiting for its reveal, with its window and countdowns."""
    if earlier:
        _earlier_commits(app, wide=wide, as_json=as_json)
        return

    async def job(lc: Lifecycle) -> tuple[list[Any], list[str], int]:
        snap = await lc.session.head()  # windows need the clock; reconcile reads models if it must
        changes = await lc.reconcile(snap)
        return lc.queue(snap, time.time()), changes, snap.epoch

    entries, changes, epoch = with_lifecycle(app, job, signer_required=False)
    if not show_all:
        entries = [e for e in entries if e.state not in ("revealed", "missed", "overwritten", "failed")]
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
            "model": short_model_id(e.model_id, wide=wide),
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
        keep=("model",),
    )


def _earlier_commits(app: AppContext, *, wide: bool, as_json: bool) -> None:
    """Commits the journal set aside when this chain name started answering as another network:
    the record, read from the journal alone (that network is gone)."""
    path = app.home.journal_path
    if not path.exists():
        rows: list[Any] = []
    else:
        with Journal.open(path, create=False) as journal:
            prefix = f"{app.chain.name}~"
            rows = [
                i
                for chain in journal.chains()
                if chain.startswith(prefix)
                for i in journal.intents(chain=chain, kinds=("commit",))
            ]
    if as_json:
        print_json(
            {
                "entries": [
                    {
                        "chain": i.chain,
                        "intent_id": i.id,
                        "model_id": i.model_id,
                        "commit_epoch": i.commit_epoch,
                        "state": i.state,
                        "revealed_epoch": i.revealed_epoch,
                        "digest": i.digest,
                        "error": i.error,
                    }
                    for i in rows
                ]
            }
        )
        return
    if not rows:
        stdout_console().print(f"No commits from earlier networks named {app.chain.name}.")
        return
    table = [
        {
            "network": i.chain,
            "model": short_model_id(i.model_id, wide=wide),
            "commit": i.commit_epoch,
            "state": i.state,
            "revealed": i.revealed_epoch,
        }
        for i in rows
    ]
    print_table(table, list(table[0]), title="Commits on earlier networks (journal only)", keep=("model",))


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
                plan = await lc.plan_reveal(None if model_id is None else await full_model_id(lc, model_id))
            except RevealTooEarly as exc:
                if not wait:
                    raise
                if not asked:
                    # Its message, not its hint: the hint says to wait, which is what happens now.
                    stderr_console().print(redact(exc.message), markup=False, highlight=False)
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
@click.option("--wide", is_flag=True, help="Show model ids and owners whole.")
@click.option("--json", "as_json", is_flag=True, help="Print the models as JSON.")
@click.pass_obj
def models(app: AppContext, mine: bool, wide: bool, as_json: bool) -> None:
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
            "": "*" if r["mine"] else "",
            "model": short_model_id(r["model_id"], wide=wide),
            "owner": "you" if r["mine"] else short_model_id(r.get("owner"), wide=wide),
            "status": r.get("status"),
            "arch": r.get("architecture"),
            "stake": soma(r.get("stake")),
            "commission": r.get("commission_rate"),
            "next": r.get("next_commission_rate"),
            "update": "yes" if r.get("has_pending_update") else "",
            "embedding": {True: "matches", False: "DIFFERS", None: ""}[r["embedding_matches"]],
        }
        for r in rows
    ]
    print_table(
        table, list(table[0]), title=f"Models (epoch {snap.epoch}; * = yours)", keep=("model", "owner")
    )


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


# A negative number is a value to refuse in words, not an unknown option.
_NUMBERS = {"ignore_unknown_options": True}


@model.command("commission", context_settings=_NUMBERS)
@click.argument("model_id")
@click.argument("rate", metavar="BPS")
@_yes
@_json
@click.pass_obj
def model_commission(app: AppContext, model_id: str, rate: str, yes: bool, as_json: bool) -> None:
    """Set MODEL_ID's commission to BPS: basis points (250) or percent (2.5%), effective next epoch."""
    bps = parse_bps(rate)

    async def plan(lc: Lifecycle) -> ActionPlan:
        return await lc.plan_commission(await full_model_id(lc, model_id), bps)

    _simple(app, "commission", plan, yes, as_json)


@model.command("stake", context_settings=_NUMBERS)
@click.argument("model_id")
@click.argument("amount_text", metavar="AMOUNT")
@_yes
@_json
@click.pass_obj
def model_stake(app: AppContext, model_id: str, amount_text: str, yes: bool, as_json: bool) -> None:
    """Add AMOUNT SOMA of stake to MODEL_ID."""
    amount = parse_soma(amount_text)

    async def plan(lc: Lifecycle) -> ActionPlan:
        from dataclasses import replace

        from soma_console.core.onchain.payloads import StakePayload, payload_of
        from soma_console.core.stake_whatif import stake_plan_whatif

        planned = await lc.plan_stake(await full_model_id(lc, model_id), amount)
        stake = payload_of(planned, StakePayload)
        extra = await stake_plan_whatif(lc.session, stake.model_id, stake.amount)
        return replace(planned, lines=(*planned.lines, *extra))  # what the stake does to its targets

    _simple(app, "stake", plan, yes, as_json)


@model.command("deactivate")
@click.argument("model_id")
@_yes
@_json
@click.pass_obj
def model_deactivate(app: AppContext, model_id: str, yes: bool, as_json: bool) -> None:
    """Deactivate MODEL_ID (irreversible)."""

    async def plan(lc: Lifecycle) -> ActionPlan:
        return await lc.plan_deactivate(await full_model_id(lc, model_id))

    _simple(app, "deactivate", plan, yes, as_json)
