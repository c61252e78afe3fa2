"""Autopilot's claim round: once per epoch, claim the owner's wins that became claimable.

A filled target pays out from its generation epoch + 2. At the first round of each epoch the
round brings the target index up to date, settles claims a crash left unsettled, and claims every
claimable win of the wallet's models through the same journaled path as ``soma-console claim``
(autopilot's ``--yes`` is the consent). A failed round is retried at the next round of the same
epoch; a round with nothing due costs one index sync per epoch.
"""

from __future__ import annotations

from collections.abc import Callable

from soma_console.core.chain import ChainSession
from soma_console.core.claims import Claimer, ClaimError, soma
from soma_console.core.earnings import sync_targets
from soma_console.core.targets_index import TargetIndex
from soma_console.core.wallet import Signer

Say = Callable[[str, str], None]


class AutoClaim:
    def __init__(self, session: ChainSession, index: TargetIndex, signer: Signer) -> None:
        self.session = session
        self.index = index
        self.claimer = Claimer(session, index, signer, session.profile.name)
        self.done_epoch: int | None = None

    async def round(self, say: Say) -> int:
        """Claim what is due now; returns how many targets were claimed."""
        snap = await self.session.snapshot()
        if snap.epoch == self.done_epoch:
            return 0
        for line in await self.claimer.settle_pending():
            say("info", line)
        await sync_targets(self.session, self.index)
        mine = [m.model_id.lower() for m in snap.mine()]
        due = await self.claimer.candidates(None, mine)
        claimed = 0
        if due:
            try:
                plan = await self.claimer.plan(due, {m.model_id.lower(): m.owner for m in snap.models})
            except ClaimError as exc:
                say("info", f"nothing claimed: {exc}")
            else:
                say("info", plan.title)
                result = await self.claimer.execute(plan, lambda line: say("info", line))
                claimed = len(result["claimed"])
                share = sum(c["owner_share_shannons"] for c in result["claimed"])
                say(
                    "info",
                    f"claimed {claimed} win{'s' if claimed != 1 else ''}: {soma(share)} to the owners, "
                    f"fees {soma(result['fees_shannons'])}",
                )
        self.done_epoch = snap.epoch
        return claimed
