"""A model's staking pool: stake arrives as pending and is folded in at epoch boundaries.

Pool-token arithmetic follows the chain so that balances match what a real node would report.
The devnet pays no rewards, so ``rewards_pool`` stays 0 and a withdrawal returns the principal
(less any slash the pool took).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StakingPool:
    pool_id: bytes
    activation_epoch: int | None = None
    deactivation_epoch: int | None = None
    soma_balance: int = 0
    rewards_pool: int = 0
    pool_token_balance: int = 0
    # epoch -> (soma_amount, pool_token_amount)
    exchange_rates: dict[int, tuple[int, int]] = field(default_factory=dict)
    pending_stake: int = 0
    pending_total_soma_withdraw: int = 0
    pending_pool_token_withdraw: int = 0

    @property
    def is_preactive(self) -> bool:
        return self.activation_epoch is None

    @property
    def is_inactive(self) -> bool:
        return self.deactivation_epoch is not None

    def add_stake(self, amount: int) -> None:
        self.pending_stake += amount

    def process_pending_stake(self) -> None:
        rate = (self.soma_balance, self.pool_token_balance)
        self.soma_balance += self.pending_stake
        if self.soma_balance == self.pending_stake and self.pool_token_balance == 0:
            self.pool_token_balance = self.pending_stake
        else:
            self.pool_token_balance = _token_amount(rate, self.soma_balance)
        self.pending_stake = 0

    def process_pending_withdraw(self) -> None:
        self.soma_balance -= self.pending_total_soma_withdraw
        self.pool_token_balance -= self.pending_pool_token_withdraw
        self.pending_total_soma_withdraw = 0
        self.pending_pool_token_withdraw = 0

    def rate_at(self, epoch: int) -> tuple[int, int]:
        if self.activation_epoch is None or epoch < self.activation_epoch:
            return (0, 0)
        if self.deactivation_epoch is not None:
            epoch = min(epoch, self.deactivation_epoch)
        for e in range(epoch, self.activation_epoch - 1, -1):
            if e in self.exchange_rates:
                return self.exchange_rates[e]
        return (0, 0)

    def withdraw(self, principal: int, activation_epoch: int, current_epoch: int) -> int:
        """Withdraw one receipt; returns the SOMA owed to its holder."""
        if activation_epoch > current_epoch:
            # Not active yet. A pre-active pool folded the stake in at once (there is no
            # pending stake to take it back from), so it leaves the balance instead.
            if self.pending_stake >= principal:
                self.pending_stake -= principal
            else:
                self.soma_balance -= principal
                self.pool_token_balance -= min(principal, self.pool_token_balance)
            return principal
        if self.activation_epoch is None:
            # A pool that never became active (a model created and never revealed, maybe
            # slashed since): the receipt is worth its share of what the pool still holds.
            # The chain's own arithmetic underflows here; the devnet pays the pro-rata share.
            tokens = min(principal, self.pool_token_balance)
            share = self.soma_balance * tokens // self.pool_token_balance if self.pool_token_balance else 0
            total = min(share, max(self.soma_balance, 0))
            self.soma_balance -= total
            self.pool_token_balance -= tokens
            return total
        tokens = _token_amount(self.rate_at(activation_epoch), principal)
        value = _soma_amount(self.rate_at(current_epoch), tokens)
        reward = min(max(value - principal, 0), self.rewards_pool)
        self.rewards_pool -= reward
        total = principal + reward
        available = self.soma_balance - self.pending_total_soma_withdraw
        if total > available:
            # Never pay out more than the pool holds (a slashed pool is worth less).
            total = max(available, 0)
        self.pending_total_soma_withdraw += total
        self.pending_pool_token_withdraw += tokens
        if self.is_inactive:
            self.process_pending_withdraw()
        return total

    def roll_epoch(self, new_epoch: int) -> None:
        """Active pools at a boundary: withdrawals, then new stake, then record the rate."""
        self.process_pending_withdraw()
        self.process_pending_stake()
        self.exchange_rates[new_epoch] = (self.soma_balance, self.pool_token_balance)

    def slash(self, rate_bps: int, epoch: int) -> int:
        amount = self.soma_balance * rate_bps // 10_000
        self.soma_balance -= amount
        self.deactivation_epoch = epoch
        return amount


def _token_amount(rate: tuple[int, int], soma: int) -> int:
    soma_amount, token_amount = rate
    if soma_amount == 0 or token_amount == 0:
        return soma
    return token_amount * soma // soma_amount


def _soma_amount(rate: tuple[int, int], tokens: int) -> int:
    soma_amount, token_amount = rate
    if soma_amount == 0 or token_amount == 0:
        return tokens
    return soma_amount * tokens // token_amount
