"""The shared state of one fake Realtime session, and its helpers: no I/O, no time.

:class:`MachineCore` holds the session's configuration, conversation, ids and bookkeeping, and
turns server events into :class:`~._effects.Send` effects. The concerns (``_responses.py``,
``_input_audio.py``, ``_items.py``) and the dispatching machine (``_machine.py``) build on it;
the async driver (``_session.py``) performs the effects.
"""

from __future__ import annotations

import base64
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from .._errors import RemoteProtocolError
from ..events import CLIENT_EVENT_TYPES as CLIENT_STRUCTS
from ..events import decode_client_event
from ._conversation import Conversation
from ._effects import Close, Send
from ._ids import IdFactory
from ._script import Script
from ._settings import (
    REALTIME_KEYS,
    TRANSCRIPTION_KEYS,
    apply_session_update,
    default_realtime_session,
    default_transcription_session,
)
from ._vad import VoiceActivityDetector
from ._validate import Invalid

if TYPE_CHECKING:
    import anyio

__all__ = [
    "AUDIO_CHUNK_MS",
    "CLIENT_EVENT_TYPES",
    "RATE_LIMIT",
    "TEXT_TOKEN_SECONDS",
    "TOP_LEVEL",
    "VALIDATED_BY_HAND",
    "client_struct",
    "gate",
    "split_evenly",
    "text_tokens",
    "split_tokens",
    "ConnectInfo",
    "LinkClosed",
    "MachineCore",
    "Pacing",
    "ResponseState",
    "SessionOptions",
]

logger = logging.getLogger("realtime_anyio.testing")

Pacing = Literal["fast", "realtime"]

CLIENT_EVENT_TYPES = (
    "session.update",
    "session.close",
    "input_audio_buffer.append",
    "session.input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.truncate",
    "conversation.item.delete",
    "conversation.item.retrieve",
    "response.create",
    "response.cancel",
)
TOP_LEVEL: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type: (required fields, optional fields) besides "type" and "event_id"
    "session.update": (("session",), ()),
    "session.close": ((), ()),
    "input_audio_buffer.append": (("audio",), ()),
    "session.input_audio_buffer.append": (("audio",), ()),
    "input_audio_buffer.commit": ((), ()),
    "input_audio_buffer.clear": ((), ()),
    "output_audio_buffer.clear": ((), ()),
    "conversation.item.create": (("item",), ("previous_item_id",)),
    "conversation.item.truncate": (("item_id", "content_index", "audio_end_ms"), ()),
    "conversation.item.delete": (("item_id",), ()),
    "conversation.item.retrieve": (("item_id",), ()),
    "response.create": ((), ("response",)),
    "response.cancel": ((), ("response_id",)),
}
TOKEN = re.compile(r"\s*[\w\u2019'-]+|\s*[^\w\s]|\s+")
AUDIO_CHUNK_MS = 100
TEXT_TOKEN_SECONDS = 0.025
RATE_LIMIT = 15_000_000


class LinkClosed(Exception):
    """The client is gone (close frame received or connection lost), or the session ended."""


@dataclass
class SessionOptions:
    """Server-wide settings every session reads."""

    script: Script
    ids: IdFactory
    pacing: Pacing = "fast"
    #: Realtime pacing runs this many times faster than playback.
    pacing_speed: float = 1.0
    session_duration: float = 3600.0
    clock: Callable[[], float] = time.time
    history: int = 10_000


@dataclass
class ConnectInfo:
    """What the handshake learned about a connection."""

    model: str | None = None
    call_id: str | None = None
    intent: str | None = None
    #: ``None`` when the key is fine, else ``(code, message)`` of the auth error to send.
    auth_error: tuple[str | None, str] | None = None
    model_error: tuple[str, str] | None = None
    beta_header: bool = False
    #: Configuration to start from (a client secret's or an accepted call's session).
    initial_session: dict[str, Any] | None = None
    #: Set when the attached call ends (side-band connections only).
    call_ended: anyio.Event | None = None


@dataclass
class ResponseState:
    """One response the session is producing (plain state; the driver owns its timing)."""

    id: str
    in_conversation: bool
    modalities: list[str]
    audio_format: dict[str, Any]
    voice: str | dict[str, Any]
    speed: float
    max_output_tokens: int | str
    metadata: dict[str, Any] | None
    params: dict[str, Any]
    context: list[dict[str, Any]]
    cancel_reason: str | None = None
    limit_hit: bool = False
    output: list[dict[str, Any]] = field(default_factory=lambda: [])
    text_tokens: int = 0
    audio_ms: float = 0.0
    started_buffer: bool = False
    released: bool = False
    #: Set once ``response.created`` went out; only then can ``response.cancel`` reach it.
    announced: bool = False

    @property
    def stopped(self) -> bool:
        return self.cancel_reason is not None or self.limit_hit


