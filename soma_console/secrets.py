"""Keeping secrets off the screen.

Two secrets matter: the signer's secret key and every decryption key that has not been revealed
yet. In memory they travel inside :class:`Secret`, whose ``repr``/``str``/format never show the
value, so a stray f-string, a log line, a traceback's locals or a rich pretty-print cannot leak
them. Every value that becomes a ``Secret`` is also registered with :func:`redact`, which the
log handlers and the top-level error printer run over any text before it leaves the process.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

from soma_console.encoding import b58encode

_MASK = "[REDACTED]"
_registry_lock = threading.Lock()
_registry: set[str] = set()


def _register(text: str) -> None:
    if len(text) >= 8:  # short strings would redact innocent text
        with _registry_lock:
            _registry.add(text)


def redact(text: str) -> str:
    """Replace every registered secret value (and its common encodings) in ``text``."""
    if not _registry:
        return text
    with _registry_lock:
        needles = sorted(_registry, key=len, reverse=True)
    for needle in needles:
        if needle in text:
            text = text.replace(needle, _MASK)
    return text


class Secret:
    """An opaque holder for secret material (bytes or str).

    ``reveal()`` returns the raw value and is the only way to get at it; grep for it to audit
    every place a secret is used.
    """

    __slots__ = ("_label", "_value")

    def __init__(self, value: bytes | str, *, label: str = "secret") -> None:
        self._value = value
        self._label = label
        if isinstance(value, bytes):
            _register(value.hex())
            _register("0x" + value.hex())
            _register(b58encode(value))
        else:
            _register(value)

    def reveal(self) -> Any:
        return self._value

    def fingerprint(self) -> str:
        """A short non-reversible tag, safe to display, to tell two secrets apart."""
        raw = self._value if isinstance(self._value, bytes) else self._value.encode()
        return hashlib.blake2b(raw, digest_size=4, person=b"soma-fp").hexdigest()

    def __repr__(self) -> str:
        return f"<Secret {self._label} {_MASK}>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac

        a = self._value if isinstance(self._value, bytes) else self._value.encode()
        b = other._value if isinstance(other._value, bytes) else other._value.encode()
        return hmac.compare_digest(a, b)

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs registered secrets from every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = redact(msg)
        if clean != msg:
            record.msg = clean
            record.args = None
        return True
