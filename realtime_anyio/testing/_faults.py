"""Faults the fake server can inject into a connection, for testing a client's failure paths.

Each fault is a small frozen value; give them to ``FakeRealtimeServer(faults=[...])`` (every
connection) or ``server.inject(...)`` (the next connections). Event counts are server events
already sent on that connection, ``session.created`` included: ``CloseAfter(1)`` closes right
after ``session.created``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

__all__ = [
    "CloseAfter",
    "DelayEvents",
    "DelayHandshake",
    "DropAfter",
    "Fault",
    "RefuseHandshake",
    "SendFrame",
    "SendMalformed",
    "SendOversized",
    "StallAfter",
]


@dataclass(frozen=True)
class RefuseHandshake:
    """Answer the WebSocket upgrade with this HTTP ``status`` (and ``body``) instead of 101."""

    status: int = 503
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=lambda: {})


@dataclass(frozen=True)
class DelayHandshake:
    """Wait ``seconds`` before answering the upgrade (use ``float('inf')`` to never answer)."""

    seconds: float


@dataclass(frozen=True)
class CloseAfter:
    """Send a close frame with ``code`` and ``reason`` after ``events`` server events."""

    events: int
    code: int = 1011
    reason: str = ""


@dataclass(frozen=True)
class DropAfter:
    """Close the TCP connection without a close frame after ``events`` server events."""

    events: int


@dataclass(frozen=True)
class StallAfter:
    """After ``events`` server events, stop reading and writing for ``seconds`` (None: for good).

    A stalled server answers no pings and lets the client's writes back up in TCP buffers.
    """

    events: int = 0
    seconds: float | None = None


@dataclass(frozen=True)
class DelayEvents:
    """Hold each server event after the first ``after`` ones for ``seconds`` before sending."""

    seconds: float
    after: int = 0


@dataclass(frozen=True)
class SendMalformed:
    """Send ``data`` as a text frame (not a valid event) after ``after`` server events."""

    after: int = 1
    data: str = '{"type": "response.output_text.delta", "delta": '


@dataclass(frozen=True)
class SendFrame:
    """Send ``data`` byte for byte in one frame after ``after`` server events.

    A text frame by default, whatever the bytes are (invalid UTF-8 included, which no valid
    server sends); a binary frame with ``binary=True`` (the Realtime API sends none).
    """

    after: int = 1
    data: bytes = b'{"type": "response.output_text.delta", "delta": "\xff"}'
    binary: bool = False


@dataclass(frozen=True)
class SendOversized:
    """Send one valid but huge event (about ``size`` bytes) after ``after`` server events.

    It is a ``response.output_audio.delta`` whose audio is silence; with the usual 1 MiB default
    limits of WebSocket clients, 2 MiB is enough to trip them.
    """

    after: int = 1
    size: int = 2 * 1024 * 1024


#: Any of the fault types.
Fault: TypeAlias = (
    RefuseHandshake
    | DelayHandshake
    | CloseAfter
    | DropAfter
    | StallAfter
    | DelayEvents
    | SendMalformed
    | SendFrame
    | SendOversized
)
