"""A reconcile that runs while a commit is still being prepared (the console's autopilot tick, or
the console watching a CLI commit) must not settle that commit's unsent intent as failed; once
its process is gone, it must."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

from soma_console.context import AppContext
from soma_console.core.chain import ChainSession
from soma_console.core.intent_owner import executing, owner_params, still_owned
from soma_console.core.journal import Journal
from soma_console.core.lifecycle import Lifecycle
from soma_console.core.wallet import load_signer
from tests.lifecycle.conftest import Owner


def _begin(journal: Journal, signer: str, params: dict[str, object]) -> int:
    intent = journal.begin_intent(chain="devnet", signer=signer, kind="commit", params=params)
    return intent.id


def test_reconcile_leaves_an_intent_its_process_is_still_sending_and_settles_it_after(owner: Owner) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    async def main() -> tuple[str, str, str, str]:
        app = AppContext.create(home=str(owner.home))
        signer = load_signer(app.home)
        assert signer is not None
        journal = Journal.open(app.home.journal_path)
        session = ChainSession(app.chain, address=signer.address)
        lc = Lifecycle(app, session, journal, signer)
        mine = _begin(journal, signer.address, owner_params())
        try:
            theirs = _begin(journal, signer.address, {"owner_pid": child.pid})
            with executing(journal.path, mine):
                await lc.reconcile()
                during = (journal.intent(mine).state, journal.intent(theirs).state)
            child.kill()
            await asyncio.to_thread(child.wait)
            await lc.reconcile()
            after = (journal.intent(mine).state, journal.intent(theirs).state)
        finally:
            if child.poll() is None:
                child.kill()
            await session.close()
            journal.close()
        return (*during, *after)

    during_mine, during_theirs, after_mine, after_theirs = asyncio.run(main())
    assert (during_mine, during_theirs) == ("intent", "intent")  # both still being prepared
    assert (after_mine, after_theirs) == ("failed", "failed")  # nothing was sent; settled


def test_an_old_or_foreign_owner_does_not_hold_an_intent_forever(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    assert not still_owned(path, 1, {}, 0.0)  # written before owners were recorded
    assert not still_owned(path, 1, {"owner_pid": os.getpid()}, 0.0)  # this process, not sending it
    assert still_owned(path, 1, {"owner_pid": os.getppid()}, time.time())
    assert not still_owned(path, 1, {"owner_pid": os.getppid()}, 0.0)  # stale: an hour untouched
    with executing(path, 1):
        assert still_owned(path, 1, {}, 0.0)
    assert not still_owned(path, 1, {}, 0.0)
