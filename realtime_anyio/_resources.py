"""Typed send helpers laid out like the official SDK: ``conn.session.update(...)`` and friends.

Each helper builds the client event (``event_id`` generated when absent), sends it, and with
``wait=True`` waits for the server's reply to it (see :meth:`RealtimeConnection.request`).
Arguments may be typed Structs or plain dicts in the wire layout.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from functools import cached_property
from typing import Any, Literal, Protocol, TypeVar, overload

from ._errors import LocalProtocolError, RealtimeInternalError
from .events import (
    ClientEvent,
    ConversationItem,
    ConversationItemAdded,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemDeleted,
    ConversationItemRetrieve,
    ConversationItemRetrieved,
    ConversationItemTruncate,
    ConversationItemTruncated,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCleared,
    InputAudioBufferCommit,
    InputAudioBufferCommitted,
    OutputAudioBufferClear,
    OutputAudioBufferCleared,
    ResponseCancel,
    ResponseCreate,
    ResponseCreated,
    ResponseCreateParams,
    ResponseDone,
    Session,
    SessionUpdate,
    SessionUpdated,
    to_client_event,
)


class _Sender(Protocol):
    """What the helpers need from a connection (kept structural to avoid an import cycle)."""

    def next_event_id(self) -> str: ...

    async def send(self, event: ClientEvent | Mapping[str, Any]) -> None: ...

    async def request(self, event: ClientEvent | Mapping[str, Any]) -> Any: ...


__all__ = [
    "ConversationItemResource",
    "ConversationResource",
    "InputAudioBufferResource",
    "OutputAudioBufferResource",
    "ResponseResource",
    "SessionResource",
]

_R = TypeVar("_R")
_E = TypeVar("_E", bound=ClientEvent)


def _build(cls: type[_E], fields: dict[str, Any], event_id: str) -> _E | dict[str, Any]:
    """Build the event from ``fields`` (``None`` dropped).

    With a dict among the values the event stays a dict (validated here), so fields this version
    does not know still reach the server.
    """
    given = {k: v for k, v in fields.items() if v is not None}
    given["event_id"] = event_id
    if any(isinstance(v, Mapping) for v in given.values()):
        event = {"type": cls.type, **given}
        to_client_event(event)
        return event
    try:
        return cls(**given)
    except TypeError as exc:
        raise LocalProtocolError(f"invalid {cls.type!r} event: {exc}") from None


def _expect(reply: object, cls: type[_R]) -> _R:
    if not isinstance(reply, cls):  # pragma: no cover - the reply matcher checks the type
        raise RealtimeInternalError(f"expected {cls.__name__}, got {type(reply).__name__}")
    return reply


class _Resource:
    """What every helper shares: build the event, then send it or send it and wait.

    Every helper takes ``event_id=`` (generated when left out) and, when the event has a reply,
    ``wait=``. It returns ``None`` once the event is accepted for sending; with ``wait=True`` it
    returns the server's reply, typed (an ``error`` naming the event raises ``ServerError``;
    bound the wait with ``anyio.fail_after``). Cancellation is as for
    ``RealtimeConnection.send``; with ``wait=True`` a cancel while waiting leaves the event
    sent and the reply unread (it still arrives in the stream).
    """

    __slots__ = ("_conn",)

    def __init__(self, conn: _Sender) -> None:
        self._conn = conn

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._conn!r}>"

    def _id(self, event_id: str | None) -> str:
        return event_id if event_id is not None else self._conn.next_event_id()

    async def _dispatch(
        self, event: ClientEvent | dict[str, Any], reply: type[_R], wait: bool
    ) -> _R | None:
        """Send ``event``; with ``wait`` return the server's reply to it, typed as ``reply``."""
        if not wait:
            await self._conn.send(event)
            return None
        return _expect(await self._conn.request(event), reply)


