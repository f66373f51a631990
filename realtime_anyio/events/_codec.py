"""Turning frames into events and events into frames.

One prebuilt decoder per union and one encoder are reused for every message. The fast path
is a single msgspec call; everything else (unknown types, members no Struct defines, malformed
frames) is handled only after that call has failed, so it costs nothing while the traffic is
what this version knows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Literal, TypeAlias

import msgspec

from .._errors import LocalProtocolError, RemoteProtocolError
from ._base import BaseClientEvent, BaseServerEvent, Model
from ._client import (
    ClientEvent,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    OutputAudioBufferClear,
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
)
from ._lossless import (
    has_unknown_fields,
    is_unknown_field_error,
    prepare,
    to_builtins,
    type_info,
)
from ._server import (
    ConversationCreated,
    ConversationItemAdded,
    ConversationItemCreated,
    ConversationItemDeleted,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemInputAudioTranscriptionSegment,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    Error,
    InputAudioBufferCleared,
    InputAudioBufferCommitted,
    InputAudioBufferDtmfEventReceived,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioBufferTimeoutTriggered,
    McpListToolsCompleted,
    McpListToolsFailed,
    McpListToolsInProgress,
    OutputAudioBufferCleared,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    RateLimitsUpdated,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseMcpCallArgumentsDelta,
    ResponseMcpCallArgumentsDone,
    ResponseMcpCallCompleted,
    ResponseMcpCallFailed,
    ResponseMcpCallInProgress,
    ResponseOutputAudioDelta,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseOutputTextDelta,
    ResponseOutputTextDone,
    ServerEvent,
    SessionCreated,
    SessionUpdated,
)

__all__ = [
    "CLIENT_EVENT_TYPES",
    "SERVER_EVENT_TYPES",
    "Frame",
    "InvalidServerEvent",
    "ReceivedEvent",
    "UnknownServerEvent",
    "decode_client_event",
    "decode_server_event",
    "encode_event",
    "has_unknown_fields",
    "to_client_event",
    "to_dict",
]

Frame: TypeAlias = bytes | bytearray | memoryview | str
"""What the decoders accept: a WebSocket text message as ``str`` or as UTF-8 bytes."""


class UnknownServerEvent(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """A server event this version cannot type: its ``type`` is new, or it is a known type
    carrying a nested object with a tag this version does not know (a new item kind, content
    part or tool).

    ``wire_type`` is the frame's ``type`` string, ``payload`` the parsed JSON object and
    ``raw`` the frame as received. Encoding it with :func:`encode_event` gives back the same
    JSON. ``.type`` is always ``"unknown_server_event"``: never the type of a known event, so
    that ``event.type == "response.done"`` proves ``event`` is a :class:`ResponseDone`.
    """

    type: ClassVar[Literal["unknown_server_event"]] = "unknown_server_event"
    wire_type: str
    payload: dict[str, Any]
    raw: bytes | str

    @property
    def event_id(self) -> str | None:
        """The event's ``event_id`` if it has a string one, else ``None``."""
        value = self.payload.get("event_id")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class InvalidServerEvent:
    """A server frame that could not be decoded; it arrives in the stream and the session goes on.

    ``raw`` is the frame as received and ``error`` the :class:`RemoteProtocolError` that
    explains it (its ``path`` names the bad field, when one is to blame).
    """

    type: ClassVar[Literal["invalid_server_event"]] = "invalid_server_event"
    raw: bytes | str
    error: RemoteProtocolError


ReceivedEvent: TypeAlias = ServerEvent | UnknownServerEvent | InvalidServerEvent
"""What a connection yields: a typed event, an unknown one, or a frame that was not valid.

Every member has a ``type`` declared as a literal string, so comparing ``event.type`` with a
literal narrows the union to the one class.
"""


_SERVER_CLASSES: tuple[type[BaseServerEvent], ...] = (
    Error,
    SessionCreated,
    SessionUpdated,
    ConversationCreated,
    ConversationItemCreated,
    ConversationItemAdded,
    ConversationItemDone,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    ConversationItemDeleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionSegment,
    ConversationItemInputAudioTranscriptionFailed,
    InputAudioBufferCommitted,
    InputAudioBufferCleared,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioBufferTimeoutTriggered,
    InputAudioBufferDtmfEventReceived,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    OutputAudioBufferCleared,
    ResponseCreated,
    ResponseDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseOutputTextDelta,
    ResponseOutputTextDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseMcpCallArgumentsDelta,
    ResponseMcpCallArgumentsDone,
    ResponseMcpCallInProgress,
    ResponseMcpCallCompleted,
    ResponseMcpCallFailed,
    McpListToolsInProgress,
    McpListToolsCompleted,
    McpListToolsFailed,
    RateLimitsUpdated,
)

