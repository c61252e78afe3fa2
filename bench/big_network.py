"""Every command on a big network: N active models with 2048-float embeddings.

    python -m bench.big_network [--models 10000] [--signers 16] [--repeat 3] [--json out.json]

Starts a devnet (epochs on request), fills it with ``--models`` active models through the real
SDK (created, committed, revealed: ``bench.active_models``), trains a tiny run for a checkpoint,
then times the real ``soma-console`` in subprocesses, as a user runs it: ``wallet faucet``,
``models --json``, ``commit``, ``queue --json``, ``reveal`` (after the boundary), each with its
peak RSS (``ru_maxrss`` of that process, from ``wait4``). The console is measured in its own
process too (``console-probe``): headless Textual at 160x48 on the live services, from start to
the first full model list in the Models pane, then ``ModelsPane.show`` for a refresh with a
newly read snapshot in which nothing changed, and one in which every stake changed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.active_models import fill_active
from bench.devnet_bench import fund, start_devnet

REPO = Path(__file__).resolve().parent.parent


def run_measured(home: Path, *args: str) -> tuple[float, float, str, float]:
    """(wall seconds, peak RSS MiB, stdout, CPU seconds) of one ``soma-console`` run (``wait4``)."""
    return spawn_measured([sys.executable, "-m", "soma_console", "--home", str(home), *args])


def spawn_measured(argv: list[str]) -> tuple[float, float, str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        pid = os.posix_spawn(
            sys.executable,
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, err.fileno(), 2),
            ],
        )
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv[2:])} failed:\n{stderr}")
    return wall, usage.ru_maxrss / 1024, stdout, usage.ru_utime + usage.ru_stime


def write_home(home: Path, urls: dict[str, str]) -> str:
    """The owner's home, pointed at this devnet (ports change between runs); its wallet address."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        '[chain]\ndefault = "devnet"\n\n[chain.profiles.devnet]\n'
        f'rpc_url = "{urls["rpc_url"]}"\nfaucet_url = "{urls["faucet_url"]}"\n'
        f'admin_url = "{urls["admin_url"]}"\nblob_url = "{urls["blob_url"]}"\nis_devnet = true\n',
        encoding="utf-8",
    )
    if not list(home.rglob("signer.key")):
        run_measured(home, "wallet", "new", "--json")
    out = run_measured(home, "wallet", "show", "--json")[2]
    return str(json.loads(out)["address"])


def train_tiny(home: Path, checkpoints: int) -> list[Path]:
    """A fresh tiny run (its checkpoints were never committed) with ``checkpoints`` checkpoints."""
    run = f"big-{int(time.time())}"
    run_measured(
        home,
        "train",
        "--preset",
        "tiny",
        "--steps",
        str(2 * checkpoints),
        "--checkpoint-every",
        "2",
        "--data",
        "builtin",
        "--run",
        run,
        "--seed",  # new weights each run: the same weights are never committed twice
        str(int(time.time())),
        "--micro-batch",
        "2",
        "--grad-accum",
        "1",
        "--json",
    )
    return sorted(p for p in home.rglob("checkpoint-*.safetensors") if run in str(p))


def admin_call(urls: dict[str, str], method: str, timeout: float = 1800) -> bytes:
    import grpc

    with grpc.insecure_channel(urls["admin_url"].removeprefix("http://")) as ch:
        call = ch.unary_unary(
            f"/admin.Admin/{method}", request_serializer=lambda b: b, response_deserializer=lambda b: b
        )
        return bytes(call(b"", timeout=timeout))