class SessionResource(_Resource):
    """``conn.session``: the session's configuration."""

    __slots__ = ()

    @overload
    async def update(
        self,
        *,
        session: Session | Mapping[str, Any],
        event_id: str | None = None,
        wait: Literal[False] = False,
    ) -> None: ...

    @overload
    async def update(
        self,
        *,
        session: Session | Mapping[str, Any],
        event_id: str | None = None,
        wait: Literal[True],
    ) -> SessionUpdated: ...

    async def update(
        self,
        *,
        session: Session | Mapping[str, Any],
        event_id: str | None = None,
        wait: bool = False,
    ) -> SessionUpdated | None:
        """Change the session's configuration; the reply is ``session.updated``.

        Cancellation: as for :meth:`~RealtimeConnection.send`; a cancel during ``wait=True``
        leaves the event sent (its reply still arrives in the stream).
        """
        event = _build(SessionUpdate, {"session": session}, self._id(event_id))
        return await self._dispatch(event, SessionUpdated, wait)


class ResponseResource(_Resource):
    """``conn.response``: asking for and cancelling model responses."""

    __slots__ = ()

    @overload
    async def create(
        self,
        *,
        response: ResponseCreateParams | Mapping[str, Any] | None = None,
        event_id: str | None = None,
        wait: Literal[False] = False,
    ) -> None: ...

    @overload
    async def create(
        self,
        *,
        response: ResponseCreateParams | Mapping[str, Any] | None = None,
        event_id: str | None = None,
        wait: Literal[True],
    ) -> ResponseCreated: ...

    async def create(
        self,
        *,
        response: ResponseCreateParams | Mapping[str, Any] | None = None,
        event_id: str | None = None,
        wait: bool = False,
    ) -> ResponseCreated | None:
        """Ask the model to respond (``response.create``); the reply is ``response.created``.

        Cancellation: as for :meth:`~RealtimeConnection.send`; a cancel during ``wait=True``
        leaves the event sent (its reply still arrives in the stream).
        """
        event = _build(ResponseCreate, {"response": response}, self._id(event_id))
        return await self._dispatch(event, ResponseCreated, wait)

    @overload
    async def cancel(
        self,
        *,
        response_id: str | None = None,
        event_id: str | None = None,
        wait: Literal[False] = False,
    ) -> None: ...

    @overload
    async def cancel(
        self,
        *,
        response_id: str | None = None,
        event_id: str | None = None,
        wait: Literal[True],
    ) -> ResponseDone: ...

    async def cancel(
        self,
        *,
        response_id: str | None = None,
        event_id: str | None = None,
        wait: bool = False,
    ) -> ResponseDone | None:
        """Cancel the response in progress; the reply is the ``response.done`` that ends it.

        Cancellation: as for :meth:`~RealtimeConnection.send`; a cancel during ``wait=True``
        leaves the event sent (its reply still arrives in the stream).
        """
        event = _build(ResponseCancel, {"response_id": response_id}, self._id(event_id))
        return await self._dispatch(event, ResponseDone, wait)


class InputAudioBufferResource(_Resource):
    """``conn.input_audio_buffer``: the user's audio going in."""

    __slots__ = ()

    async def append(
        self, audio: bytes | bytearray | memoryview | str, *, event_id: str | None = None
    ) -> None:
        """Append audio to the input buffer (``input_audio_buffer.append``).

        ``audio`` is raw audio in the session's input format (PCM16 24 kHz by default) as
        bytes; a base64 ``str`` (what the official SDK takes) is accepted too. The event has no
        reply; an ``error`` event in the stream reports a rejected append.

        Cancellation: as for :meth:`RealtimeConnection.send`.
        """
        if isinstance(audio, str):
            try:
                pcm = base64.b64decode(audio, validate=True)
            except (binascii.Error, ValueError):
                raise LocalProtocolError(
                    "audio is a str but not valid base64", path="audio"
                ) from None
        else:
            pcm = audio if isinstance(audio, bytes) else bytes(audio)
        await self._conn.send(InputAudioBufferAppend(audio=pcm, event_id=self._id(event_id)))

    @overload
    async def commit(
        self,
        *,
        event_id: str | None = None,
        wait: Literal[False] = False,
    ) -> None: ...

    @overload
    async def commit(
        self,
        *,
        event_id: str | None = None,
        wait: Literal[True],
    ) -> InputAudioBufferCommitted: ...

    async def commit(
        self,
        *,
        event_id: str | None = None,
        wait: bool = False,
    ) -> InputAudioBufferCommitted | None:
        """Commit the buffered input audio as a user item; the reply is ``...committed``.

        Cancellation: as for :meth:`~RealtimeConnection.send`; a cancel during ``wait=True``
        leaves the event sent (its reply still arrives in the stream).
        """
        event = _build(InputAudioBufferCommit, {}, self._id(event_id))
        return await self._dispatch(event, InputAudioBufferCommitted, wait)

    @overload
    async def clear(
        self,
        *,
        event_id: str | None = None,
        wait: Literal[False] = False,
    ) -> None: ...

    @overload
    async def clear(
        self,
        *,
        event_id: str | None = None,
        wait: Literal[True],
    ) -> InputAudioBufferCleared: ...

    async def clear(
        self,
        *,
        event_id: str | None = None,
        wait: bool = False,
    ) -> InputAudioBufferCleared | None:
        """Discard the buffered input audio; the reply is ``input_audio_buffer.cleared``.

        Cancellation: as for :meth:`~RealtimeConnection.send`; a cancel during ``wait=True``
        leaves the event sent (its reply still arrives in the stream).
        """
        event = _build(InputAudioBufferClear, {}, self._id(event_id))
        return await self._dispatch(event, InputAudioBufferCleared, wait)


