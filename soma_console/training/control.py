"""Signals between the worker and its trainers (no framework imports)."""

from __future__ import annotations


class Interrupted(Exception):
    """A stop was requested (SIGTERM/SIGINT); the trainer wrote a checkpoint before raising this."""

    def __init__(self, step: int) -> None:
        super().__init__(f"stopped at step {step}")
        self.step = step
