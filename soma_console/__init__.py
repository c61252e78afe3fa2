"""soma-console: a terminal operator console for SOMA model owners."""

__version__ = "0.1.0.dev0"
