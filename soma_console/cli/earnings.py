"""``targets``, ``earnings`` and ``claim``: what the owner's models are assigned, win and earn.

Each command first brings the local target index up to date (one pass over ListTargets), then
answers from it, so wins stay listed after the chain deletes a claimed target.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click

from soma_console.cli.common import make_session, short_id
from soma_console.cli.onchain import _progress
from soma_console.cli.output import confirm, print_json, print_table, stderr_console, stdout_console
from soma_console.context import AppContext
from soma_console.core.claims import ClaimBook, Claimer, soma
from soma_console.core.earnings import earnings_report, sync_targets
from soma_console.core.targets_index import TargetIndex
from soma_console.core.wallet import load_signer
from soma_console.errors import UserError

STATUSES = ("open", "filled", "claimable")


def index_path(app: AppContext) -> Any:
    return app.home.ensure().data_dir / "targets.sqlite"


def _say(as_json: bool, line: str) -> None:
    err = stderr_console()
    if not as_json and err.is_terminal:
        err.print(f"[dim]… {line}[/]")


async def _synced(app: AppContext, session: Any, index: TargetIndex, as_json: bool) -> tuple[Any, int]:
    snap = await session.snapshot()
    _say(as_json, "syncing the target index")
    epoch, report = await sync_targets(session, index)
    _say(as_json, f"{report.targets} targets read in {report.pages} pages")
    return snap, epoch


def _my_models(snap: Any) -> list[str]:
    return [m.model_id.lower() for m in snap.mine()]


@click.command()
@click.option("--mine", is_flag=True, help="Only targets assigned to or won by the wallet's models.")
@click.option("--epoch", type=int, help="Only targets generated in this epoch.")
@click.option("--status", type=click.Choice(STATUSES), help="Only targets with this status.")
@click.option("--wide", is_flag=True, help="Show target and model ids whole.")
@click.option("--json", "as_json", is_flag=True, help="Print the targets as JSON.")
@click.pass_obj
def targets(
    app: AppContext, mine: bool, epoch: int | None, status: str | None, wide: bool, as_json: bool
) -> None:
    """The chain's targets (kept in a local index), with their models, status and winner."""
    signer = load_signer(app.home, required=mine)

    async def main() -> list[Any]:
        index = TargetIndex.open(index_path(app))
        session = make_session(app, address=signer.address if signer else None)
        try:
            snap, _ = await _synced(app, session, index, as_json)
            models = _my_models(snap) if mine else None
            return index.targets(app.chain.name, epoch=epoch, status=status, model_ids=models)
        finally:
            await session.close()
            index.close()

    rows = asyncio.run(main())
    if as_json:
        print_json([t.to_json() for t in rows])
        return
    if not rows:
        stdout_console().print("No targets match.")
        return
    print_table(
        [
            {
                "target": short_id(t.target_id, wide=wide),
                "epoch": t.generation_epoch,
                "status": t.status,
                "models": " ".join(short_id(m, wide=wide) for m in t.model_ids),
                "winner": short_id(t.winning_model_id, wide=wide),
                "reward": soma(t.reward_pool),
            }
            for t in rows
        ],
        ["target", "epoch", "status", "models", "winner", "reward"],
        title=f"Targets ({len(rows)})",
        keep=("target", "winner"),
    )


@click.command()
@click.option("--wide", is_flag=True, help="Show target and model ids whole.")
@click.option("--json", "as_json", is_flag=True, help="Print the earnings as JSON.")
@click.pass_obj
def earnings(app: AppContext, wide: bool, as_json: bool) -> None:
    """What the wallet's models won and earned: every win, claimed or not, and totals per epoch."""
    signer = load_signer(app.home)
    assert signer is not None

    async def main() -> dict[str, Any]:
        index = TargetIndex.open(index_path(app))
        session = make_session(app, address=signer.address)
        try:
            snap, epoch = await _synced(app, session, index, as_json)
            report = earnings_report(index, app.chain.name, _my_models(snap), book=ClaimBook(index))
            report["epoch"] = epoch
            return report
        finally:
            await session.close()
            index.close()

    report = asyncio.run(main())
    if as_json:
        print_json(report)
        return
    con = stdout_console()
    con.print(
        f"Epoch {report['epoch']}: {len(report['wins'])} wins; "
        f"earned {soma(report['total_earned_shannons'])}, "
        f"claimable now {soma(report['claimable_now_shannons'])}, pending {soma(report['pending_shannons'])}."
    )
    if report["wins"]:
        print_table(
            [
                {
                    "target": short_id(w["target_id"], wide=wide),
                    "model": short_id(w["model_id"], wide=wide),
                    "epoch": w["generation_epoch"],
                    "owner share": soma(w["owner_share_shannons"]),
                    "claimable from": w["claimable_from_epoch"],
                    "claimed": "yes" if w["claimed"] else "no",
                }
                for w in report["wins"]
            ],
            ["target", "model", "epoch", "owner share", "claimable from", "claimed"],
            title="Wins",
            keep=("target", "model"),
        )


