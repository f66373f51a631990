"""Identifiers shaped like the service's: a prefix and 21 base62 characters."""

from __future__ import annotations

import random
import string

__all__ = ["IdFactory"]

_BASE62 = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"


class IdFactory:
    """Makes ids and obfuscation padding; seed it for reproducible runs."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def token(self, length: int, alphabet: str = _BASE62) -> str:
        """``length`` random characters from ``alphabet``."""
        return "".join(self._random.choices(alphabet, k=length))

    def new(self, prefix: str, length: int = 21) -> str:
        """``prefix`` followed by ``length`` base62 characters (``item_…``, ``resp_…``)."""
        return prefix + self.token(length)

    def event_id(self) -> str:
        return self.new("event_")

    def hex_event_id(self) -> str:
        """The short ``event_`` + 16 hex form used for output-audio-buffer events on side bands."""
        return "event_" + self.token(16, _HEX)

    def call_id(self) -> str:
        """A function-call id: ``call_`` + 16 base62 characters."""
        return self.new("call_", 16)

    def obfuscation(self, delta: str) -> str:
        """Random padding so that the delta's length does not leak through the frame's size."""
        return self.token(max(1, 16 - len(delta) % 16))

    def uniform(self, low: float, high: float) -> float:
        return self._random.uniform(low, high)

    def randbytes(self, n: int) -> bytes:
        return self._random.randbytes(n)