class OutputAudioBufferResource(_Resource):
    """``conn.output_audio_buffer``: audio playing out on a WebRTC/SIP call (sideband only)."""

    __slots__ = ()

    @overload
    async def clear(
        self,
        *,
        event_id: str | None = None,
        wait: Literal[False] = False,
    ) -> None: ...

    @overload
    async def clear(
        self,
        *,
        event_id: str | None = None,
        wait: Literal[True],
    ) -> OutputAudioBufferCleared: ...

    async def clear(
        self,
        *,
        event_id: str | None = None,
        wait: bool = False,
    ) -> OutputAudioBufferCleared | None:
        """Stop the audio playing out on the call; the reply is ``output_audio_buffer.cleared``.

        WebRTC and SIP sideband connections only: over a plain WebSocket the service rejects it
        as an unknown event type (an ``error`` event; ``ServerError`` with ``wait=True``).

        Cancellation: as for :meth:`~RealtimeConnection.send`; a cancel during ``wait=True``
        leaves the event sent (its reply still arrives in the stream).
        """
        event = _build(OutputAudioBufferClear, {}, self._id(event_id))
        return await self._dispatch(event, OutputAudioBufferCleared, wait)


class ConversationItemResource(_Resource):
    """``conn.conversation.item``: the items of the conversation."""

    __slots__ = ()

    @overload
    async def create(
        self,
        *,
        item: ConversationItem | Mapping[str, Any],
        previous_item_id: str | None = None,
        event_id: str | None = None,
        wait: Literal[False] = False,
    ) -> None: ...

    @overload
    async def create(
        self,
        *,
        item: ConversationItem | Mapping[str, Any],
        previous_item_id: str | None = None,
        event_id: str | None = None,
        wait: Literal[True],
    ) -> ConversationItemAdded: ...

    async def create(
        self,
        *,
        item: ConversationItem | Mapping[str, Any],
        previous_item_id: str | None = None,
        event_id: str | None = None,
        wait: bool = False,
    ) -> ConversationItemAdded | None:
        """Add an item to the conversation; the reply is ``conversation.item.added`` for it.

        With ``wait=True`` an item without an ``id`` gets a generated one, so that the reply can be
        matched.

        Cancellation: as for :meth:`~RealtimeConnection.send`; a cancel during ``wait=True``
        leaves the event sent (its reply still arrives in the stream).
        """
        event = _build(
            ConversationItemCreate,
            {"item": item, "previous_item_id": previous_item_id},
            self._id(event_id),
        )
        return await self._dispatch(event, ConversationItemAdded, wait)

    @overload
    async def delete(
        self,
        *,
        item_id: str,
        event_id: str | None = None,
        wait: Literal[False] = False,
    ) -> None: ...

    @overload
    async def delete(
        self,
        *,
        item_id: str,
        event_id: str | None = None,
        wait: Literal[True],
    ) -> ConversationItemDeleted: ...

    async def delete(
        self,
        *,
        item_id: str,
        event_id: str | None = None,
        wait: bool = False,
    ) -> ConversationItemDeleted | None:
        """Remove an item; the reply is ``conversation.item.deleted``.

        Cancellation: as for :meth:`~RealtimeConnection.send`; a cancel during ``wait=True``
        leaves the event sent (its reply still arrives in the stream).
        """
        event = _build(ConversationItemDelete, {"item_id": item_id}, self._id(event_id))
        return await self._dispatch(event, ConversationItemDeleted, wait)

    @overload
    async def truncate(
        self,
        *,
        item_id: str,
        content_index: int,
        audio_end_ms: int,
        event_id: str | None = None,
        wait: Literal[False] = False,
    ) -> None: ...

    @overload
    async def truncate(
        self,
        *,
        item_id: str,
        content_index: int,
        audio_end_ms: int,
        event_id: str | None = None,
        wait: Literal[True],
    ) -> ConversationItemTruncated: ...

    async def truncate(
        self,
        *,
        item_id: str,
        content_index: int,
        audio_end_ms: int,
        event_id: str | None = None,
        wait: bool = False,
    ) -> ConversationItemTruncated | None:
        """Cut an assistant audio item at ``audio_end_ms``; the reply is ``...item.truncated``.

        Cancellation: as for :meth:`~RealtimeConnection.send`; a cancel during ``wait=True``
        leaves the event sent (its reply still arrives in the stream).
        """
        event = _build(
            ConversationItemTruncate,
            {"item_id": item_id, "content_index": content_index, "audio_end_ms": audio_end_ms},
            self._id(event_id),
        )
        return await self._dispatch(event, ConversationItemTruncated, wait)

    @overload
    async def retrieve(
        self,
        *,
        item_id: str,
        event_id: str | None = None,
        wait: Literal[False] = False,
    ) -> None: ...

    @overload
    async def retrieve(
        self,
        *,
        item_id: str,
        event_id: str | None = None,
        wait: Literal[True],
    ) -> ConversationItemRetrieved: ...

    async def retrieve(
        self,
        *,
        item_id: str,
        event_id: str | None = None,
        wait: bool = False,
    ) -> ConversationItemRetrieved | None:
        """Fetch the server's copy of an item, with audio; the reply is ``...item.retrieved``.

        Cancellation: as for :meth:`~RealtimeConnection.send`; a cancel during ``wait=True``
        leaves the event sent (its reply still arrives in the stream).
        """
        event = _build(ConversationItemRetrieve, {"item_id": item_id}, self._id(event_id))
        return await self._dispatch(event, ConversationItemRetrieved, wait)


