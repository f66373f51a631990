"""One Realtime session on the fake server: the protocol behaviour, independent of sockets.

A :class:`FakeSession` reads client frames from a :class:`Link` and writes server events to it,
imitating the live service as recorded in the project's BEHAVIOUR notes: event order, error
codes and messages, defaults, ids, limits, voice activity detection, response streaming and
cancellation. The server (``_server.py``) supplies the link, which is where faults are injected.
"""

from __future__ import annotations

import base64
import binascii
import copy
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import anyio
import anyio.abc
import anyio.lowlevel
import msgspec

from .._errors import RemoteProtocolError
from ..events import CLIENT_EVENT_TYPES as CLIENT_STRUCTS
from ..events import InputAudioBufferAppend, decode_client_event
from ._audio import bytes_per_ms, decode_g711, from_pcm24k, speech_tokens, to_pcm24k
from ._conversation import Conversation, normalize_client_item
from ._ids import IdFactory
from ._script import Failure, Reply, Say, Script, ToolCall, TurnContext
from ._settings import (
    REALTIME_KEYS,
    TRANSCRIPTION_KEYS,
    apply_session_update,
    default_realtime_session,
    default_transcription_session,
    validate_response_params,
)
from ._vad import SpeechStarted, VoiceActivityDetector
from ._validate import (
    Invalid,
    describe,
    expect_int,
    expect_object,
    expect_str,
    missing,
    quote_list,
    unknown,
    unknown_parameter,
)

__all__ = ["ConnectInfo", "FakeSession", "Link", "LinkClosed", "Pacing", "SessionOptions"]

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
_TOP_LEVEL: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
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
_TOKEN = re.compile(r"\s*[\w\u2019'-]+|\s*[^\w\s]|\s+")
_AUDIO_CHUNK_MS = 100
_TEXT_TOKEN_SECONDS = 0.025
_RATE_LIMIT = 15_000_000


class LinkClosed(Exception):
    """The client is gone (close frame received or connection lost)."""


