"""What the session's protocol machine asks its driver to do: the only way it touches the world.

The machine (``_machine.py`` and the concern modules under it) is synchronous and does no I/O.
Each of its operations is a generator of *effects*: it yields one, the driver performs it and
sends back the result (``None`` unless stated), and the machine goes on. The async driver
(``_session.py``) performs them on a real link with real time; a test can perform them by
hand, synchronously (see ``tests/test_server_machine.py``).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from ._script import TurnContext

__all__ = [
    "Checkpoint",
    "Close",
    "Effect",
    "Interrupt",
    "NextReply",
    "Now",
    "Pace",
    "PaceAudio",
    "Received",
    "Send",
    "Sleep",
    "Spawn",
    "Steps",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Send:
    """Send one server event (encoded JSON; already recorded in ``sent``)."""

    data: bytes


@dataclass(frozen=True)
class Close:
    """Start the closing handshake with ``code`` and ``reason``."""

    code: int
    reason: str


@dataclass(frozen=True)
class Received:
    """A client event was recorded: wake whoever waits for one (``wait_for_received``)."""


@dataclass(frozen=True)
class Checkpoint:
    """Let other tasks run (a cancel or a barge-in may come in)."""


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` of playback time (the driver scales it by the pacing speed)."""

    seconds: float


@dataclass(frozen=True)
class Pace:
    """Wait ``seconds`` of playback time, or less if response ``response_id`` is interrupted."""

    response_id: str
    seconds: float


@dataclass(frozen=True)
class PaceAudio:
    """Wait until ``ahead`` seconds of audio past ``started`` (a :class:`Now`) are due.

    The driver scales ``ahead`` by the pacing speed; an interrupt of ``response_id`` ends it.
    """

    response_id: str
    started: float
    ahead: float


@dataclass(frozen=True)
class Now:
    """The driver's clock (its result, in seconds), for :class:`PaceAudio`."""


@dataclass(frozen=True)
class Spawn:
    """Run ``steps`` concurrently (a response stream, a background transcription).

    ``response_id`` names the response the steps stream, so that :class:`Pace` and
    :class:`Interrupt` can find it (the steps themselves release the response when they end).
    """

    steps: Steps[None]
    response_id: str | None = None


@dataclass(frozen=True)
class Interrupt:
    """Wake response ``response_id`` out of its pacing and wait until its steps have ended."""

    response_id: str


@dataclass(frozen=True)
class NextReply:
    """Ask the script for the next reply (its result: a :class:`~._script.Reply`)."""

    context: TurnContext


Effect: TypeAlias = (
    Send
    | Close
    | Received
    | Checkpoint
    | Sleep
    | Pace
    | PaceAudio
    | Now
    | Spawn
    | Interrupt
    | NextReply
)
#: An operation of the machine: yields effects, receives their results, returns ``T``.
Steps: TypeAlias = Generator[Effect, Any, T]
