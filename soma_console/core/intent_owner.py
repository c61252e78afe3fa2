"""Which process is still working on an unsent intent.

An intent with no digest was journaled but its transaction has not left yet. After a crash that
means nothing was sent and the intent can be settled as failed; while the process that wrote it
is still preparing the transaction (creating the model first, say) it must be left alone. A
reconcile runs concurrently with a commit in the console (the autopilot tick) and across
processes (a CLI commit while the console or cron watches the same journal), so the owner is
recorded: the writing process's id in the intent, and this process's own in-flight set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# An owner that has not touched its intent for this long is taken to be gone, whatever its pid
# says (a reused pid must not hold an intent forever).
OWNER_STALE_S = 3600.0

_executing: set[tuple[str, int]] = set()  # (journal path, intent id) this process is sending


def owner_params() -> dict[str, Any]:
    """The fields to store in an intent's params so other processes can tell it is being worked on."""
    return {"owner_pid": os.getpid()}


@contextmanager
def executing(journal_path: Path, intent_id: int) -> Iterator[None]:
    """Mark an intent as being sent by this process for the duration of the block."""
    key = (str(journal_path), intent_id)
    _executing.add(key)
    try:
        yield
    finally:
        _executing.discard(key)


def still_owned(journal_path: Path, intent_id: int, params: dict[str, Any], updated_at: float) -> bool:
    """Whether a live process (this one included) is still preparing this unsent intent."""
    if (str(journal_path), intent_id) in _executing:
        return True
    pid = params.get("owner_pid")
    if not isinstance(pid, int) or pid == os.getpid() or pid <= 0:
        return False
    if time.time() - updated_at > OWNER_STALE_S:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by another user
    return True