_CLIENT_CLASSES: tuple[type[BaseClientEvent], ...] = (
    SessionUpdate,
    InputAudioBufferAppend,
    InputAudioBufferCommit,
    InputAudioBufferClear,
    OutputAudioBufferClear,
    ConversationItemCreate,
    ConversationItemTruncate,
    ConversationItemDelete,
    ConversationItemRetrieve,
    ResponseCreate,
    ResponseCancel,
)

SERVER_EVENT_TYPES: Mapping[str, type[BaseServerEvent]] = MappingProxyType(
    {cls.type: cls for cls in _SERVER_CLASSES}
)
"""Every known server event class, by its wire ``type``."""

CLIENT_EVENT_TYPES: Mapping[str, type[BaseClientEvent]] = MappingProxyType(
    {cls.type: cls for cls in _CLIENT_CLASSES}
)
"""Every known client event class, by its wire ``type``."""

_server_decoder: msgspec.json.Decoder[ServerEvent] = msgspec.json.Decoder(ServerEvent)
_client_decoder: msgspec.json.Decoder[ClientEvent] = msgspec.json.Decoder(ClientEvent)
_object_decoder: msgspec.json.Decoder[dict[str, Any]] = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()

_AT = re.compile(r" - at `\$\.?(.*)`$")


def _split(message: str) -> tuple[str, str | None]:
    """Split a msgspec error message into its reason and the path it names, if any."""
    match = _AT.search(message)
    if match is None:
        return message, None
    return message[: match.start()], match.group(1) or None


def _raw(data: Frame) -> bytes | str:
    return data if isinstance(data, (bytes, str)) else bytes(data)


_MISSING = re.compile(r"^Object missing required field `(.+)`$")


def _describe(exc: msgspec.ValidationError, kind: str) -> tuple[str, str | None]:
    reason, path = _split(str(exc))
    missing = _MISSING.match(reason)
    if missing is not None:
        # Point at the missing field itself, as the service's own errors do.
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    where = f" at {path}" if path else ""
    return f"malformed {kind} event: {reason}{where}", path


def _parse_object(data: Frame, raw: bytes | str) -> dict[str, Any]:
    """Parse a frame that failed typed decoding as a plain JSON object, or raise."""
    try:
        return _object_decoder.decode(data)
    except msgspec.ValidationError:
        raise RemoteProtocolError("frame is not a JSON object", raw) from None
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(f"frame is not valid JSON: {exc}", raw) from None
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"frame is not valid UTF-8: {exc.reason}", raw) from None


def _event_type(obj: dict[str, Any], raw: bytes | str) -> str:
    kind = obj.get("type", msgspec.UNSET)
    if kind is msgspec.UNSET:
        raise RemoteProtocolError("event has no 'type'", raw, path="type")
    if not isinstance(kind, str):
        raise RemoteProtocolError(
            f"event 'type' is a {type(kind).__name__}, not a string", raw, path="type"
        )
    return kind


_UNKNOWN_TAG = re.compile(r"^Invalid value '[^']*'$")


def _is_unknown_nested_tag(exc: msgspec.ValidationError) -> bool:
    """Whether decoding failed only because a nested object has a tag we do not know yet.

    The service adds item kinds, content parts and tools over time; such an event is passed
    on untyped rather than rejected, so a newer server never breaks an older client.
    """
    reason, path = _split(str(exc))
    return path is not None and path.endswith(".type") and _UNKNOWN_TAG.match(reason) is not None


def decode_server_event(data: Frame) -> ServerEvent | UnknownServerEvent:
    """Decode one frame from the server, keeping every member of it.

    Returns the typed event, or :class:`UnknownServerEvent` for a ``type`` this version does
    not know, and also for a known ``type`` that carries a nested object with an unknown tag
    (a new item kind, content part or tool). Members that a Struct does not define are kept
    in that Struct's ``unknown_fields``, so :func:`encode_event` gives back the same JSON.
    Raises :class:`~realtime_anyio.RemoteProtocolError` (with the frame as ``raw`` and the bad
    field as ``path``) for anything that is not a valid server event.

    This is the one decoding call a connection makes per received frame: a frame without
    unknown members costs one msgspec call.
    """
    try:
        return _server_decoder.decode(data)
    except msgspec.ValidationError as exc:
        return _decode_server_slowly(data, exc)
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(f"frame is not valid JSON: {exc}", _raw(data)) from None
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"frame is not valid UTF-8: {exc.reason}", _raw(data)) from None


