"""Scope the journal to the network it talks to.

A chain name ("devnet", "testnet") can outlive its network: ``demo --fresh`` or a testnet reset
starts a new chain under the same name. The journal's commits, queue and checkpoint marks must
then not carry over. The chain's identifier (the digest of its genesis checkpoint) tells the
networks apart; :meth:`Journal.adopt_chain` archives the entries of an earlier one.
"""

from __future__ import annotations

import asyncio
import logging

from soma_console.core.chain import ChainSession
from soma_console.core.chain_errors import ChainError
from soma_console.core.journal import Journal

log = logging.getLogger(__name__)


async def chain_identifier(session: ChainSession) -> str | None:
    """Who the chain is: its genesis checkpoint (content digest and time), which a chain started
    over never shares; the node's chain identifier where the genesis checkpoint is pruned. None
    when the chain does not answer."""
    try:
        genesis = await session.call("get_checkpoint_summary", 0)
        data = getattr(genesis, "data", genesis)
        digest = str(getattr(data, "content_digest", "") or "")
        if digest:
            return f"{digest}@{getattr(data, 'timestamp_ms', '')}"
    except ChainError as exc:
        log.info("genesis checkpoint not read: %s", exc)
    try:
        return str(await session.call("get_chain_identifier") or "").strip() or None
    except ChainError as exc:
        log.info("chain identifier not read: %s", exc)
        return None


async def adopt_chain_identity(session: ChainSession, journal: Journal) -> str | None:
    """Ask the chain who it is and scope the journal to it; returns the archive name when the
    journal's entries under this chain name belonged to another network. A chain that does not
    answer changes nothing (the next command that reaches it will)."""
    text = await chain_identifier(session)
    if not text:
        return None
    archive = await asyncio.to_thread(journal.adopt_chain, session.profile.name, text)
    if archive is not None:
        log.warning(
            "chain %s is a new network; the journal's entries for the earlier one are kept under %s",
            session.profile.name,
            archive,
        )
    return archive