class Link(Protocol):
    """The socket side of a session, as the server provides it."""

    async def send(self, data: bytes) -> None:
        """Send one text frame (UTF-8 JSON); once the link is closed, frames are dropped.

        Cancellation: the frame is sent whole or not at all.
        """
        ...

    async def receive(self) -> str | bytes:
        """The next data frame (text as ``str``); raises :class:`LinkClosed` when closed.

        Cancellation: safe; no frame is lost.
        """
        ...

    async def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake with ``code`` and ``reason``.

        Cancellation: safe; the close frame is queued before the first await.
        """
        ...

    async def abort(self) -> None:
        """Drop the TCP connection without a close frame.

        Cancellation: shielded; returns promptly.
        """
        ...


@dataclass
class SessionOptions:
    """Server-wide settings every session reads."""

    script: Script
    ids: IdFactory
    pacing: Pacing = "fast"
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
class _Response:
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
    wake: anyio.Event = field(default_factory=anyio.Event)
    finished: anyio.Event = field(default_factory=anyio.Event)
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


class FakeSession:
    """The state and behaviour of one connection's Realtime session.

    Tests reach sessions through ``FakeRealtimeServer.sessions``: ``session`` is the effective
    configuration, ``conversation.items`` the default conversation, ``received`` the client
    events as decoded JSON and ``sent`` the server events (both bounded to the most recent
    ``history`` entries).
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
        self.closed = anyio.Event()
        self.close_code: int | None = None
        self._received_counts: dict[str, int] = {}
        self._received_signal = anyio.Event()
        self._link: Link | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        self._responses: dict[str, _Response] = {}
        #: The most recent response (for ``output_audio_buffer.cleared`` when none is active).
        self._last_response_id: str | None = None
        self._turns = 0
        self._voice_locked = False
        self._tokens_used = 0
        # Input audio: raw bytes (session input format) since _buffer_start_ms.
        self._buffer = bytearray()
        self._buffer_start_ms = 0.0
        self._appended_ms = 0.0
        self._vad: VoiceActivityDetector | None = None
        self._vad_item_id: str | None = None
        self._vad_start_ms = 0
        self._idle_from_ms: float | None = None
        self._configure_vad()

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

    def _configure_vad(self) -> None:
        detection = self._turn_detection
        if detection is None:
            self._vad = None
            self._vad_item_id = None
            return
        if detection["type"] == "semantic_vad":
            silence = {"low": 1000, "medium": 500, "auto": 500, "high": 250}[
                detection.get("eagerness", "auto")
            ]
            threshold, padding = 0.5, 300
        else:
            silence = int(detection["silence_duration_ms"])
            threshold = float(detection["threshold"])
            padding = int(detection["prefix_padding_ms"])
        rate = 24000 if self._input_format == "audio/pcm" else 8000
        if self._vad is not None and self._vad.rate == rate:
            self._vad.configure(
                threshold=threshold, prefix_padding_ms=padding, silence_duration_ms=silence
            )
            return
        self._vad = VoiceActivityDetector(
            threshold=threshold,
            prefix_padding_ms=padding,
            silence_duration_ms=silence,
            rate=rate,
            origin_ms=round(self._appended_ms),
        )
        self._vad.mark_buffer_start(round(self._buffer_start_ms))
        self._vad_item_id = None

    # -- control from tests -------------------------------------------------------------------

    def received_count(self, kind: str) -> int:
        """How many client events of type ``kind`` arrived so far (valid or not)."""
        return self._received_counts.get(kind, 0)

    async def wait_for_received(self, kind: str, count: int = 1) -> None:
        """Wait until ``count`` client events of type ``kind`` arrived in this session.

        Cancellation: safe.
        """
        while self.received_count(kind) < count:
            await self._received_signal.wait()

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send any server event now (``event_id`` is added); for testing a client's handling
        of events the script cannot produce.

        Cancellation: safe; the event is sent whole or not at all.
        """
        await self._send(event)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection from the server side with ``code`` and ``reason``.

        Cancellation: safe.
        """
        await self._close(code, reason)

    async def drop(self) -> None:
        """Drop the TCP connection without a close frame.

        Cancellation: safe.
        """
        assert self._link is not None
        await self._link.abort()

    # -- running -------------------------------------------------------------------------------

    async def run(self, link: Link) -> None:
        """Serve the session until the client leaves or the session ends.

        Cancellation: safe; the link is left to the caller to close.
        """
        self._link = link
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                if await self._refuse_if_fatal():
                    tg.cancel_scope.cancel()
                    return
                if not self.sideband:
                    await self._send({"type": "session.created", "session": self.session})
                tg.start_soon(self._expire)
                if self.info.call_ended is not None:
                    tg.start_soon(self._watch_call, self.info.call_ended)
                try:
                    while True:
                        frame = await link.receive()
                        await self._dispatch(frame)
                except LinkClosed:
                    pass
                tg.cancel_scope.cancel()
        except LinkClosed:
            pass
        finally:
            for response in self._responses.values():
                response.finished.set()
            self.closed.set()

    async def _refuse_if_fatal(self) -> bool:
        info = self.info
        if info.auth_error is not None:
            code, message = info.auth_error
            await self._send_error(code, message)
            await self._close(3000, "invalid_request_error" + (f".{code}" if code else ""))
            return True
        if info.beta_header:
            await self._send_error(
                "beta_api_shape_disabled",
                "The Realtime Beta API is no longer supported. Please use /v1/realtime for the "
                "GA API.",
            )
            await self._close(4000, "invalid_request_error.beta_api_shape_disabled")
            return True
        if info.model_error is not None:
            code, message = info.model_error
            await self._send_error(code, message)
            await self._close(4000, f"invalid_request_error.{code}")
            return True
        return False

    async def _close(self, code: int, reason: str) -> None:
        self.close_code = code
        assert self._link is not None
        await self._link.close(code, reason)

    async def _expire(self) -> None:
        duration = self.options.session_duration
        await anyio.sleep(max(0.0, self.created_at + duration - self.options.clock()))
        whole_minutes = duration % 60 == 0
        span = f"{int(duration // 60)} minutes" if whole_minutes else f"{duration:g} seconds"
        message = f"Your session hit the maximum duration of {span}."
        await self._send_error("session_expired", message)
        await self._close(1001, message)

    async def _watch_call(self, ended: anyio.Event) -> None:
        await ended.wait()
        await self._close(1000, "call ended")

    # -- sending -------------------------------------------------------------------------------

    async def _send(self, event: dict[str, Any], *, short_id: bool = False) -> None:
        event_id = self.ids.hex_event_id() if short_id else self.ids.event_id()
        full = {"type": event["type"], "event_id": event_id}
        full.update((k, v) for k, v in event.items() if k != "type")
        data = msgspec.json.encode(full)
        self.sent.append(msgspec.json.decode(data))
        assert self._link is not None
        await self._link.send(data)

    async def _send_error(
        self,
        code: str | None,
        message: str,
        *,
        param: str | None = None,
        event_id: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        await self._send(
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

    def _b64(self, data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    # -- dispatch ------------------------------------------------------------------------------

    async def _dispatch(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            await self._send_error(
                "invalid_event",
                "Expected a text WebSocket message; binary frames are not supported.",
            )
            return
        try:
            raw: Any = msgspec.json.decode(frame)
        except msgspec.DecodeError as exc:
            await self._send_error(
                "invalid_json", f"Invalid event: failed to parse JSON value. {exc}"
            )
            return
        if not isinstance(raw, dict):
            await self._send_error(
                "invalid_type",
                f"Invalid type for event: expected an object, but got {describe(raw)} instead.",
            )
            return
        event: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
        self.received.append(event)
        kind_seen = str(event.get("type"))
        self._received_counts[kind_seen] = self._received_counts.get(kind_seen, 0) + 1
        self._received_signal.set()
        self._received_signal = anyio.Event()
        client_event_id = event.get("event_id")
        event_id = client_event_id if isinstance(client_event_id, str) else None
        try:
            kind, typed = self._check_event(event, frame)
            await self._handle(kind, event, typed, frame)
        except Invalid as exc:
            await self._send_error(
                exc.code, exc.message, param=exc.param, event_id=event_id, type=exc.type
            )

    def _check_event(self, event: dict[str, Any], frame: str) -> tuple[str, object]:
        if "type" not in event:
            raise missing("type")
        kind = event["type"]
        allowed = CLIENT_EVENT_TYPES
        if self.sideband:
            allowed = (*CLIENT_EVENT_TYPES, "output_audio_buffer.clear")
        if not isinstance(kind, str) or kind not in allowed:
            shown = kind if isinstance(kind, str) else msgspec.json.encode(kind).decode()
            raise Invalid(
                "invalid_value",
                f"Invalid value: '{shown}'. Supported values are: "
                f"{quote_list(CLIENT_EVENT_TYPES)}.",
                "type",
            )
        if "event_id" in event:
            expect_str(event["event_id"], "event_id")
        required, optional = _TOP_LEVEL[kind]
        for key in event:
            if key not in ("type", "event_id", *required, *optional):
                raise unknown(key)
        for key in required:
            if key not in event:
                raise missing(key)
        struct_type = _client_struct(kind)
        typed: object = None
        if struct_type is not None:
            path = unknown_parameter(event, struct_type)
            if path is not None:
                raise unknown(path)
            if kind not in _VALIDATED_BY_HAND:
                typed = _gate(kind, frame)
        return kind, typed

    async def _handle(self, kind: str, event: dict[str, Any], typed: object, frame: str) -> None:
        if kind == "session.update":
            await self._session_update(event, frame)
        elif kind in ("input_audio_buffer.append", "session.input_audio_buffer.append"):
            await self._append(event, typed)
        elif kind == "input_audio_buffer.commit":
            await self._commit_manual()
        elif kind == "input_audio_buffer.clear":
            await self._clear_buffer()
        elif kind == "conversation.item.create":
            await self._item_create(event, frame)
        elif kind == "conversation.item.delete":
            await self._item_delete(event)
        elif kind == "conversation.item.retrieve":
            await self._item_retrieve(event)
        elif kind == "conversation.item.truncate":
            await self._item_truncate(event)
        elif kind == "response.create":
            await self._response_create(event, frame)
        elif kind == "response.cancel":
            await self._response_cancel(event)
        elif kind == "output_audio_buffer.clear":
            await self._output_buffer_clear()
        elif kind == "session.close":
            await self._close(1000, "")
            raise LinkClosed

    # -- session -------------------------------------------------------------------------------

    async def _session_update(self, event: dict[str, Any], frame: str) -> None:
        updated = apply_session_update(
            self.session, event["session"], voice_locked=self._voice_locked
        )
        _gate("session.update", frame)
        self.session = updated
        self._configure_vad()
        await self._send({"type": "session.updated", "session": self.session})

    # -- input audio ---------------------------------------------------------------------------

    async def _append(self, event: dict[str, Any], typed: object) -> None:
        if isinstance(typed, InputAudioBufferAppend):
            data = typed.audio
        else:
            text = expect_str(event["audio"], "audio")
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise Invalid(
                    "invalid_value", "Invalid 'audio': expected base64-encoded audio data.", "audio"
                ) from None
        fmt = self._input_format
        self._buffer += data
        self._appended_ms += len(data) / bytes_per_ms(fmt)
        if self._vad is None:
            return
        # The detector runs at the input's own rate: 24 kHz PCM, or 8 kHz decoded G.711.
        pcm = data if fmt == "audio/pcm" else decode_g711(data, fmt)
        for decision in self._vad.feed(pcm):
            if isinstance(decision, SpeechStarted):
                await self._speech_started(decision.audio_start_ms)
            else:
                await self._speech_stopped(decision.audio_end_ms)
        await self._check_idle_timeout()

    async def _speech_started(self, start_ms: int) -> None:
        self._idle_from_ms = None
        self._vad_item_id = self.ids.new("item_")
        self._vad_start_ms = start_ms
        await self._send(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": start_ms,
                "item_id": self._vad_item_id,
            }
        )
        detection = self._turn_detection
        if detection is not None and detection.get("interrupt_response", True):
            active = self._active_default()
            if active is not None:
                await self._cancel(active, "turn_detected")

    async def _speech_stopped(self, end_ms: int) -> None:
        item_id = self._vad_item_id or self.ids.new("item_")
        self._vad_item_id = None
        await self._send(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": end_ms,
                "item_id": item_id,
            }
        )
        audio = self._take_buffer(self._vad_start_ms, end_ms)
        await self._commit(audio, item_id)
        detection = self._turn_detection
        if detection is not None and detection.get("create_response", True):
            await self._start_response({}, auto=True)

    async def _check_idle_timeout(self) -> None:
        detection = self._turn_detection
        if (
            detection is None
            or detection.get("type") != "server_vad"
            or detection.get("idle_timeout_ms") is None
            or self._idle_from_ms is None
            or (self._vad is not None and self._vad.speaking)
            or self._active_default() is not None
        ):
            return
        start = self._idle_from_ms
        if self._appended_ms - start < float(detection["idle_timeout_ms"]):
            return
        self._idle_from_ms = None
        item_id = self.ids.new("item_")
        end = round(self._appended_ms)
        await self._send(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": round(start),
                "audio_end_ms": end,
                "item_id": item_id,
            }
        )
        await self._commit(self._take_buffer(round(start), end), item_id)
        await self._start_response({}, auto=True)

    def _take_buffer(self, start_ms: float, end_ms: float) -> bytes:
        """Remove audio up to ``end_ms`` from the buffer; return the ``start_ms``.. part."""
        per_ms = bytes_per_ms(self._input_format)
        align = 2 if per_ms == 48 else 1
        begin = max(0, round((start_ms - self._buffer_start_ms) * per_ms))
        stop = max(begin, round((end_ms - self._buffer_start_ms) * per_ms))
        begin -= begin % align
        stop -= stop % align
        audio = bytes(self._buffer[begin:stop])
        del self._buffer[:stop]
        self._buffer_start_ms += stop / per_ms
        if self._vad is not None:
            self._vad.mark_buffer_start(round(self._buffer_start_ms))
        return audio

    async def _commit_manual(self) -> None:
        buffered_ms = len(self._buffer) / bytes_per_ms(self._input_format)
        if buffered_ms < 100:
            raise Invalid(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least 100ms "
                f"of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
            )
        item_id = self._vad_item_id or self.ids.new("item_")
        self._vad_item_id = None
        if self._vad is not None:
            self._vad.reset_turn()
        audio = self._take_buffer(self._buffer_start_ms, self._appended_ms)
        await self._commit(audio, item_id)

    async def _commit(self, audio: bytes, item_id: str) -> None:
        item = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        previous = self.conversation.insert(item, None)
        self.conversation.audio[(item_id, 0)] = audio
        self.conversation.formats[item_id] = self._input_format
        await self._send(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            }
        )
        await self._send(
            {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
        )
        await self._send(
            {"type": "conversation.item.done", "previous_item_id": previous, "item": item}
        )
        if self.session["audio"]["input"].get("transcription") is not None:
            pcm = to_pcm24k(audio, self._input_format)
            if self.options.pacing == "realtime":
                assert self._tg is not None
                self._tg.start_soon(self._transcribe, item_id, pcm)
            else:
                await self._transcribe(item_id, pcm)

    async def _transcribe(self, item_id: str, pcm: bytes) -> None:
        transcript = self.script.transcribe(pcm)
        logprobs = "item.input_audio_transcription.logprobs" in (self.session.get("include") or [])
        probabilities: list[dict[str, Any]] = []
        for token in _tokens(transcript):
            if self.options.pacing == "realtime":
                await anyio.sleep(_TEXT_TOKEN_SECONDS)
            delta: dict[str, Any] = {
                "type": "conversation.item.input_audio_transcription.delta",
                "item_id": item_id,
                "content_index": 0,
                "delta": token,
                "obfuscation": self.ids.obfuscation(token),
            }
            if logprobs:
                entry = {"token": token, "logprob": -0.01, "bytes": list(token.encode())}
                probabilities.append(entry)
                delta["logprobs"] = [entry]
            await self._send(delta)
        item = self.conversation.get(item_id)
        if item is not None:
            item["content"][0]["transcript"] = transcript
        completed: dict[str, Any] = {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": item_id,
            "content_index": 0,
            "transcript": transcript,
            "usage": {"type": "duration", "seconds": math.ceil(len(pcm) / 48000)},
        }
        if logprobs:
            completed["logprobs"] = probabilities
        await self._send(completed)

    async def _clear_buffer(self) -> None:
        self._take_buffer(self._appended_ms, self._appended_ms)
        self._vad_item_id = None
        if self._vad is not None:
            self._vad.reset_turn()
        await self._send({"type": "input_audio_buffer.cleared"})

    # -- conversation items --------------------------------------------------------------------

    async def _item_create(self, event: dict[str, Any], frame: str) -> None:
        item, audio = normalize_client_item(
            event["item"],
            "item",
            new_id=lambda: self.ids.new("item_"),
            new_call_id=self.ids.call_id,
        )
        if self.conversation.get(item["id"]) is not None:
            raise Invalid(
                "invalid_value",
                f"Item with id '{item['id']}' already exists in the conversation.",
                "item.id",
            )
        if item["type"] == "function_call_output" and not self.conversation.has_function_call(
            item["call_id"]
        ):
            raise Invalid(
                "invalid_value",
                f"No function call found with call_id '{item['call_id']}'.",
                "item.call_id",
            )
        previous = event.get("previous_item_id")
        if previous is not None:
            previous = expect_str(previous, "previous_item_id")
            if previous != "root" and self.conversation.get(previous) is None:
                raise Invalid(
                    "item_create_invalid_previous_item_id",
                    f"Error adding item: the previous item with id '{previous}' does not exist.",
                    "previous_item_id",
                )
        _gate("conversation.item.create", frame)
        before = self.conversation.insert(item, previous)
        for index, data in audio.items():
            self.conversation.audio[(item["id"], index)] = data
        if audio:
            self.conversation.formats[item["id"]] = self._input_format
        await self._send(
            {"type": "conversation.item.added", "previous_item_id": before, "item": item}
        )
        await self._send(
            {"type": "conversation.item.done", "previous_item_id": before, "item": item}
        )

    async def _item_delete(self, event: dict[str, Any]) -> None:
        item_id = expect_str(event["item_id"], "item_id")
        if not self.conversation.delete(item_id):
            raise Invalid(
                "item_delete_invalid_item_id",
                f"Error deleting item: the item with id '{item_id}' does not exist.",
                "item_id",
            )
        await self._send({"type": "conversation.item.deleted", "item_id": item_id})

    async def _item_retrieve(self, event: dict[str, Any]) -> None:
        item_id = expect_str(event["item_id"], "item_id")
        item = self.conversation.get(item_id)
        if item is None:
            raise Invalid(
                "item_retrieve_invalid_item_id",
                f"Error retrieving item: the item with id '{item_id}' does not exist.",
                "item_id",
            )
        full = self.conversation.with_audio(item, self._b64)
        await self._send({"type": "conversation.item.retrieved", "item": full})

    async def _item_truncate(self, event: dict[str, Any]) -> None:
        item_id = expect_str(event["item_id"], "item_id")
        content_index = expect_int(event["content_index"], "content_index", minimum=0)
        audio_end_ms = expect_int(event["audio_end_ms"], "audio_end_ms", minimum=0)
        item = self.conversation.get(item_id)
        if item is None:
            raise Invalid(
                "item_truncate_invalid_item_id",
                f"Error truncating item: the item with id '{item_id}' does not exist.",
                "item_id",
            )
        content: list[dict[str, Any]] = item.get("content") or []
        audio = self.conversation.audio.get((item_id, content_index))
        if (
            item.get("role") != "assistant"
            or content_index >= len(content)
            or content[content_index].get("type") != "output_audio"
            or audio is None
        ):
            raise Invalid(
                "unsupported_content_type",
                "Only model output audio messages can be truncated",
                "item_id",
            )
        fmt = self.conversation.formats.get(item_id, "audio/pcm")
        per_ms = bytes_per_ms(fmt)
        duration = len(audio) / per_ms
        if audio_end_ms > duration:
            raise Invalid(
                "invalid_value",
                f"Audio content of {math.floor(duration)}ms is already shorter than "
                f"{audio_end_ms}ms",
                "audio_end_ms",
            )
        cut = audio_end_ms * per_ms
        cut -= cut % (2 if per_ms == 48 else 1)
        self.conversation.audio[(item_id, content_index)] = audio[:cut]
        content[content_index]["transcript"] = ""
        self.conversation.truncated.add(item_id)
        await self._send(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": content_index,
                "audio_end_ms": audio_end_ms,
            }
        )

    # -- responses -----------------------------------------------------------------------------

    def _active_default(self) -> _Response | None:
        for response in self._responses.values():
            if response.in_conversation and not response.released:
                return response
        return None

    async def _response_create(self, event: dict[str, Any], frame: str) -> None:
        if self.kind == "transcription":
            raise Invalid(
                "invalid_value",
                "Invalid value: 'response.create'. Transcription sessions do not create responses.",
                "type",
            )
        params = validate_response_params(event.get("response", {}))
        if "input" in params:
            params["input"] = self._resolve_input(params["input"])
        _gate("response.create", frame)
        await self._start_response(params, auto=False)

    async def _start_response(self, params: dict[str, Any], *, auto: bool) -> None:
        if self.kind == "transcription":
            return  # turn detection only segments audio for transcription there
        in_conversation = params.get("conversation", "auto") != "none"
        active = self._active_default()
        if in_conversation and active is not None:
            if auto:
                return
            raise Invalid(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {active.id}. Wait "
                "until the response is finished before creating a new one.",
            )
        if "input" in params:
            context: list[dict[str, Any]] = params["input"]
        else:
            context = self.conversation.snapshot()
        output = self.session["audio"]["output"]
        requested_output = params.get("audio", {}).get("output", {})
        response = _Response(
            id=self.ids.new("resp_"),
            in_conversation=in_conversation,
            modalities=list(params.get("output_modalities", self.session["output_modalities"])),
            audio_format=requested_output.get("format", output["format"]),
            voice=requested_output.get("voice", output["voice"]),
            speed=float(output.get("speed", 1.0)),
            max_output_tokens=params.get(
                "max_output_tokens", self.session.get("max_output_tokens", "inf")
            ),
            metadata=params.get("metadata"),
            params=params,
            context=context,
        )
        self._responses[response.id] = response
        self._last_response_id = response.id
        self._idle_from_ms = None
        assert self._tg is not None
        self._tg.start_soon(self._run_response, response)

    def _resolve_input(self, raw_items: list[Any]) -> list[dict[str, Any]]:
        context: list[dict[str, Any]] = []
        for index, raw in enumerate(raw_items):
            path = f"response.input[{index}]"
            candidate = expect_object(raw, path)
            if candidate.get("type") == "item_reference":
                for key in candidate:
                    if key not in ("type", "id"):
                        raise unknown(f"{path}.{key}")
                if "id" not in candidate:
                    raise missing(f"{path}.id")
                ref = expect_str(candidate["id"], f"{path}.id")
                item = self.conversation.get(ref)
                if item is None:
                    raise Invalid(
                        "invalid_value",
                        f"Invalid item reference: the item with id '{ref}' does not exist.",
                        f"{path}.id",
                    )
                context.append(copy.deepcopy(item))
            else:
                item, _ = normalize_client_item(
                    raw, path, new_id=lambda: self.ids.new("item_"), new_call_id=self.ids.call_id
                )
                context.append(item)
        return context

    async def _response_cancel(self, event: dict[str, Any]) -> None:
        target: _Response | None
        if event.get("response_id") is not None:
            response_id = expect_str(event["response_id"], "response_id")
            target = self._responses.get(response_id)
            if target is not None and target.released:
                target = None
        else:
            target = self._active_default()
        # Like the service, a cancel that overtakes response.created finds nothing to cancel
        # (and the response then runs to completion).
        if target is not None and not target.announced:
            target = None
        if target is None:
            raise Invalid(
                "response_cancel_not_active", "Cancellation failed: no active response found"
            )
        await self._cancel(target, "client_cancelled")

    async def _cancel(self, response: _Response, reason: str) -> None:
        if response.cancel_reason is None:
            response.cancel_reason = reason
        response.wake.set()
        # Wait for the closing events, so that whatever the client sends next sees the
        # conversation without an active response (as it would after the live service's).
        await response.finished.wait()

    async def _output_buffer_clear(self) -> None:
        active = self._active_default()
        if active is not None:
            await self._cancel(active, "client_cancelled")
        # ``response_id`` is a required string: name the response whose audio was cleared (the
        # active one, else the latest); before any response there is nothing to clear.
        response_id = active.id if active is not None else self._last_response_id
        if response_id is None:
            raise Invalid(
                "invalid_value",
                "Cannot clear the output audio buffer: no response has produced audio yet.",
            )
        await self._send(
            {"type": "output_audio_buffer.cleared", "response_id": response_id}, short_id=True
        )

    async def _pace(self, response: _Response, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        with anyio.move_on_after(seconds):
            await response.wake.wait()

    def _response_object(self, response: _Response, status: str) -> dict[str, Any]:
        return {
            "object": "realtime.response",
            "id": response.id,
            "status": status,
            "status_details": None,
            "output": [],
            "conversation_id": self.conversation_id if response.in_conversation else None,
            "output_modalities": response.modalities,
            "max_output_tokens": response.max_output_tokens,
            "audio": {"output": {"format": response.audio_format, "voice": response.voice}},
            "usage": None,
            "metadata": response.metadata,
        }

    async def _run_response(self, response: _Response) -> None:
        try:
            await self._send(
                {
                    "type": "response.created",
                    "response": self._response_object(response, "in_progress"),
                }
            )
            response.announced = True
            context = TurnContext(
                input=copy.deepcopy(response.context),
                conversation=self.conversation.snapshot(),
                session=copy.deepcopy(self.session),
                response=copy.deepcopy(response.params),
                turn=self._turns,
            )
            self._turns += 1
            try:
                reply = await self.script.next_reply(context)
            except Exception as exc:
                logger.exception("the fake server's responder raised")
                reply = Reply(
                    failure=Failure(
                        "server_error",
                        f"The scripted responder raised {type(exc).__name__}: {exc}",
                        "server_error",
                    )
                )
            if reply.delay:
                await self._pace(response, reply.delay)
            for item in reply.items:
                if response.stopped:
                    break
                if isinstance(item, Say):
                    await self._stream_message(response, item)
                else:
                    await self._stream_call(response, item)
            await self._finish(response, reply.failure)
        finally:
            response.released = True
            self._responses.pop(response.id, None)
            response.finished.set()

    def _count_limit(self, response: _Response) -> None:
        limit = response.max_output_tokens
        if isinstance(limit, int):
            used = response.text_tokens + math.ceil(response.audio_ms / 50)
            if used >= limit:
                response.limit_hit = True

    async def _add_output_item(self, response: _Response, item: dict[str, Any]) -> int:
        output_index = len(response.output)
        response.output.append(item)
        await self._send(
            {
                "type": "response.output_item.added",
                "response_id": response.id,
                "output_index": output_index,
                "item": item,
            }
        )
        if response.in_conversation:
            stored = copy.deepcopy(item)
            previous = self.conversation.insert(stored, None)
            await self._send(
                {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
            )
        return output_index

    async def _close_output_item(
        self, response: _Response, output_index: int, item: dict[str, Any]
    ) -> None:
        response.output[output_index] = item
        if response.in_conversation:
            stored = self.conversation.get(item["id"])
            if stored is not None:
                stored.clear()
                stored.update(copy.deepcopy(item))
                if item["id"] in self.conversation.truncated:
                    for part in stored.get("content", []):
                        if "transcript" in part:
                            part["transcript"] = ""
            await self._send(
                {"type": "conversation.item.done", "previous_item_id": None, "item": item}
            )
        await self._send(
            {
                "type": "response.output_item.done",
                "response_id": response.id,
                "output_index": output_index,
                "item": item,
            }
        )

    async def _stream_message(self, response: _Response, say: Say) -> None:
        item_id = self.ids.new("item_")
        audio_mode = response.modalities == ["audio"]
        fmt = str(response.audio_format.get("type", "audio/pcm"))
        output_index = await self._add_output_item(
            response,
            {
                "id": item_id,
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            },
        )
        if response.in_conversation and audio_mode:
            self.conversation.formats[item_id] = fmt
        part: dict[str, Any] = (
            {"type": "audio", "transcript": ""} if audio_mode else {"type": "text", "text": ""}
        )
        ids: dict[str, Any] = {
            "response_id": response.id,
            "item_id": item_id,
            "output_index": output_index,
            "content_index": 0,
        }
        await self._send({"type": "response.content_part.added", **ids, "part": part})
        stored_item = self.conversation.get(item_id) if response.in_conversation else None
        if stored_item is not None and audio_mode:
            # The part exists from here on, so a client may truncate the item mid-stream.
            stored_item["content"] = [{"type": "output_audio", "transcript": ""}]
        tokens = _tokens(say.text) or [""]
        written = ""
        if audio_mode:
            self._voice_locked = True
            voice = response.voice if isinstance(response.voice, str) else str(response.voice["id"])
            if say.audio is not None:
                pieces = _split_evenly(say.audio, len(tokens))
            else:
                pieces = list(speech_tokens(tokens, voice=voice, speed=response.speed))
            chunk_pcm = _AUDIO_CHUNK_MS * 48
            pending = b""
            sent_audio = bytearray()
            started = anyio.current_time()
            for token, pcm in zip(tokens, pieces, strict=True):
                if response.stopped:
                    break
                if token:
                    await self._send(
                        {
                            "type": "response.output_audio_transcript.delta",
                            **ids,
                            "delta": token,
                            "obfuscation": self.ids.obfuscation(token),
                        }
                    )
                    written += token
                    response.text_tokens += 1
                if self.sideband and not response.started_buffer:
                    response.started_buffer = True
                    await self._send(
                        {"type": "output_audio_buffer.started", "response_id": response.id},
                        short_id=True,
                    )
                pending += pcm
                while len(pending) >= chunk_pcm and not response.stopped:
                    chunk, pending = pending[:chunk_pcm], pending[chunk_pcm:]
                    await self._send_audio(response, ids, chunk, fmt, item_id, sent_audio)
                    await self._pace_audio(response, started)
                # Let a cancel or a barge-in in, even when no chunk was due.
                await anyio.lowlevel.checkpoint()
            if pending and not response.stopped:
                await self._send_audio(response, ids, pending, fmt, item_id, sent_audio)
            await self._send({"type": "response.output_audio.done", **ids})
            await self._send(
                {"type": "response.output_audio_transcript.done", **ids, "transcript": written}
            )
            final_part: dict[str, Any] = {"type": "audio", "transcript": written}
            content: dict[str, Any] = {"type": "output_audio", "transcript": written}
        else:
            for token in tokens:
                if response.stopped:
                    break
                await self._send(
                    {
                        "type": "response.output_text.delta",
                        **ids,
                        "delta": token,
                        "obfuscation": self.ids.obfuscation(token),
                    }
                )
                written += token
                response.text_tokens += 1
                self._count_limit(response)
                await self._pace(
                    response, _TEXT_TOKEN_SECONDS if self.options.pacing == "realtime" else 0
                )
            await self._send({"type": "response.output_text.done", **ids, "text": written})
            final_part = {"type": "text", "text": written}
            content = {"type": "output_text", "text": written}
        await self._send({"type": "response.content_part.done", **ids, "part": final_part})
        status = "incomplete" if response.stopped else "completed"
        await self._close_output_item(
            response,
            output_index,
            {
                "id": item_id,
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": [content],
            },
        )

    async def _send_audio(
        self,
        response: _Response,
        ids: dict[str, Any],
        pcm: bytes,
        fmt: str,
        item_id: str,
        sent_audio: bytearray,
    ) -> None:
        data = from_pcm24k(pcm, fmt)
        response.audio_ms += len(pcm) / 48
        if not self.sideband:
            await self._send(
                {"type": "response.output_audio.delta", **ids, "delta": self._b64(data)}
            )
        if response.in_conversation:
            stored = self.conversation.get(item_id)
            if stored is not None and item_id not in self.conversation.truncated:
                sent_audio += data
                self.conversation.audio[(item_id, 0)] = bytes(sent_audio)
        self._count_limit(response)

    async def _pace_audio(self, response: _Response, started: float) -> None:
        if self.options.pacing != "realtime":
            await anyio.lowlevel.checkpoint()
            return
        # Stay one chunk ahead of playback so a client playing as it receives never starves.
        ahead = (response.audio_ms - _AUDIO_CHUNK_MS) / 1000
        await self._pace(response, started + ahead - anyio.current_time())

    async def _stream_call(self, response: _Response, call: ToolCall) -> None:
        item_id = self.ids.new("item_")
        call_id = call.call_id or self.ids.call_id()
        base = {"id": item_id, "type": "function_call", "name": call.name, "call_id": call_id}
        output_index = await self._add_output_item(
            response, {**base, "status": "in_progress", "arguments": ""}
        )
        arguments = call.arguments_json
        sent = ""
        for start in range(0, len(arguments), 8):
            if response.stopped:
                break
            delta = arguments[start : start + 8]
            await self._send(
                {
                    "type": "response.function_call_arguments.delta",
                    "response_id": response.id,
                    "item_id": item_id,
                    "output_index": output_index,
                    "call_id": call_id,
                    "delta": delta,
                    "obfuscation": self.ids.obfuscation(delta),
                }
            )
            sent += delta
            response.text_tokens += 1
            self._count_limit(response)
            await self._pace(
                response, _TEXT_TOKEN_SECONDS if self.options.pacing == "realtime" else 0
            )
        await self._send(
            {
                "type": "response.function_call_arguments.done",
                "response_id": response.id,
                "item_id": item_id,
                "output_index": output_index,
                "call_id": call_id,
                "name": call.name,
                "arguments": sent,
            }
        )
        status = "incomplete" if response.stopped else "completed"
        await self._close_output_item(
            response, output_index, {**base, "status": status, "arguments": sent}
        )

    def _usage(self, response: _Response) -> dict[str, Any]:
        instructions = str(
            response.params.get("instructions", self.session.get("instructions", ""))
        )
        text_in = _text_tokens(instructions)
        audio_in = 0
        for item in response.context:
            for part in item.get("content", []) if item.get("type") == "message" else [item]:
                for key in ("text", "transcript", "arguments", "output"):
                    value = part.get(key)
                    if isinstance(value, str):
                        text_in += _text_tokens(value)
            for index, part in enumerate(item.get("content", [])):
                audio = self.conversation.audio.get((item.get("id", ""), index))
                if audio is not None and part.get("type") in ("input_audio", "output_audio"):
                    fmt = self.conversation.formats.get(item.get("id", ""), "audio/pcm")
                    ms = len(audio) / bytes_per_ms(fmt)
                    audio_in += math.ceil(ms / (100 if part["type"] == "input_audio" else 50))
        audio_out = math.ceil(response.audio_ms / 50)
        total_in = text_in + audio_in
        total_out = response.text_tokens + audio_out
        return {
            "total_tokens": total_in + total_out,
            "input_tokens": total_in,
            "output_tokens": total_out,
            "input_token_details": {
                "text_tokens": text_in,
                "audio_tokens": audio_in,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {
                "text_tokens": response.text_tokens,
                "audio_tokens": audio_out,
            },
        }

    async def _finish(self, response: _Response, failure: Failure | None) -> None:
        details: dict[str, Any] | None
        if response.cancel_reason is not None:
            status = "cancelled"
            details = {"type": "cancelled", "reason": response.cancel_reason}
        elif response.limit_hit:
            status = "incomplete"
            details = {"type": "incomplete", "reason": "max_output_tokens"}
        elif failure is not None:
            status = "failed"
            details = {
                "type": "failed",
                "error": {"type": failure.type, "code": failure.code, "message": failure.message},
            }
        else:
            status = "completed"
            details = None
        body = self._response_object(response, status)
        body["status_details"] = details
        body["output"] = response.output
        usage = self._usage(response)
        body["usage"] = usage
        self._tokens_used += usage["total_tokens"]
        # Free the conversation before response.done goes out: a client that reacts to it
        # with a new response.create must not see conversation_already_has_active_response.
        response.released = True
        if response.in_conversation:
            playback_ms = response.audio_ms if self.options.pacing == "fast" else 0.0
            self._idle_from_ms = self._appended_ms + playback_ms
        await self._send({"type": "response.done", "response": body})
        if self.options.pacing == "realtime":
            await anyio.sleep(0.04)
        await self._send(
            {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {
                        "name": "tokens",
                        "limit": _RATE_LIMIT,
                        "remaining": max(0, _RATE_LIMIT - self._tokens_used),
                        "reset_seconds": 0.001,
                    }
                ],
            }
        )
        if response.started_buffer:
            await self._send(
                {"type": "output_audio_buffer.stopped", "response_id": response.id},
                short_id=True,
            )


# -- helpers ---------------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    """Split text into model-like tokens: words with their leading space, punctuation alone."""
    return _TOKEN.findall(text)


def _text_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def _split_evenly(data: bytes, parts: int) -> list[bytes]:
    size = len(data) // max(1, parts)
    size -= size % 2
    pieces = [data[i * size : (i + 1) * size] for i in range(parts - 1)]
    pieces.append(data[(parts - 1) * size :])
    return pieces


def _client_struct(kind: str) -> type[msgspec.Struct] | None:
    """The Struct describing client event ``kind`` in ``realtime_anyio.events``, if any."""
    if kind == "session.input_audio_buffer.append":
        kind = "input_audio_buffer.append"
    return CLIENT_STRUCTS.get(kind)


_VALIDATED_BY_HAND = frozenset({"session.update", "conversation.item.create", "response.create"})


def _gate(kind: str, frame: str) -> object:
    """Decode with the project's own event Structs; the last check before acting on an event.

    Hand-written checks run first for the events they cover, so their service-style messages
    win; this catches anything they miss, and yields the typed event.
    """
    if kind not in CLIENT_STRUCTS:
        return None
    try:
        return decode_client_event(frame)
    except RemoteProtocolError as exc:
        raise _typed_error(exc) from None


def _typed_error(exc: RemoteProtocolError) -> Invalid:
    """The service-style error for a frame our own event Structs refuse."""
    path = exc.path or None
    reason = exc.reason.split(": ", 1)[-1]
    if path is None:
        return Invalid("invalid_value", f"Invalid event: {reason}.")
    code = "invalid_type" if reason.startswith("Expected") else "invalid_value"
    return Invalid(code, f"Invalid value for '{path}': {reason}.", path)