def summary(samples: list[tuple[float, float, str, float, float]]) -> dict[str, Any]:
    """Samples: (wall, RSS, stdout, CPU of the command, CPU the node spent meanwhile)."""
    return {
        "wall_s_median": round(statistics.median(s[0] for s in samples), 2),
        "wall_s_max": round(max(s[0] for s in samples), 2),
        "cpu_s_median": round(statistics.median(s[3] for s in samples), 2),
        "node_cpu_s_median": round(statistics.median(s[4] for s in samples), 2),
        "peak_rss_mib": round(max(s[1] for s in samples), 1),
        "runs": len(samples),
    }


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def console_probe(home: Path, models: int) -> dict[str, Any]:
    """Run in its own process: the console on live services until the Models pane holds the list."""
    from soma_console.config import Settings
    from soma_console.context import AppContext
    from soma_console.core.live_services import LiveServices
    from soma_console.tui.app import ConsoleApp, ConsoleOptions

    t0 = time.perf_counter()
    ctx = AppContext.create(home=str(home))
    services = LiveServices.open(ctx)
    services.session.poll_interval = 3600  # this probe drives the reads itself
    app = ConsoleApp(
        services,
        settings=Settings(raw={}),
        options=ConsoleOptions(cursor_blink=False, watch_hangup=False, freeze_gc=False),
    )
    out: dict[str, Any] = {}
    async with app.run_test(size=(160, 48)) as pilot:
        while len(app.models.models) < models:
            await pilot.pause(0.01)
            if time.perf_counter() - t0 > 600:
                raise SystemExit("the Models pane did not fill in 10 minutes")
        await pilot.pause()
        out["first_full_list_s"] = round(time.perf_counter() - t0, 2)
        out["rows"] = len(app.models.models)
        session = services.session
        reads, shows, repaints = [], [], []
        for _ in range(5):
            t = time.perf_counter()
            snap = await session.snapshot()
            reads.append(time.perf_counter() - t)
            t = time.perf_counter()
            app.models.show(snap)
            shows.append(time.perf_counter() - t)
            await pilot.pause()
            repaints.append(time.perf_counter() - t)
        out["read_full_state_ms"] = {
            "median": round(1000 * statistics.median(reads)),
            "max": round(1000 * max(reads)),
        }
        out["refresh_unchanged_ms"] = {
            "median": round(1000 * statistics.median(shows)),
            "max": round(1000 * max(shows)),
        }
        out["refresh_unchanged_with_repaint_ms"] = {"median": round(1000 * statistics.median(repaints))}
        out["response_mb"] = round((session.reader.last_state_bytes or 0) / 1e6, 1)
        t = time.perf_counter()
        head = await session.head()
        out["read_clock_ms"] = round(1000 * (time.perf_counter() - t), 1)
        assert not head.registry_ok
    await services.stop()
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "models": args.models,
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")

    root = Path(args.state) if args.state else Path(tempfile.mkdtemp(prefix="big-network-"))
    home, marker = root / "home", root / "filled.json"
    proc, urls = start_devnet(root / "state", wait_s=600)  # a filled state takes a while to load
    try:

        def advance() -> int:
            t = time.perf_counter()
            epoch = int.from_bytes(admin_call(urls, "AdvanceEpoch")[:8], "little")
            result.setdefault("advance_epoch_s", []).append(round(time.perf_counter() - t, 1))
            return epoch

        def timed(*cli: str) -> tuple[float, float, str, float, float]:
            before = process_cpu(proc.pid)
            wall, rss, text, cpu = run_measured(home, *cli)
            return wall, rss, text, cpu, process_cpu(proc.pid) - before

        address = write_home(home, urls)
        fund(urls, address, 20)
        reps = args.repeat
        checkpoints = train_tiny(home, reps)
        filled = json.loads(marker.read_text()) if marker.exists() else None
        if filled is None:
            t = time.perf_counter()
            asyncio.run(
                fill_active(
                    urls["rpc_url"],
                    lambda a, s: fund(urls, a, s),
                    advance,
                    count=args.models,
                    signers=args.signers,
                    progress=lambda line: print(line, flush=True),
                )
            )
            fill = time.perf_counter() - t
            filled = {
                "models": args.models,
                "seconds": round(fill, 1),
                "transactions_per_s": round(3 * args.models / fill, 1),
            }
            marker.write_text(json.dumps(filled), encoding="utf-8")
        result["fill"] = filled
        print("filled:", filled, flush=True)
        save()
        result["wallet_faucet"] = summary([timed("wallet", "faucet", "--json") for _ in range(reps)])
        save()
        models = [timed("models", "--json") for _ in range(reps)]
        listed = json.loads(models[-1][2])["models"]
        assert sum(1 for m in listed if m["status"] == "active") >= args.models
        result["models_json"] = {**summary(models), "stdout_bytes": len(models[-1][2])}
        save()
        commit = timed("commit", str(checkpoints[0]), "--yes", "--json")
        result["commit"] = summary([commit])
        result["queue_json"] = summary([timed("queue", "--json") for _ in range(reps)])
        save()
        model_id = json.loads(commit[2])["model_id"]
        reveals = []
        for i, ckpt in enumerate(checkpoints):
            if i:  # more reveals for a median: the next checkpoints as updates, one epoch each
                run_measured(home, "commit", str(ckpt), "--model", model_id, "--yes", "--json")
            advance()
            sample = timed("reveal", "--yes", "--json")
            assert json.loads(sample[2])["revealed"], sample[2]
            reveals.append(sample)
            result["reveal"] = summary(reveals)
            save()
        probes = []
        for _ in range(args.console_runs):
            wall, rss, text, _cpu = spawn_measured(
                [sys.executable, "-m", "bench.big_network", "console-probe", str(home), str(args.models)]
            )
            probes.append({**json.loads(text), "peak_rss_mib": round(rss, 1), "process_s": round(wall, 2)})
            result["console"] = probes
            save()
    finally:
        proc.kill()
        proc.wait()
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "console-probe":
        print(json.dumps(asyncio.run(console_probe(Path(sys.argv[2]), int(sys.argv[3])))))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", type=int, default=10_000)
    parser.add_argument("--signers", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--console-runs", type=int, default=2)
    parser.add_argument("--state", help="keep the devnet and the owner's home here; a rerun skips the fill")
    parser.add_argument("--json", default=str(REPO / "bench" / "out" / "big_network.json"))
    args = parser.parse_args()
    result = measure(args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