def _decode_server_slowly(
    data: Frame, exc: msgspec.ValidationError
) -> ServerEvent | UnknownServerEvent:
    raw = _raw(data)
    obj = _parse_object(data, raw)
    kind = _event_type(obj, raw)
    if kind not in SERVER_EVENT_TYPES or _is_unknown_nested_tag(exc):
        return UnknownServerEvent(wire_type=kind, payload=obj, raw=raw)
    error = exc
    if is_unknown_field_error(exc):
        try:
            event: ServerEvent = msgspec.convert(prepare(obj, type_info(ServerEvent)), ServerEvent)
        except msgspec.ValidationError as again:
            if _is_unknown_nested_tag(again):
                return UnknownServerEvent(wire_type=kind, payload=obj, raw=raw)
            error = again
        else:
            return event
    reason, path = _describe(error, repr(kind))
    raise RemoteProtocolError(reason, raw, path=path) from error


def decode_client_event(data: Frame) -> ClientEvent:
    """Decode one frame from a client (what a server, such as the fake one, receives).

    Members that a Struct does not define are kept in its ``unknown_fields``, as for server
    events. Raises :class:`~realtime_anyio.RemoteProtocolError` for anything that is not a
    valid client event; an unknown ``type`` is reported with ``path="type"``.
    """
    try:
        return _client_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raw = _raw(data)
        obj = _parse_object(data, raw)
        kind = _event_type(obj, raw)
        if kind not in CLIENT_EVENT_TYPES:
            raise RemoteProtocolError(
                f"unknown client event type {kind!r}", raw, path="type"
            ) from None
        error = exc
        if is_unknown_field_error(exc):
            try:
                event: ClientEvent = msgspec.convert(
                    prepare(obj, type_info(ClientEvent)), ClientEvent
                )
            except msgspec.ValidationError as again:
                error = again
            else:
                return event
        reason, path = _describe(error, repr(kind))
        raise RemoteProtocolError(reason, raw, path=path) from error
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(f"frame is not valid JSON: {exc}", _raw(data)) from None
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError(f"frame is not valid UTF-8: {exc.reason}", _raw(data)) from None


def encode_event(event: BaseClientEvent | BaseServerEvent | UnknownServerEvent) -> bytes:
    """Encode an event as one JSON frame (UTF-8 bytes); audio ``bytes`` become base64.

    Fields left unset are not written; fields set to ``None`` are written as ``null``. The
    ``unknown_fields`` of the event and of every object inside it are written back as members
    of the object they belong to. Raises :class:`~realtime_anyio.LocalProtocolError` if a
    value cannot be encoded.
    """
    if isinstance(event, UnknownServerEvent):
        return _encoder.encode(event.payload)
    try:
        if has_unknown_fields(event):
            return _encoder.encode(to_dict(event))
        return _encoder.encode(event)
    except (msgspec.EncodeError, TypeError, ValueError, OverflowError) as exc:
        raise LocalProtocolError(f"cannot encode {type(event).__name__}: {exc}") from exc


def to_dict(obj: Model) -> dict[str, Any]:
    """``obj`` (an event or any object inside one) as a plain ``dict`` in the wire layout.

    Audio ``bytes`` become base64 strings and ``unknown_fields`` are merged back into the
    objects they belong to, exactly as :func:`encode_event` writes them.
    """
    return to_builtins(obj)


def to_client_event(obj: ClientEvent | Mapping[str, Any]) -> ClientEvent:
    """Return ``obj`` as a typed client event, validating a plain ``dict`` on the way.

    Dicts use the wire layout (as with the official SDK); audio may be raw ``bytes`` or a
    base64 string. Members that no Struct defines are kept in ``unknown_fields`` and sent.
    Raises :class:`~realtime_anyio.LocalProtocolError` naming the bad field.
    """
    if isinstance(obj, BaseClientEvent):
        return obj
    # Callers without a type checker pass anything; say clearly what was wrong.
    if isinstance(obj, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance]
        return _convert_client_event(obj)
    raise LocalProtocolError(f"expected a client event or a mapping, got {type(obj).__name__}")


def _convert_client_event(obj: Mapping[str, Any]) -> ClientEvent:
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise LocalProtocolError("a client event needs a string 'type'", path="type")
    if kind not in CLIENT_EVENT_TYPES:
        raise LocalProtocolError(f"unknown client event type {kind!r}", path="type")
    value = dict(obj)
    try:
        event: ClientEvent = msgspec.convert(value, ClientEvent)
    except msgspec.ValidationError as exc:
        error = exc
        if is_unknown_field_error(exc):
            try:
                event = msgspec.convert(prepare(value, type_info(ClientEvent)), ClientEvent)
            except msgspec.ValidationError as again:
                error = again
            else:
                return event
        reason, path = _describe(error, repr(kind))
        raise LocalProtocolError(reason, path=path) from error
    return event
