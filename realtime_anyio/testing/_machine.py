"""The protocol state machine of one fake Realtime session: synchronous, no I/O.

:class:`SessionMachine` takes client frames and produces server events, imitating the live
service as recorded in the project's BEHAVIOUR notes: event order, error codes and messages,
defaults, ids, limits, voice activity detection, response streaming and cancellation. Each
operation is a generator of :mod:`~._effects` (send this, close, pace, run that concurrently);
``_session.py`` drives it over a real link, and tests can drive it by hand. The concerns live in
their own modules: ``_responses.py``, ``_input_audio.py``, ``_items.py``; this one validates and
dispatches client events and owns the session's start and end.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._core import (
    CLIENT_EVENT_TYPES,
    TOP_LEVEL,
    VALIDATED_BY_HAND,
    ConnectInfo,
    LinkClosed,
    SessionOptions,
    client_struct,
    gate,
)
from ._effects import Close, Received, Send, Steps
from ._items import Items
from ._settings import apply_session_update
from ._validate import (
    Invalid,
    describe,
    expect_str,
    missing,
    quote_list,
    unknown,
    unknown_parameter,
)

__all__ = ["SessionMachine"]


class SessionMachine(Items):
    """One session's protocol behaviour, as generators of effects (see the module docstring)."""

    def __init__(self, options: SessionOptions, info: ConnectInfo) -> None:
        super().__init__(options, info)
        self._configure_vad()

    # -- start and end -------------------------------------------------------------------------

    def open(self) -> Steps[bool]:
        """The session's first events: ``session.created``, or an error and a close.

        Returns whether the session goes on (``False``: the connection was refused).
        """
        if (yield from self._refuse_if_fatal()):
            return False
        if not self.sideband:
            yield self._emit({"type": "session.created", "session": self.session})
        return True

    def _refuse_if_fatal(self) -> Steps[bool]:
        info = self.info
        if info.auth_error is not None:
            code, message = info.auth_error
            yield self._error(code, message)
            yield self._close(3000, "invalid_request_error" + (f".{code}" if code else ""))
            return True
        if info.beta_header:
            yield self._error(
                "beta_api_shape_disabled",
                "The Realtime Beta API is no longer supported. Please use /v1/realtime for the "
                "GA API.",
            )
            yield self._close(4000, "invalid_request_error.beta_api_shape_disabled")
            return True
        if info.model_error is not None:
            code, message = info.model_error
            yield self._error(code, message)
            yield self._close(4000, f"invalid_request_error.{code}")
            return True
        return False

    def expiry_delay(self) -> float:
        """Seconds of wall-clock time until the session reaches its maximum duration."""
        return max(0.0, self.created_at + self.options.session_duration - self.options.clock())

    def expire(self) -> Steps[None]:
        """The session reached its maximum duration: say so and close with 1001."""
        duration = self.options.session_duration
        whole_minutes = duration % 60 == 0
        span = f"{int(duration // 60)} minutes" if whole_minutes else f"{duration:g} seconds"
        message = f"Your session hit the maximum duration of {span}."
        yield self._error("session_expired", message)
        yield self._close(1001, message)

    def close(self, code: int, reason: str) -> Close:
        """The effect that closes the connection from the server side."""
        return self._close(code, reason)

    def emit(self, event: dict[str, Any]) -> Send:
        """Any server event (an ``event_id`` is added), for tests of a client's handling."""
        return self._emit(event)

    # -- client events ---------------------------------------------------------------------------

    def receive_frame(self, frame: str | bytes) -> Steps[None]:
        """Handle one data frame from the client (text as ``str``).

        A frame that is not a valid client event is answered with an ``error`` event; the
        session goes on. Raises :class:`~._core.LinkClosed` after ``session.close``.
        """
        if isinstance(frame, bytes):
            yield self._error(
                "invalid_event",
                "Expected a text WebSocket message; binary frames are not supported.",
            )
            return
        try:
            raw: Any = msgspec.json.decode(frame)
        except msgspec.DecodeError as exc:
            yield self._error("invalid_json", f"Invalid event: failed to parse JSON value. {exc}")
            return
        if not isinstance(raw, dict):
            yield self._error(
                "invalid_type",
                f"Invalid type for event: expected an object, but got {describe(raw)} instead.",
            )
            return
        event: dict[str, Any] = raw  # pyright: ignore[reportUnknownVariableType]
        self.received.append(event)
        kind_seen = str(event.get("type"))
        self._received_counts[kind_seen] = self._received_counts.get(kind_seen, 0) + 1
        yield Received()
        client_event_id = event.get("event_id")
        event_id = client_event_id if isinstance(client_event_id, str) else None
        try:
            kind, typed = self._check_event(event, frame)
            yield from self._handle(kind, event, typed, frame)
        except Invalid as exc:
            yield self._error(
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
        required, optional = TOP_LEVEL[kind]
        for key in event:
            if key not in ("type", "event_id", *required, *optional):
                raise unknown(key)
        for key in required:
            if key not in event:
                raise missing(key)
        struct_type = client_struct(kind)
        typed: object = None
        if struct_type is not None:
            path = unknown_parameter(event, struct_type)
            if path is not None:
                raise unknown(path)
            if kind not in VALIDATED_BY_HAND:
                typed = gate(kind, frame)
        return kind, typed

    def _handle(self, kind: str, event: dict[str, Any], typed: object, frame: str) -> Steps[None]:
        if kind == "session.update":
            yield from self._session_update(event, frame)
        elif kind in ("input_audio_buffer.append", "session.input_audio_buffer.append"):
            yield from self._append(event, typed)
        elif kind == "input_audio_buffer.commit":
            yield from self._commit_manual()
        elif kind == "input_audio_buffer.clear":
            yield from self._clear_buffer()
        elif kind == "conversation.item.create":
            yield from self._item_create(event, frame)
        elif kind == "conversation.item.delete":
            yield from self._item_delete(event)
        elif kind == "conversation.item.retrieve":
            yield from self._item_retrieve(event)
        elif kind == "conversation.item.truncate":
            yield from self._item_truncate(event)
        elif kind == "response.create":
            yield from self._response_create(event, frame)
        elif kind == "response.cancel":
            yield from self._response_cancel(event)
        elif kind == "output_audio_buffer.clear":
            yield from self._output_buffer_clear()
        elif kind == "session.close":
            yield self._close(1000, "")
            raise LinkClosed

    def _session_update(self, event: dict[str, Any], frame: str) -> Steps[None]:
        updated = apply_session_update(
            self.session, event["session"], voice_locked=self._voice_locked
        )
        gate("session.update", frame)
        self.session = updated
        self._configure_vad()
        yield self._emit({"type": "session.updated", "session": self.session})
