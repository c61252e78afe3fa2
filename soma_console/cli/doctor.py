"""``soma-console doctor``: what is installed, where things live, what answers."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import shutil
import subprocess
import sys
from typing import Any

import click

from soma_console.cli.output import print_json, stdout_console
from soma_console.context import AppContext

PACKAGES = ("soma-console", "soma-sdk", "soma-models", "textual", "rich", "torch", "modal", "safetensors")


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _gpu() -> dict[str, Any]:
    """Ask nvidia-smi rather than import torch (which costs seconds)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return {"present": False, "detail": "no nvidia-smi on PATH"}
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"present": False, "detail": f"nvidia-smi failed: {exc}"}
    names = [ln.strip() for ln in out.stdout.splitlines() if ln.strip()]
    return {"present": bool(names), "detail": "; ".join(names) or out.stderr.strip() or "no GPU listed"}


def _modal_credentials() -> dict[str, Any]:
    if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
        return {"present": True, "source": "MODAL_TOKEN_ID/MODAL_TOKEN_SECRET"}
    path = os.path.expanduser(os.environ.get("MODAL_CONFIG_PATH", "~/.modal.toml"))
    if os.path.exists(path):
        try:
            import tomllib

            with open(path, "rb") as fh:
                data = tomllib.load(fh)
            if any(isinstance(v, dict) and v.get("token_id") for v in data.values()):
                return {"present": True, "source": path}
        except (OSError, ValueError):
            return {"present": False, "source": f"{path} (unreadable)"}
    return {"present": False, "source": None}


async def _probe_chain(app: AppContext) -> dict[str, Any]:
    from soma_console.core.chain import probe_chain

    return await probe_chain(app.chain, timeout=min(5.0, app.settings.rpc_timeout))


def _wallet(app: AppContext) -> dict[str, Any]:
    from soma_console.core.wallet import describe_signer

    return describe_signer(app.home)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def doctor(app: AppContext, as_json: bool) -> None:
    """Check the installation, paths, chain, wallet, Modal credentials and GPU."""
    report: dict[str, Any] = {
        "python": sys.version.split()[0],
        "packages": {name: _version(name) for name in PACKAGES},
        "paths": {
            "config": str(app.home.config_file),
            "data": str(app.home.data_dir),
            "journal": str(app.home.journal_path),
        },
        "chain": {"name": app.chain.name, "rpc_url": app.chain.rpc_url, "readonly": app.readonly},
        "wallet": _wallet(app),
        "modal": _modal_credentials(),
        "gpu": _gpu(),
    }
    report["chain"].update(asyncio.run(_probe_chain(app)))
    if as_json:
        print_json(report)
        return
    con = stdout_console()
    ok, bad = "[green]ok[/]", "[red]--[/]"
    con.print(f"[bold]soma-console doctor[/]  (python {report['python']})")
    for name, ver in report["packages"].items():
        con.print(f"  {ok if ver else bad} {name:<14} {ver or 'not installed'}")
    con.print(f"  config   {report['paths']['config']}")
    con.print(f"  data     {report['paths']['data']}")
    ch = report["chain"]
    state = f"answers (epoch {ch['epoch']})" if ch.get("reachable") else f"does not answer: {ch.get('error')}"
    con.print(f"  {ok if ch.get('reachable') else bad} chain    {ch['name']} at {ch['rpc_url']}: {state}")
    w = report["wallet"]
    if w.get("configured"):
        con.print(f"  {ok} wallet   {w['address']} (from {w['source']})")
    else:
        con.print(f"  {bad} wallet   {w.get('error') or 'none configured'}; run `soma-console wallet new`")
    m = report["modal"]
    modal_state = (
        f"credentials from {m['source']}" if m["present"] else "no credentials (run `modal token new`)"
    )
    con.print(f"  {ok if m['present'] else bad} modal    {modal_state}")
    g = report["gpu"]
    con.print(f"  {ok if g['present'] else bad} gpu      {g['detail']}")
