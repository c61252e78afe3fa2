"""What the Modal cron pays to keep its journal off the Volume: copy it to local disk when a phase
starts, and put a consistent snapshot back (SQLite backup, copy, fsync, rename) after every write.

A journal with N commit intents, each with its artifact (decryption key, 2048-float embedding) is
built once; then, for each N, the time to enter a phase (copy in) and to persist once is measured,
``--repeat`` times, on a local folder standing in for the Volume mount. On a real Volume the copy
and fsync are slower (network storage); this is the CPU and local-disk part.

Run: python -m bench.cron_journal_persist [--intents 100,1000,10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path


def build(path: Path, n: int) -> None:
    from soma_console.core.journal import Journal

    Journal.open(path).close()
    con = sqlite3.connect(path)
    emb = json.dumps([0.001 * i for i in range(2048)])
    now = time.time()
    con.executemany(
        "INSERT INTO artifacts(id, created_at, chain, source_path, source_size, source_digest, size, "
        "commitment, key_commitment, decryption_key, embedding_json) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [
            (i, now, "testnet", f"/ckpt/{i}", 1, "d" * 64, 1, "c" * 44, "k" * 44, "s" * 44, emb)
            for i in range(1, n + 1)
        ],
    )
    con.executemany(
        "INSERT INTO intents(id, created_at, updated_at, chain, signer, kind, artifact_id, state) "
        "VALUES (?,?,?,?,?,?,?,?)",
        [(i, now, now, "testnet", "0xme", "commit", i, "confirmed") for i in range(1, n + 1)],
    )
    con.commit()
    con.execute("PRAGMA journal_mode=DELETE")
    con.close()


def measure(n: int, repeat: int) -> dict[str, float]:
    from soma_console.core.onchain.cron_rounds import VolumeJournal
    from soma_console.training.cron_lease import JournalLease, MemoryLeaseStore

    with tempfile.TemporaryDirectory() as tmp:
        cron_root = Path(tmp) / "volume" / "cron" / "app"
        (cron_root / "home").mkdir(parents=True)
        build(cron_root / "home" / "journal.sqlite", n)
        size = (cron_root / "home" / "journal.sqlite").stat().st_size
        enter, persist = [], []
        with JournalLease(MemoryLeaseStore(), purpose="bench") as lease:
            for _ in range(repeat):
                vj = VolumeJournal(cron_root, lambda: None, lease)
                t0 = time.perf_counter()
                home = vj.__enter__()
                t1 = time.perf_counter()
                con = sqlite3.connect(home.journal_path)
                con.execute("UPDATE intents SET updated_at = ? WHERE id = 1", (time.time(),))
                con.commit()
                con.close()
                t2 = time.perf_counter()
                vj.persist()
                t3 = time.perf_counter()
                vj.__exit__(None, None, None)
                enter.append(t1 - t0)
                persist.append(t3 - t2)
    return {
        "intents": n,
        "journal_mib": size / 2**20,
        "enter_ms": statistics.median(enter) * 1000,
        "persist_ms": statistics.median(persist) * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--intents", default="100,1000,10000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    for n in (int(x) for x in args.intents.split(",")):
        r = measure(n, args.repeat)
        print(
            f"{r['intents']:>6} intents  {r['journal_mib']:7.1f} MiB  enter {r['enter_ms']:8.1f} ms  "
            f"persist {r['persist_ms']:8.1f} ms"
        )


if __name__ == "__main__":
    main()