@click.command()
@click.argument("target_ids", nargs=-1, metavar="[TARGET]...")
@click.option("--all", "claim_all", is_flag=True, help="Claim every claimable win of the wallet's models.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.pass_obj
def claim(app: AppContext, target_ids: tuple[str, ...], claim_all: bool, yes: bool, as_json: bool) -> None:
    """Claim the rewards of filled targets (the wallet's claimable wins with --all, or TARGET ids)."""
    app.require_writable("claim")
    if bool(target_ids) == claim_all:
        raise UserError("name the targets to claim, or pass --all (not both).")
    signer = load_signer(app.home)
    assert signer is not None

    async def main() -> dict[str, Any]:
        index = TargetIndex.open(index_path(app))
        session = make_session(app, address=signer.address)
        try:
            claimer = Claimer(session, index, signer, app.chain.name)
            for line in await claimer.settle_pending():
                stderr_console().print(f"[yellow]{line}[/]")
            snap, _ = await _synced(app, session, index, as_json)
            chosen = await claimer.candidates(None if claim_all else target_ids, _my_models(snap))
            if not chosen:
                raise UserError(
                    "none of the wallet's models has a claimable win now (see `soma-console earnings`)."
                )
            owners = {m.model_id.lower(): m.owner for m in snap.models}
            plan = await claimer.plan(chosen, owners)
            con = stderr_console() if as_json else stdout_console()
            con.print(plan.render_text(), markup=False, highlight=False)
            confirm("Send this?", yes=yes)
            return await claimer.execute(plan, _progress(as_json))
        finally:
            await session.close()
            index.close()

    started = time.time()
    result = asyncio.run(main())
    if as_json:
        print_json(result)
        return
    con = stdout_console()
    for c in result["claimed"]:
        con.print(
            f"Claimed {c['target_id']}: owner share {soma(c['owner_share_shannons'])}, digest {c['digest']}"
        )
    con.print(
        f"{len(result['claimed'])} claimed, fees {soma(result['fees_shannons'])} "
        f"({time.time() - started:.1f} s)."
    )


@click.group()
def stake() -> None:
    """The wallet's stake positions (StakedSoma receipts) per model."""


@stake.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the positions as JSON.")
@click.pass_obj
def stake_list(app: AppContext, as_json: bool) -> None:
    """Every StakedSoma receipt the wallet holds, with the model it stakes."""
    from soma_console.cli.common import run_with_session
    from soma_console.core.stakes import list_positions

    signer = load_signer(app.home)
    assert signer is not None
    positions = run_with_session(app, lambda s: list_positions(s, signer.address), address=signer.address)
    if as_json:
        print_json([p.to_json() for p in positions])
        return
    if not positions:
        stdout_console().print("The wallet holds no stake receipts.")
        return
    print_table(
        [
            {
                "receipt": p.receipt_id,
                "model": p.model_id or "(not a model)",
                "principal": soma(p.principal),
                "since epoch": p.activation_epoch,
            }
            for p in positions
        ],
        ["receipt", "model", "principal", "since epoch"],
        title="Stake positions",
    )


@stake.command("withdraw")
@click.argument("receipt")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.pass_obj
def stake_withdraw(app: AppContext, receipt: str, yes: bool, as_json: bool) -> None:
    """Withdraw the stake receipt RECEIPT (its principal returns to the wallet)."""
    from soma_console.cli.common import run_with_session
    from soma_console.core.stakes import list_positions, plan_withdraw

    app.require_writable("stake withdraw")
    signer = load_signer(app.home)
    assert signer is not None
    wanted = receipt.lower() if receipt.lower().startswith("0x") else "0x" + receipt.lower()

    async def job(session: Any) -> dict[str, Any]:
        positions = await list_positions(session, signer.address)
        match = [p for p in positions if p.receipt_id == wanted]
        if not match:
            raise UserError(
                f"the wallet holds no stake receipt {wanted}; `soma-console stake list` shows them."
            )
        snap = await session.snapshot()
        row = snap.model(match[0].model_id) if match[0].model_id else None
        plan = plan_withdraw(match[0], row.stake if row is not None else None)
        con = stderr_console() if as_json else stdout_console()
        con.print(plan.render_text(), markup=False, highlight=False)
        confirm("Send this?", yes=yes)
        result = await session.transact("withdraw_stake", signer.keypair, wanted)
        return {"receipt_id": wanted, "principal_shannons": match[0].principal, "digest": result.digest}

    out = run_with_session(app, job, address=signer.address)
    if as_json:
        print_json(out)
        return
    stdout_console().print(f"Withdrew {soma(out['principal_shannons'])}; digest {out['digest']}.")


@stake.command("what-if")
@click.argument("model_id")
@click.argument("extra_soma", type=float)
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
@click.pass_obj
def stake_what_if(app: AppContext, model_id: str, extra_soma: float, as_json: bool) -> None:
    """How MODEL_ID's share of this epoch's targets would change with EXTRA_SOMA more stake (MODEL_ID:
    whole, or the short id tables print)."""
    from soma_console.cli.common import run_with_session
    from soma_console.core.chain import SHANNONS
    from soma_console.core.stake_whatif import stake_whatif

    if extra_soma < 0:
        raise UserError("the extra stake must be zero or more SOMA.")
    extra = round(extra_soma * SHANNONS)
    out = run_with_session(app, lambda s: stake_whatif(s, model_id, extra)).to_json()
    if as_json:
        print_json(out)
        return
    stdout_console().print(
        f"Epoch {out['epoch']}: {out['assigned_now']} of {out['targets']} targets ({out['share_now']:.1%}) "
        f"with {soma(out['stake_shannons'])}; with +{soma(extra)}: {out['assigned_after']} "
        f"({out['share_after']:.1%}). An estimate from this epoch's targets, "
        f"{out['models_per_target']} models a target (the chain's target_models_per_target)."
    )
