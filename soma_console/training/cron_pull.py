"""``soma-console cron pull``: bring the cron's journal home, so reveals can be taken over locally.

The Modal cron keeps its journal (the SQLite file with the unrevealed decryption keys) on the Volume
at ``cron/<app>/home/journal.sqlite``. Pulling it:

* refuses while a round holds the journal lease (it would copy a file about to change);
* streams it into a private temporary file (0600) beside the destination, fsyncs it and checks it is
  a whole, healthy journal (``PRAGMA integrity_check``) before anything else happens;
* never overwrites local changes: if the local copy has an intent or artifact the cron's copy lacks,
  or an intent updated more recently (you revealed from it), the pull is refused and nothing moves;
* otherwise replaces the local copy in one rename (the folder fsynced), keeping it 0600.

The result is a soma-console home holding only that journal: ``soma-console --home DIR --chain
CHAIN reveal`` reveals from it with the signer in ``SOMA_SECRET_KEY``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from soma_console.errors import UserError
from soma_console.fsutil import ensure_dir, fsync_dir
from soma_console.training.modal.client import ModalSettings, ModalVolume, require_credentials
from soma_console.training.modal.spec import CRON_DIR

JOURNAL_FILE = "journal.sqlite"


def volume_journal_path(app_name: str) -> str:
    return f"{CRON_DIR}/{app_name}/home/{JOURNAL_FILE}"


@dataclass(frozen=True)
class Watermark:
    intents: dict[int, float]  # id -> updated_at
    artifacts: frozenset[int]


def watermark(path: Path) -> Watermark:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        intents = {int(i): float(u) for i, u in con.execute("SELECT id, updated_at FROM intents")}
        artifacts = frozenset(int(r[0]) for r in con.execute("SELECT id FROM artifacts"))
    finally:
        con.close()
    return Watermark(intents, artifacts)


def local_changes(local: Watermark, remote: Watermark) -> list[str]:
    """What the local copy has that the cron's copy does not (empty: the local copy is not newer)."""
    out = []
    for i, updated in local.intents.items():
        if i not in remote.intents:
            out.append(f"intent #{i} exists only here")
        elif updated > remote.intents[i] + 1e-6:
            out.append(f"intent #{i} changed here after the cron last wrote it")
    out += [f"artifact #{a} exists only here" for a in sorted(local.artifacts - remote.artifacts)]
    return out


def _check_journal(path: Path) -> None:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = con.execute("PRAGMA integrity_check").fetchone()
            con.execute("SELECT count(*) FROM intents").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise UserError(
            f"the cron's journal did not arrive whole ({exc}); nothing was changed here."
        ) from None
    if not ok or ok[0] != "ok":
        raise UserError("the cron's journal failed its integrity check; nothing was changed here.")


def _settle_local(dest: Path) -> None:
    """Fold a local WAL into the journal, so it can be compared and replaced as one file."""
    con = sqlite3.connect(dest)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


@dataclass(frozen=True)
class PullResult:
    path: Path
    size: int
    intents: int
    replaced: bool


async def pull_cron_journal(*, settings: ModalSettings, dest_dir: Path) -> PullResult:
    from soma_console.training.modal.cron import refuse_while_leased

    require_credentials()
    await refuse_while_leased(settings, "pulling the journal")
    volume = ModalVolume(settings.volume_name, timeout=settings.timeout_s, environment=settings.environment)
    remote_path = volume_journal_path(settings.cron_app_name)
    if not await volume.listdir(remote_path):
        raise UserError(
            f"the cron {settings.cron_app_name!r} has no journal on Volume {settings.volume_name!r} yet "
            "(no round has reached the chain).",
            hint="Check --app and --volume; `soma-console cron status` shows the rounds.",
        )
    ensure_dir(dest_dir, private=True)
    dest = dest_dir / JOURNAL_FILE
    part = dest_dir / f".{JOURNAL_FILE}.{secrets.token_hex(4)}.part"
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            async for chunk in volume.read_file(remote_path):
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        _check_journal(part)
        remote = watermark(part)
        replaced = dest.exists()
        if replaced:
            _settle_local(dest)
            newer = local_changes(watermark(dest), remote)
            if newer:
                raise UserError(
                    f"{dest} has changes the cron's copy lacks ({newer[0]}"
                    f"{f' and {len(newer) - 1} more' if len(newer) > 1 else ''}); not overwriting them.",
                    hint="Pull into another folder with --to DIR.",
                )
        os.replace(part, dest)
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                (dest_dir / f"{JOURNAL_FILE}{suffix}").unlink()
        fsync_dir(dest_dir)
    finally:
        part.unlink(missing_ok=True)
    os.chmod(dest, 0o600)
    return PullResult(dest, size, len(remote.intents), replaced)
