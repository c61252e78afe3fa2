"""Crash points for the fault-injection tests.

``SOMA_CONSOLE_CRASH_AT=<name>`` makes the process kill itself (SIGKILL: no cleanup, no flush,
exactly like a power cut or an OOM kill) when it reaches the named point of the commit or reveal
flow. The tests use it to prove that a crash at any step loses no key and sends nothing twice.
Unset (always, in normal use) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "SOMA_CONSOLE_CRASH_AT"
POINTS = (
    "after_intent",  # the commit intent is journaled, nothing sent
    "during_upload",  # half the encrypted weights are sent, the pass still running
    "after_upload",  # the encrypted weights are public and verified
    "before_commit",  # a new model was created, its commit not sent yet
    "after_send",  # the commit transaction was handed to the node, its answer not read
    "after_confirm",  # the chain confirmed the commit, the journal does not know yet
    "during_reveal",  # the reveal was sent, the journal does not know yet
    "claim_before_send",  # a claim's digest is journaled, the transaction not sent
    "claim_after_send",  # the chain executed a claim, the journal does not know yet
)


def fault_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
