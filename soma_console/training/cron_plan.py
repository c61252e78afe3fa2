"""What the Modal cron's scheduled rounds do: the plan ``cron deploy`` bakes into the deployed functions.

Kept apart from the rounds themselves (:mod:`soma_console.core.onchain.cron_rounds`, which send
transactions) so that deploying, which only builds the Modal app, never loads the chain client.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CronPlan:
    """What the scheduled rounds do; baked into the deployed functions by ``cron deploy``."""

    app_name: str
    spec_json: str
    steps: int
    gpus: int = 1
    chain: str = "testnet"  # a built-in chain name or an RPC URL, as `--chain` takes
    hook: str | None = None  # alarm command (message in $SOMA_ALERT), run in the container
    webhook: str | None = None  # alarm URL: {"text": message} is POSTed to it
    reveal_gap_s: int = 0  # the deployed reveal schedule's gap; checked against the chain every round
    # Commit an update only if it beats the model's current weights on the last N filled targets.
    gate_targets: int | None = None
