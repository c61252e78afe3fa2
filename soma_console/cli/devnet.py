"""``soma-console devnet``: run the embedded SOMA-compatible chain; ``devnet advance``/``status``."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from soma_console.config import DEVNET_HOST, DEVNET_PORTS
from soma_console.context import AppContext
from soma_console.errors import UsageError, UserError


def _port(name: str, default: int, help_text: str) -> Any:
    return click.option(
        name, type=click.IntRange(0, 65535), default=default, show_default=True, help=help_text
    )


@click.group(invoke_without_command=True)
@click.option("--host", default=DEVNET_HOST, show_default=True, help="Address to listen on.")
@_port("--port", DEVNET_PORTS["rpc"], "gRPC RPC port (0 picks a free one).")
@_port("--faucet-port", DEVNET_PORTS["faucet"], "Faucet port.")
@_port("--scoring-port", DEVNET_PORTS["scoring"], "Scoring service port (Score and Health).")
@_port("--admin-port", DEVNET_PORTS["admin"], "Admin port (advance epoch).")
@_port("--blob-port", DEVNET_PORTS["blob"], "HTTP blob store port.")
@click.option(
    "--epoch-seconds",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Epoch length; 0 means epochs advance only on request.",
)
@click.option(
    "--state",
    "state_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="State directory (default: the devnet directory under the console's data dir).",
)
@click.option(
    "--fund", multiple=True, metavar="ADDRESS", help="Give ADDRESS faucet coins at start (repeatable)."
)
@click.option(
    "--fund-soma",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="SOMA each --fund address receives (default: one faucet grant).",
)
@click.option(
    "--fund-below",
    type=click.FloatRange(min=0),
    default=None,
    help="Fund a --fund address only while it holds less than this many SOMA.",
)
@click.option(
    "--blob-max-bytes",
    type=click.IntRange(min=1),
    default=8 * 1024**3,
    show_default=True,
    help="Largest upload the blob store accepts.",
)
@click.option(
    "--model-preset",
    type=click.Choice(["v1", "tiny", "small"]),
    default="v1",
    show_default=True,
    help="Model size: the chain's embedding dimension and the scoring model (v1 2048, tiny 64 like "
    "`train --preset tiny`, small 16 like upstream's --small-model localnet).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line with the endpoints when ready.")
@click.option(
    "--submitter",
    is_flag=True,
    help="Run the built-in data submitter: every epoch it scores corpus pieces against open targets "
    "and submits the hits.",
)
@click.option(
    "--exit-with-parent", is_flag=True, hidden=True, help="Stop when the parent process dies (tests)."
)
@click.pass_context
def devnet(
    ctx: click.Context,
    host: str,
    port: int,
    faucet_port: int,
    scoring_port: int,
    admin_port: int,
    blob_port: int,
    epoch_seconds: float,
    state_dir: Path | None,
    fund: tuple[str, ...],
    fund_soma: float | None,
    fund_below: float | None,
    blob_max_bytes: int,
    model_preset: str,
    as_json: bool,
    submitter: bool,
    exit_with_parent: bool,
) -> None:
    """Run a local SOMA devnet in the foreground (Ctrl-C stops it).

    With the default ports, ``SomaClient(chain="localnet")`` from soma-sdk works against it
    unchanged, faucet and advance_epoch included.
    """
    if ctx.invoked_subcommand is not None:
        return
    from soma_console.devnet.node import DevnetConfig, DevnetNode
    from soma_console.encoding import normalize_address

    app: AppContext = ctx.obj
    ports = [port, faucet_port, scoring_port, admin_port, blob_port]
    nonzero = [p for p in ports if p]
    if len(nonzero) != len(set(nonzero)):
        raise UsageError(
            "two devnet services were given the same port.", hint="Give each service its own port."
        )
    config = DevnetConfig(
        state_dir=(state_dir or app.home.devnet_dir).expanduser().resolve(),
        host=host,
        rpc_port=port,
        faucet_port=faucet_port,
        scoring_port=scoring_port,
        admin_port=admin_port,
        blob_port=blob_port,
        epoch_seconds=epoch_seconds,
        fund=tuple(normalize_address(a) for a in fund),
        fund_shannons=None if fund_soma is None else round(fund_soma * 1e9),
        fund_below_shannons=None if fund_below is None else round(fund_below * 1e9),
        blob_max_bytes=blob_max_bytes,
        model_preset=model_preset,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    node = DevnetNode(config)
    runner: Any = None
    if not as_json:
        node.on_event = lambda text: click.echo(f"{time.strftime('%H:%M:%S')}  {text}")
    endpoints = node.start()
    try:
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        urls = endpoints.as_dict()
        engine = node.engine
        assert engine is not None
        if as_json:
            click.echo(
                json.dumps(
                    {"event": "ready", **urls, "state_dir": str(config.state_dir), "epoch": engine.epoch}
                )
            )
        else:
            every = f"every {epoch_seconds:g} s" if epoch_seconds > 0 else "only on request (devnet advance)"
            click.echo(f"SOMA devnet running: epoch {engine.epoch}, epochs advance {every}")
            click.echo(f"  state    {config.state_dir}")
            for label, key in (("rpc", "rpc_url"), ("faucet", "faucet_url"), ("admin", "admin_url")):
                click.echo(f"  {label:<8} {urls[key]}")
            click.echo(f"  scoring  {urls['scoring_url']}")
            click.echo(f"  blobs    {urls['blob_url']}/blobs/<name>")
            if (port, faucet_port, scoring_port, admin_port) == (
                9000,
                9123,
                9124,
                9125,
            ) and host == DEVNET_HOST:
                click.echo('Connect with soma_sdk.SomaClient(chain="localnet"). Ctrl-C stops the devnet.')
            else:
                click.echo(f'Connect with soma_sdk.SomaClient("{urls["rpc_url"]}"). Ctrl-C stops the devnet.')
        sys.stdout.flush()
        if submitter:
            from soma_console.devnet.submitter import SubmitterThread

            runner = SubmitterThread(urls, on_event=node.on_event).start()
        parent = os.getppid()
        while not stop.wait(0.5):
            if exit_with_parent and os.getppid() != parent:
                break  # the test runner that started us is gone: do not linger on its ports
    finally:
        if runner is not None:
            runner.stop()
        node.stop()
    if not as_json:
        click.echo("devnet stopped.")


@devnet.command()
@click.option("--admin-url", default=None, help="Admin endpoint (default: the configured chain's).")
@click.pass_obj
def advance(app: AppContext, admin_url: str | None) -> None:
    """Advance the devnet to the next epoch now."""
    import grpc

    from soma_console.core.bcs import BcsError, Reader

    url = admin_url or app.chain.admin_url or f"http://{DEVNET_HOST}:{DEVNET_PORTS['admin']}"
    target = url.split("://", 1)[-1].rstrip("/")
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(
            "/admin.Admin/AdvanceEpoch", request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        try:
            raw = call(b"", timeout=30)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            if code == grpc.StatusCode.UNAVAILABLE:
                raise UserError(
                    f"no devnet admin service answers at {url}.", hint="Start one with `soma-console devnet`."
                ) from None
            raise UserError(
                f"the admin service at {url} refused: {exc.details() if hasattr(exc, 'details') else exc}."
            ) from None
    try:
        r = Reader(raw)
        epoch = r.u64()
        r.finish()
    except BcsError:
        raise UserError(f"{url} did not answer like a SOMA admin service.") from None
    click.echo(f"epoch {epoch}")


@devnet.command()
@click.option("--blob-url", default=None, help="Devnet blob endpoint (default: the configured chain's).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON.")
@click.pass_obj
def status(app: AppContext, blob_url: str | None, as_json: bool) -> None:
    """Show the devnet's model registry with each model's weights check."""
    import httpx

    from soma_console.cli.output import print_json, print_table

    base = (blob_url or app.chain.blob_url or f"http://{DEVNET_HOST}:{DEVNET_PORTS['blob']}").rstrip("/")
    try:
        resp = httpx.get(f"{base}/devnet/registry", timeout=10)
        resp.raise_for_status()
        data = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise UserError(
            f"no devnet answers at {base} ({type(exc).__name__}).",
            hint="Start one with `soma-console devnet`.",
        ) from None
    if as_json:
        print_json(data)
        return
    rows = []
    for model_id, m in data["models"].items():
        check = m.get("weights_check") or {}
        rows.append(
            {
                "model": model_id[:18] + "…",
                "state": m["state"],
                "stake (SOMA)": f"{m['stake'] / 1e9:g}",
                "commission": m["commission_rate"],
                "weights": check.get("status", "-")
                + (f" ({check['architecture']})" if check.get("architecture") else ""),
            }
        )
    print_table(
        rows,
        ["model", "state", "stake (SOMA)", "commission", "weights"],
        title=f"devnet epoch {data['epoch']}",
    )
