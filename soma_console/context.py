"""What every command and the console share: where things live, which chain, read-only or not."""

from __future__ import annotations

from dataclasses import dataclass

from soma_console.config import ChainProfile, Home, Settings
from soma_console.errors import ReadOnlyError


@dataclass(frozen=True)
class AppContext:
    home: Home
    settings: Settings
    chain: ChainProfile
    readonly: bool = False

    @classmethod
    def create(cls, home: str | None = None, chain: str | None = None, readonly: bool = False) -> AppContext:
        resolved = Home.resolve(home)
        settings = Settings.load(resolved)
        return cls(home=resolved, settings=settings, chain=settings.resolve_chain(chain), readonly=readonly)

    def require_writable(self, action: str) -> None:
        """Call before anything that would send a transaction."""
        if self.readonly:
            raise ReadOnlyError(action)