class ConversationResource(_Resource):
    """``conn.conversation``: holds ``conn.conversation.item``."""

    __slots__ = ("item",)

    def __init__(self, conn: _Sender) -> None:
        super().__init__(conn)
        self.item = ConversationItemResource(conn)


class TypedHelpers:
    """The typed helpers in the official SDK's layout, for any connection class (a mixin).

    ``conn.session``, ``conn.response``, ``conn.input_audio_buffer``, ``conn.conversation`` and
    ``conn.output_audio_buffer``, each built once on first use. The class that mixes this in
    provides ``next_event_id``, ``send`` and ``request``.
    """

    @cached_property
    def session(self: _Sender) -> SessionResource:
        """``conn.session.update(...)``."""
        return SessionResource(self)

    @cached_property
    def response(self: _Sender) -> ResponseResource:
        """``conn.response.create(...)`` / ``.cancel(...)``."""
        return ResponseResource(self)

    @cached_property
    def input_audio_buffer(self: _Sender) -> InputAudioBufferResource:
        """``conn.input_audio_buffer.append(pcm)`` / ``.commit()`` / ``.clear()``."""
        return InputAudioBufferResource(self)

    @cached_property
    def conversation(self: _Sender) -> ConversationResource:
        """``conn.conversation.item.create/delete/truncate/retrieve(...)``."""
        return ConversationResource(self)

    @cached_property
    def output_audio_buffer(self: _Sender) -> OutputAudioBufferResource:
        """``conn.output_audio_buffer.clear()`` (WebRTC/SIP sideband only)."""
        return OutputAudioBufferResource(self)