class MachineCore:
    """The state every concern of a session shares, and the ways to emit server events.

    The concerns build on it in one line (core, responses, input audio, items, then the
    machine that dispatches to them); each adds its own operations, none does I/O.
    """

    def __init__(self, options: SessionOptions, info: ConnectInfo) -> None:
        self.options = options
        self.info = info
        self.ids = options.ids
        self.script = options.script
        self.sideband = info.call_id is not None
        self.kind: Literal["realtime", "transcription"] = (
            "transcription" if info.intent == "transcription" else "realtime"
        )
        self.created_at = options.clock()
        expires_at = int(self.created_at + options.session_duration)
        session_id = self.ids.new("sess_u0_" if self.sideband else "sess_")
        if self.kind == "transcription":
            self.session = default_transcription_session(
                session_id=session_id, expires_at=expires_at
            )
        else:
            self.session = default_realtime_session(
                session_id=session_id, model=info.model or "gpt-realtime", expires_at=expires_at
            )
        if info.initial_session:
            self._apply_initial(info.initial_session)
        self.conversation_id = self.ids.new("conv_")
        self.conversation = Conversation()
        self.received: deque[dict[str, Any]] = deque(maxlen=options.history)
        self.sent: deque[dict[str, Any]] = deque(maxlen=options.history)
        self.close_code: int | None = None
        self._received_counts: dict[str, int] = {}
        self._responses: dict[str, ResponseState] = {}
        #: The most recent response (for ``output_audio_buffer.cleared`` when none is active).
        self._last_response_id: str | None = None
        self._turns: int = 0
        self._voice_locked: bool = False
        self._tokens_used: int = 0
        # Input audio: raw bytes (session input format) since _buffer_start_ms.
        self._buffer: bytearray = bytearray()
        self._buffer_start_ms: float = 0.0
        self._appended_ms: float = 0.0
        self._vad: VoiceActivityDetector | None = None
        self._vad_item_id: str | None = None
        self._vad_start_ms: int = 0
        self._idle_from_ms: float | None = None

    # -- configuration -------------------------------------------------------------------------

    def _apply_initial(self, initial: dict[str, Any]) -> None:
        """Start from a client secret's or an accepted call's configuration."""
        if initial.get("type", self.kind) != self.kind:
            return
        allowed = REALTIME_KEYS if self.kind == "realtime" else TRANSCRIPTION_KEYS
        update = {k: v for k, v in initial.items() if k in allowed and k != "model"}
        update["type"] = self.kind
        try:
            self.session = apply_session_update(self.session, update, voice_locked=False)
        except Invalid:
            logger.warning("ignoring an invalid initial session configuration", exc_info=True)

    @property
    def _input_format(self) -> str:
        return str(self.session["audio"]["input"]["format"]["type"])

    @property
    def _turn_detection(self) -> dict[str, Any] | None:
        return self.session["audio"]["input"]["turn_detection"]

    # -- emitting ------------------------------------------------------------------------------

    def _emit(self, event: dict[str, Any], *, short_id: bool = False) -> Send:
        """Record a server event with a fresh ``event_id``; the effect that sends it."""
        event_id = self.ids.hex_event_id() if short_id else self.ids.event_id()
        full = {"type": event["type"], "event_id": event_id}
        full.update((k, v) for k, v in event.items() if k != "type")
        data = msgspec.json.encode(full)
        self.sent.append(msgspec.json.decode(data))
        return Send(data)

    def _error(
        self,
        code: str | None,
        message: str,
        *,
        param: str | None = None,
        event_id: str | None = None,
        type: str = "invalid_request_error",
    ) -> Send:
        return self._emit(
            {
                "type": "error",
                "error": {
                    "type": type,
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": event_id,
                },
            }
        )

    def _close(self, code: int, reason: str) -> Close:
        self.close_code = code
        return Close(code, reason)

    def _b64(self, data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    def received_count(self, kind: str) -> int:
        """How many client events of type ``kind`` arrived so far (valid or not)."""
        return self._received_counts.get(kind, 0)


# -- helpers ---------------------------------------------------------------------------------------


def split_tokens(text: str) -> list[str]:
    """Split text into model-like tokens: words with their leading space, punctuation alone."""
    return TOKEN.findall(text)


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def split_evenly(data: bytes, parts: int) -> list[bytes]:
    size = len(data) // max(1, parts)
    size -= size % 2
    pieces = [data[i * size : (i + 1) * size] for i in range(parts - 1)]
    pieces.append(data[(parts - 1) * size :])
    return pieces


def client_struct(kind: str) -> type[msgspec.Struct] | None:
    """The Struct describing client event ``kind`` in ``realtime_anyio.events``, if any."""
    if kind == "session.input_audio_buffer.append":
        kind = "input_audio_buffer.append"
    return CLIENT_STRUCTS.get(kind)


VALIDATED_BY_HAND = frozenset({"session.update", "conversation.item.create", "response.create"})


def gate(kind: str, frame: str) -> object:
    """Decode with the project's own event Structs; the last check before acting on an event.

    Hand-written checks run first for the events they cover, so their service-style messages
    win; this catches anything they miss, and yields the typed event.
    """
    if kind not in CLIENT_STRUCTS:
        return None
    try:
        return decode_client_event(frame)
    except RemoteProtocolError as exc:
        raise typed_error(exc) from None


def typed_error(exc: RemoteProtocolError) -> Invalid:
    """The service-style error for a frame our own event Structs refuse."""
    path = exc.path or None
    reason = exc.reason.split(": ", 1)[-1]
    if path is None:
        return Invalid("invalid_value", f"Invalid event: {reason}.")
    code = "invalid_type" if reason.startswith("Expected") else "invalid_value"
    return Invalid(code, f"Invalid value for '{path}': {reason}.", path)
