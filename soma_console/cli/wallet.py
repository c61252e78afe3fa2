"""``soma-console wallet``: create, show and fund the signer."""

from __future__ import annotations

from typing import Any

import click

from soma_console.cli.common import run_with_session
from soma_console.cli.output import print_json, stdout_console
from soma_console.context import AppContext
from soma_console.core.chain import ChainSession
from soma_console.core.chain_errors import ChainError, soma
from soma_console.core.wallet import create_key_file, load_signer


@click.group()
def wallet() -> None:
    """The signer: where its key comes from, its address and balance."""


@wallet.command("new")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def wallet_new(app: AppContext, as_json: bool) -> None:
    """Generate a new Ed25519 key in the key file (mode 0600). Never overwrites one."""
    signer = create_key_file(app.home.ensure())
    if as_json:
        print_json({"address": signer.address, "key_file": str(app.home.key_file)})
        return
    con = stdout_console()
    con.print(f"New wallet [bold]{signer.address}[/]")
    con.print(f"Key written to {app.home.key_file} (mode 0600). Back it up: it controls this address.")
    if app.chain.faucet_url:
        con.print("Fund it with `soma-console wallet faucet`.")


@wallet.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def wallet_show(app: AppContext, as_json: bool) -> None:
    """Print the address, where the key came from and (if the chain answers) the balance."""
    signer = load_signer(app.home)
    assert signer is not None

    async def job(session: ChainSession) -> dict[str, Any]:
        try:
            snap = await session.head()
        except ChainError as exc:
            return {"balance": None, "chain_error": str(exc)}
        return {"balance": snap.balance, "epoch": snap.epoch, "chain_error": None}

    info = run_with_session(app, job, address=signer.address)
    out = {"address": signer.address, "source": signer.source, "chain": app.chain.name, **info}
    if as_json:
        print_json(out)
        return
    con = stdout_console()
    con.print(f"address  {signer.address}")
    con.print(f"key      {signer.source}")
    if info["chain_error"]:
        con.print(f"balance  unknown ({info['chain_error']})")
    else:
        con.print(f"balance  {soma(info['balance'])} on {app.chain.name} (epoch {info['epoch']})")


@wallet.command("faucet")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def wallet_faucet(app: AppContext, as_json: bool) -> None:
    """Ask the chain's faucet for funds for the wallet's address."""
    signer = load_signer(app.home)
    assert signer is not None

    async def job(session: ChainSession) -> dict[str, Any]:
        before = (await session.head()).balance
        await session.request_faucet(signer.address)
        after = (await session.head()).balance
        return {"before": before, "after": after}

    result = run_with_session(app, job, address=signer.address)
    if as_json:
        print_json(
            {"address": signer.address, "balance_before": result["before"], "balance": result["after"]}
        )
        return
    gained = (result["after"] or 0) - (result["before"] or 0)
    stdout_console().print(f"Faucet sent {soma(gained)}; balance now {soma(result['after'])}.")
