"""``open_realtime`` and ``RealtimeConnection``: one WebSocket session with one task group.

The connection owns a reader task (transport messages → typed events → a bounded memory
stream), a writer task (a bounded queue of encoded events → the transport, batched) and an
optional keepalive task. A send writes directly when nothing is queued and no other write is in
progress, and goes through the writer otherwise, so per-sender order is kept and frames never
interleave. Background tasks never raise: they record the failure and close their streams, and
``receive`` / ``send`` raise :class:`ConnectionClosed` (with the cause chained) from then on.
"""

from __future__ import annotations

import builtins
import importlib
import logging
import math
import os
from collections import deque
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from time import monotonic
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, overload

import anyio
import anyio.lowlevel
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._config import ApiKey, ClientConfig, TokenProvider, redact
from ._errors import (
    APIStatusError,
    ConnectionClosed,
    ConnectionLost,
    ConnectTimeout,
    LocalProtocolError,
    RealtimeInternalError,
    RemoteProtocolError,
    ServerError,
    SessionExpired,
    status_error_class,
)
from ._resources import (
    ConversationResource,
    InputAudioBufferResource,
    OutputAudioBufferResource,
    ResponseResource,
    SessionResource,
)
from .events import (
    BaseClientEvent,
    BaseServerEvent,
    ClientEvent,
    ConversationItemAdded,
    ConversationItemCreate,
    ConversationItemDelete,
    ConversationItemDeleted,
    ConversationItemRetrieve,
    ConversationItemRetrieved,
    ConversationItemTruncate,
    ConversationItemTruncated,
    Error,
    InputAudioBufferClear,
    InputAudioBufferCleared,
    InputAudioBufferCommit,
    InputAudioBufferCommitted,
    InvalidServerEvent,
    OutputAudioBufferClear,
    OutputAudioBufferCleared,
    ReceivedEvent,
    ResponseCancel,
    ResponseCreate,
    ResponseCreated,
    ResponseDone,
    ServerEvent,
    SessionUpdate,
    SessionUpdated,
    UnknownServerEvent,
    decode_server_event,
    encode_event,
    to_client_event,
)
from .transport import ConnectRequest, Transport, TransportFactory, connect_websocket
from .transport._lowlevel import CancelCheck


def _group_types() -> tuple[type[BaseException], ...]:
    # Python 3.10 has no builtin group; anyio raises the backport's there (its dependency).
    found: type[BaseException] | None = vars(builtins).get("BaseExceptionGroup")
    if found is None:  # pragma: no cover
        found = importlib.import_module("exceptiongroup").BaseExceptionGroup
    assert found is not None
    return (found,)


_GROUP_TYPES = _group_types()

if TYPE_CHECKING:
    import ssl

__all__ = [
    "ConnectionStatistics",
    "InvalidServerEvent",
    "ReceivedEvent",
    "RealtimeConnection",
    "open_realtime",
]

logger = logging.getLogger("realtime_anyio")

#: Default limit for one incoming message: a 15 MiB ``input_audio_buffer.append`` (or a
#: ``conversation.item.retrieved`` with audio) is ~20 MiB of JSON.
DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024
_BATCH_BYTES = 1024 * 1024
#: Sends closer together than this are a burst: they go through the writer, which writes them
#: in batches (one syscall for many frames). Sends spaced further apart (real-time audio) are
#: written directly by the sending task, saving the writer's wake-up.
_BURST_GAP = 0.001


_E = TypeVar("_E", bound=BaseServerEvent)


@dataclass(frozen=True)
class ConnectionStatistics:
    """A snapshot of one connection's counters (see :meth:`RealtimeConnection.statistics`)."""

    frames_sent: int
    frames_received: int
    bytes_sent: int
    bytes_received: int
    events_sent: Mapping[str, int]
    events_received: Mapping[str, int]
    receive_buffer_used: int
    receive_buffer_size: float
    send_queue_used: int
    send_queue_size: int
    direct_sends: int
    batched_sends: int
    reader_stalls: int
    dropped: int
    invalid_frames: int
    close_code: int | None
    close_reason: str | None


class _Waiter:
    __slots__ = ("done", "error", "event_id", "match", "result")

    def __init__(self, match: Callable[[ReceivedEvent], bool], event_id: str | None) -> None:
        self.match = match
        self.event_id = event_id
        self.done = anyio.Event()
        self.result: ReceivedEvent | None = None
        self.error: BaseException | None = None


@dataclass(eq=False)
class _Subscription:
    names: frozenset[str]
    send: MemoryObjectSendStream[ReceivedEvent]


def _unset_to_none(value: object) -> Any:
    return None if value is msgspec.UNSET else value


def _elide(value: object) -> object:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        mapping: dict[Any, Any] = value  # pyright: ignore[reportUnknownVariableType]
        return {k: _elide(v) for k, v in mapping.items()}
    if isinstance(value, list):
        items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
        return [_elide(v) for v in items]
    return value


def _describe(event: object) -> str:
    """A log line for an event with audio payloads replaced by their size."""
    if isinstance(event, InvalidServerEvent):
        return f"invalid frame ({event.error.reason})"
    if isinstance(event, UnknownServerEvent):
        return f"{event.type} (unknown type)"
    try:
        data = msgspec.to_builtins(event, builtin_types=(bytes, bytearray))
    except (TypeError, msgspec.EncodeError):
        return type(event).__name__
    text = repr(_elide(data))
    return text if len(text) <= 500 else text[:497] + "..."


class _EventQueue:
    """The bounded buffer between the reader task and ``receive``.

    Not an anyio memory stream: receiving an event that is already buffered costs one cheap
    cancellation check here, where a memory stream adds a scheduling checkpoint per event.
    """

    __slots__ = ("_closed", "_items", "_readable", "_writable", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[ReceivedEvent] = deque()
        self._readable: anyio.Event | None = None
        self._writable: anyio.Event | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put_nowait(self, event: ReceivedEvent, *, force: bool = False, append: bool = True) -> bool:
        """Append ``event``; False (and nothing appended) when full, unless ``force``.

        ``append=False`` only wakes receivers (the caller appended already).
        """
        items = self._items
        if len(items) >= self.capacity and not force:
            return False
        if append:
            items.append(event)
        readable = self._readable
        if readable is not None:
            self._readable = None
            readable.set()
        return True

    async def wait_writable(self) -> None:
        """Wait until there is room (or the queue is closed)."""
        while len(self._items) >= self.capacity and not self._closed:
            writable = self._writable
            if writable is None:
                writable = self._writable = anyio.Event()
            await writable.wait()

    def get_nowait(self) -> ReceivedEvent:
        """The oldest event; ``WouldBlock`` when empty, ``EndOfStream`` once closed and empty."""
        items = self._items
        if items:
            event = items.popleft()
            writable = self._writable
            if writable is not None:
                self._writable = None
                writable.set()
            return event
        if self._closed:
            raise anyio.EndOfStream
        raise anyio.WouldBlock

    async def wait_readable(self) -> None:
        """Wait until an event is buffered (or the queue is closed)."""
        while not self._items and not self._closed:
            readable = self._readable
            if readable is None:
                readable = self._readable = anyio.Event()
            await readable.wait()

    def close(self) -> None:
        """No more events: receivers drain what is buffered, then see ``EndOfStream``."""
        self._closed = True
        for event in (self._readable, self._writable):
            if event is not None:
                event.set()
        self._readable = self._writable = None

    def clear(self) -> None:
        """Close and drop what is buffered."""
        self.close()
        self._items.clear()


class RealtimeConnection:
    """One open Realtime WebSocket session; get it from :func:`open_realtime`.

    Receive with ``async for event in conn`` or ``await conn.receive()``; send with
    ``await conn.send(event_or_dict)`` or the typed helpers (``conn.session.update(...)``,
    ``conn.response.create()``, ``conn.input_audio_buffer.append(pcm)``, ...). Any number of
    tasks may send and receive concurrently.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        receive_buffer: int = 256,
        send_buffer: int = 64,
        close_timeout: float = 5.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        url: str = "",
    ) -> None:
        if receive_buffer < 1 or send_buffer < 1:
            raise ValueError("receive_buffer and send_buffer must be at least 1")
        self._transport = transport
        self.url = url
        self.close_timeout = close_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._events = _EventQueue(receive_buffer)
        self._cancel_check = CancelCheck()
        self._receive_buffer = receive_buffer
        # The writer's queue: encoded frames waiting for the writer task.
        self._queue: deque[bytes] = deque()
        self._queue_limit = send_buffer
        self._writer_active = False
        self._writer_wake: anyio.Event | None = None
        self._space: anyio.Event | None = None
        self._queue_closed = False
        self._last_send = -math.inf
        self._writer_done = anyio.Event()
        self._reader_done = anyio.Event()
        self._reader_scope = anyio.CancelScope()
        self._keepalive_scope = anyio.CancelScope()
        # Failure and close state.
        self._closed: ConnectionClosed | None = None
        self._send_error: ConnectionClosed | None = None
        self._last_error: Error | None = None
        self._closing = False
        # Set by aclose: the reader drops events instead of waiting for room.
        self._discarding = False
        # Correlation.
        self._waiters: list[_Waiter] = []
        self._subscriptions: list[_Subscription] = []
        self._id_prefix = f"evt_{os.urandom(4).hex()}_"
        self._id_counter = 0
        # Statistics.
        self._frames_sent = 0
        self._events_sent: dict[str, int] = {}
        self._events_received: dict[str, int] = {}
        self._direct_sends = 0
        self._batched_sends = 0
        self._reader_stalls = 0
        self._reader_blocked = False
        self._invalid_frames = 0
        self._dropped = 0

    def __repr__(self) -> str:
        state = "open" if self._closed is None else f"closed {self._closed.code}"
        return f"<RealtimeConnection {self.url!r} {state}>"

    # -- typed helpers (the official SDK's layout) ----------------------------------------

    @cached_property
    def session(self) -> SessionResource:
        """``conn.session.update(...)``."""
        return SessionResource(self)

    @cached_property
    def response(self) -> ResponseResource:
        """``conn.response.create(...)`` / ``.cancel(...)``."""
        return ResponseResource(self)

    @cached_property
    def input_audio_buffer(self) -> InputAudioBufferResource:
        """``conn.input_audio_buffer.append(pcm)`` / ``.commit()`` / ``.clear()``."""
        return InputAudioBufferResource(self)

    @cached_property
    def conversation(self) -> ConversationResource:
        """``conn.conversation.item.create/delete/truncate/retrieve(...)``."""
        return ConversationResource(self)

    @cached_property
    def output_audio_buffer(self) -> OutputAudioBufferResource:
        """``conn.output_audio_buffer.clear()`` (WebRTC/SIP sideband only)."""
        return OutputAudioBufferResource(self)

    # -- receiving ----------------------------------------------------------------------------

    async def receive(self) -> ReceivedEvent:
        """Return the next server event.

        Unknown types arrive as ``UnknownServerEvent``, undecodable frames as
        :class:`InvalidServerEvent`; server ``error`` events arrive like any event. Raises
        :class:`ConnectionClosed` once the connection is closed and every event received
        before that has been returned (code 1000 for a normal close; ``SessionExpired``,
        ``ConnectionLost`` or the cause chained for the others).

        Cancellation: safe; no event is lost.
        """
        check = self._cancel_check
        if check.probe():
            await check.checkpoint()
        events = self._events
        items = events._items  # pyright: ignore[reportPrivateUsage]
        if items and events._writable is None:  # pyright: ignore[reportPrivateUsage]
            return items.popleft()
        while True:
            try:
                return events.get_nowait()
            except anyio.WouldBlock:
                await events.wait_readable()
            except anyio.EndOfStream:
                break
        # Raised outside the handler so that the recorded cause stays chained.
        raise self._closed_error()

    recv = receive

    def __aiter__(self) -> RealtimeConnection:
        return self

    async def __anext__(self) -> ReceivedEvent:
        """The next event; iteration ends quietly when the connection closed normally (1000)."""
        try:
            return await self.receive()
        except ConnectionClosed as exc:
            if exc.code == 1000 and type(exc) is ConnectionClosed:
                raise StopAsyncIteration from None
            raise

    async def recv_bytes(self) -> bytes:
        """The JSON of the next event (re-encoded, equivalent to the frame; raw if invalid).

        Cancellation: safe; no event is lost.
        """
        event = await self.receive()
        if isinstance(event, InvalidServerEvent):
            return event.raw.encode() if isinstance(event.raw, str) else event.raw
        return encode_event(event)

    @staticmethod
    def parse_event(data: bytes | bytearray | memoryview | str) -> ServerEvent | UnknownServerEvent:
        """Decode one server frame (raises :class:`RemoteProtocolError` if it is invalid)."""
        return decode_server_event(data)

    @overload
    async def wait_for(
        self,
        event_type: type[_E],
        /,
        *,
        predicate: Callable[[_E], bool] | None = None,
    ) -> _E: ...

    @overload
    async def wait_for(
        self,
        *types: str | type[BaseServerEvent],
        predicate: Callable[[ReceivedEvent], bool] | None = None,
    ) -> ReceivedEvent: ...

    async def wait_for(
        self,
        *types: str | type[BaseServerEvent],
        predicate: Callable[[Any], bool] | None = None,
    ) -> Any:
        """Wait until the reader sees an event of one of ``types`` (and ``predicate``); return it.

        The event is not taken from the stream: it (and every other) still arrives through
        :meth:`receive`. Someone must keep receiving, or the receive buffer fills and the
        reader pauses. Bound the wait with ``anyio.fail_after``.

        Cancellation: safe; nothing is consumed.
        """
        names = {t if isinstance(t, str) else t.type for t in types}

        def match(event: ReceivedEvent) -> bool:
            # An unknown event is waited for by the type it has on the wire.
            kind = event.wire_type if isinstance(event, UnknownServerEvent) else event.type
            if names and kind not in names:
                return False
            return predicate is None or predicate(event)

        waiter = _Waiter(match, None)
        self._check_open()
        self._waiters.append(waiter)
        return await self._wait(waiter)

    @asynccontextmanager
    async def subscribe(
        self, *types: str | type[BaseServerEvent], max_buffer: int = 256
    ) -> AsyncGenerator[MemoryObjectReceiveStream[ReceivedEvent], None]:
        """A second view of the events: ``async with conn.subscribe(ResponseDone) as events``.

        Every event of one of ``types`` (all events when none are given) that the reader decodes
        from now on is delivered to the subscription's bounded memory stream as well as to
        :meth:`receive`; nothing is taken away from the main stream. When the subscription's
        buffer (``max_buffer`` events) is full the reader waits for it, as it does for the main
        stream (backpressure, never a silent drop): keep receiving from it. The stream ends
        (``EndOfStream``, so ``async for`` stops) when the connection closes or the block ends.
        Used by the audio player and the tool dispatcher, which run beside the app's own loop.

        Cancellation: safe; leaving the block unsubscribes.
        """
        names = frozenset(t if isinstance(t, str) else t.type for t in types)
        send, receive = anyio.create_memory_object_stream[ReceivedEvent](max_buffer)
        subscription = _Subscription(names, send)
        self._subscriptions.append(subscription)
        if self._closed is not None:
            send.close()
        try:
            with receive:
                yield receive
        finally:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
            send.close()

    async def _publish(self, event: ReceivedEvent) -> None:
        for subscription in list(self._subscriptions):
            names = subscription.names
            if names and event.type not in names:
                continue
            try:
                subscription.send.send_nowait(event)
            except anyio.WouldBlock:
                self._reader_stalls += 1
                self._reader_blocked = True
                try:
                    await subscription.send.send(event)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    pass
                finally:
                    self._reader_blocked = False
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass

    async def _wait(self, waiter: _Waiter) -> Any:
        try:
            await waiter.done.wait()
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    # -- sending ------------------------------------------------------------------------------

    def next_event_id(self) -> str:
        """A fresh ``event_id`` for a client event (unique within this connection)."""
        self._id_counter += 1
        return f"{self._id_prefix}{self._id_counter}"

    def _encode(self, event: ClientEvent | Mapping[str, Any]) -> tuple[bytes, ClientEvent]:
        typed = to_client_event(event)
        if isinstance(event, BaseClientEvent):
            return encode_event(typed), typed
        # A dict is validated, then sent as given: fields this version does not know survive.
        try:
            return _dict_encoder.encode(event), typed
        except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as exc:
            raise LocalProtocolError(f"cannot encode {typed.type!r}: {exc}") from exc

    async def send(self, event: ClientEvent | Mapping[str, Any]) -> None:
        """Send one client event (a typed event or a dict in the wire layout).

        Returns once the frame is written, or queued for the writer when another write is in
        progress (the queue holds ``send_buffer`` frames; a full queue makes this wait).
        Raises :class:`LocalProtocolError` for an invalid event and :class:`ConnectionClosed`
        once the connection is closed or closing.

        Cancellation: a cancel before the frame is accepted sends nothing; once accepted it is
        written in order, even if the caller is cancelled while the write completes.
        """
        data, typed = self._encode(event)
        await self._send_frame(data, typed.type)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("> %s", _describe(typed))

    async def send_raw(self, data: bytes | str) -> None:
        """Send one text frame exactly as given (no validation).

        Cancellation: as for :meth:`send`.
        """
        payload = data.encode() if isinstance(data, str) else bytes(data)
        await self._send_frame(payload, "raw")

    def send_nowait(self, event: ClientEvent | Mapping[str, Any]) -> None:
        """Queue one client event for the writer without waiting.

        Raises ``anyio.WouldBlock`` if the send queue is full, and like :meth:`send` otherwise.
        """
        data, typed = self._encode(event)
        self._check_open()
        if len(self._queue) >= self._queue_limit:
            raise anyio.WouldBlock
        self._enqueue(data, typed.type)

    async def _send_frame(self, data: bytes, kind: str) -> None:
        check = self._cancel_check
        if check.probe():
            await check.checkpoint()
        self._check_open()
        transport = self._transport
        now = monotonic()
        burst = now - self._last_send < _BURST_GAP
        self._last_send = now
        if not burst and not self._queue and not self._writer_active and transport.idle:
            self._count_sent(kind)
            self._direct_sends += 1
            try:
                await transport.send_text(data)
            except ConnectionClosed as exc:
                await self._send_failed(exc)
                self._check_open()
                raise
            return
        while len(self._queue) >= self._queue_limit:
            self._space = self._space or anyio.Event()
            await self._space.wait()
            self._check_open()
        self._enqueue(data, kind)

    def _enqueue(self, data: bytes, kind: str) -> None:
        self._count_sent(kind)
        self._queue.append(data)
        wake = self._writer_wake
        if wake is not None:
            self._writer_wake = None
            wake.set()

    def _count_sent(self, kind: str) -> None:
        self._frames_sent += 1
        counts = self._events_sent
        counts[kind] = counts.get(kind, 0) + 1

    def _check_open(self) -> None:
        if self._closed is not None or self._closing:
            raise self._closed_error()
        failed = self._send_error
        if failed is not None:
            raise ConnectionClosed(failed.code, failed.reason) from failed

    async def _send_failed(self, exc: ConnectionClosed) -> None:
        """A write failed: stop sending, and let the reader report the close with its context."""
        if self._send_error is None:
            self._send_error = exc
        self._queue_closed = True
        for event in (self._writer_wake, self._space):
            if event is not None:
                event.set()
        self._writer_wake = self._space = None
        if self._transport.close_code is None or self._reader_done.is_set():
            # No close frame arrived, so the write itself broke: wake the reader.
            await self._transport.abort()
            if self._reader_done.is_set():
                self._fail(exc)

    async def request(
        self,
        event: ClientEvent | Mapping[str, Any],
    ) -> ReceivedEvent:
        """Send ``event`` and wait for the server's reply to it.

        The reply is ``session.updated`` for ``session.update``, ``conversation.item.added``
        (same item id) for ``conversation.item.create``, ``.deleted``/``.truncated``/
        ``.retrieved`` for the other item events, ``response.created`` for
        ``response.create``, ``response.done`` for ``response.cancel``,
        ``input_audio_buffer.committed``/``.cleared`` and ``output_audio_buffer.cleared``.
        An ``event_id`` is generated when the event has none; an ``error`` naming it raises
        :class:`ServerError`. Replies still arrive through :meth:`receive` as well. Bound the
        wait with ``anyio.fail_after``. ``input_audio_buffer.append`` has no reply
        and is refused with :class:`LocalProtocolError`.

        Cancellation: safe; the event may already have been sent.
        """
        outgoing, typed = self._prepare_request(event)
        match = _reply_matcher(typed)
        waiter = _Waiter(match, _unset_to_none(typed.event_id))
        self._check_open()
        self._waiters.append(waiter)
        try:
            await self.send(outgoing)
        except BaseException:
            self._waiters.remove(waiter)
            raise
        return await self._wait(waiter)

    def _prepare_request(
        self, event: ClientEvent | Mapping[str, Any]
    ) -> tuple[ClientEvent | dict[str, Any], ClientEvent]:
        """Give the event an ``event_id`` (and a created item an ``id``) so replies can match."""
        if isinstance(event, BaseClientEvent):
            typed: ClientEvent = to_client_event(event)
            if not isinstance(typed.event_id, str):
                typed = msgspec.structs.replace(typed, event_id=self.next_event_id())
            if isinstance(typed, ConversationItemCreate) and typed.item.id is msgspec.UNSET:
                item = msgspec.structs.replace(typed.item, id=_new_item_id())
                typed = msgspec.structs.replace(typed, item=item)
            return typed, typed
        outgoing = dict(event)
        if not isinstance(outgoing.get("event_id"), str):
            outgoing["event_id"] = self.next_event_id()
        if outgoing.get("type") == "conversation.item.create":
            item: object = outgoing.get("item")
            if isinstance(item, Mapping):
                fields: dict[str, Any] = dict(item)  # pyright: ignore[reportUnknownArgumentType]
                if not isinstance(fields.get("id"), str):
                    outgoing["item"] = {**fields, "id": _new_item_id()}
            elif isinstance(item, msgspec.Struct) and getattr(item, "id", None) is msgspec.UNSET:
                outgoing["item"] = msgspec.structs.replace(item, id=_new_item_id())
        return outgoing, to_client_event(outgoing)

    # -- statistics -----------------------------------------------------------------------------

    def statistics(self) -> ConnectionStatistics:
        """A snapshot of this connection's counters; cheap to call."""
        transport = self._transport
        closed = self._closed
        return ConnectionStatistics(
            frames_sent=self._frames_sent,
            frames_received=sum(self._events_received.values()),
            bytes_sent=transport.bytes_sent,
            bytes_received=transport.bytes_received,
            events_sent=MappingProxyType(dict(self._events_sent)),
            events_received=MappingProxyType(dict(self._events_received)),
            receive_buffer_used=len(self._events),
            receive_buffer_size=self._events.capacity,
            send_queue_used=len(self._queue),
            send_queue_size=self._queue_limit,
            direct_sends=self._direct_sends,
            batched_sends=self._batched_sends,
            reader_stalls=self._reader_stalls,
            dropped=self._dropped,
            invalid_frames=self._invalid_frames,
            close_code=None if closed is None else closed.code,
            close_reason=None if closed is None else closed.reason,
        )

    @property
    def closed(self) -> bool:
        """True once the connection is closed (or closing)."""
        return self._closed is not None or self._closing

    @property
    def close_code(self) -> int | None:
        """The close code, once closed."""
        return None if self._closed is None else self._closed.code

    # -- failure bookkeeping ----------------------------------------------------------------------

    def _closed_error(self) -> ConnectionClosed:
        closed = self._closed
        if closed is None:
            return ConnectionClosed(1000, "connection is closing")
        exc = type(closed)(closed.code, closed.reason)
        exc.__cause__ = closed.__cause__ or (
            closed if type(closed) is not ConnectionClosed else None
        )
        return exc

    def _fail(self, exc: ConnectionClosed) -> None:
        """Record why the connection ended (first cause wins) and wake everyone waiting."""
        if self._closed is None:
            self._closed = exc
            if exc.code != 1000 or type(exc) is not ConnectionClosed:
                logger.debug("connection closed: %s", exc)
        self._events.close()
        self._queue_closed = True
        for event in (self._writer_wake, self._space):
            if event is not None:
                event.set()
        self._writer_wake = self._space = None
        for waiter in self._waiters:
            waiter.error = self._closed_error()
            waiter.done.set()
        self._waiters.clear()
        for subscription in self._subscriptions:
            subscription.send.close()

    def _close_error(self, closed: ConnectionClosed) -> ConnectionClosed:
        """Turn a close frame (and the ``error`` event before it) into the specific error."""
        last = self._last_error
        if last is None:
            return closed
        details = last.error
        code = _unset_to_none(details.code)
        if closed.code == 1001 and code == "session_expired":
            expired = SessionExpired(closed.code, closed.reason or details.message)
            expired.__cause__ = _server_error(last)
            return expired
        if closed.code in (3000, 4000) or closed.code >= 4000:
            result = ConnectionClosed(closed.code, closed.reason)
            result.__cause__ = _refusal(last, closed.code, closed.reason)
            return result
        return closed

    # -- background tasks ----------------------------------------------------------------------

    def _deliver_to_waiters(self, event: ReceivedEvent) -> None:
        waiters = self._waiters
        if isinstance(event, Error):
            target = _unset_to_none(event.error.event_id)
            if target is not None:
                for waiter in waiters:
                    if waiter.event_id == target:
                        waiter.error = _server_error(event)
                        waiter.done.set()
                        waiters.remove(waiter)
                        break
        claimed = False
        for waiter in list(waiters):
            if claimed and waiter.event_id is not None:
                # One reply answers one request (the oldest that matches).
                continue
            try:
                matched = waiter.match(event)
            except Exception as exc:  # a user predicate failed: hand it to that waiter
                waiter.error = exc
                matched = True
            if matched:
                waiter.result = event
                waiter.done.set()
                waiters.remove(waiter)
                claimed = claimed or waiter.event_id is not None

    def _decode(self, data: bytes | bytearray | memoryview) -> ReceivedEvent:
        try:
            event: ReceivedEvent = decode_server_event(data)
        except RemoteProtocolError as exc:
            event = self._invalid(exc, data)
        kind = event.type
        counts = self._events_received
        counts[kind] = counts.get(kind, 0) + 1
        return event

    def _invalid(
        self, exc: RemoteProtocolError, data: bytes | bytearray | memoryview
    ) -> InvalidServerEvent:
        self._invalid_frames += 1
        raw = exc.raw if exc.raw is not None else bytes(data)
        return InvalidServerEvent(raw, exc)

    def _binary(self, data: bytes | bytearray | memoryview) -> InvalidServerEvent:
        self._invalid_frames += 1
        raw = bytes(data)
        counts = self._events_received
        counts[InvalidServerEvent.type] = counts.get(InvalidServerEvent.type, 0) + 1
        return InvalidServerEvent(raw, RemoteProtocolError("binary frame from the server", raw))

    async def _reader(self) -> None:
        # The hot loop of the connection: locals instead of attribute lookups, and the queue's
        # fast path inlined (it runs once per received event).
        transport = self._transport
        receive_nowait = transport.receive_nowait
        counts = self._events_received
        events = self._events
        items = events._items  # pyright: ignore[reportPrivateUsage]
        capacity = events.capacity
        debug = logger.isEnabledFor(logging.DEBUG)
        try:
            with self._reader_scope:
                while True:
                    # Drain what the last read brought in before awaiting the network again;
                    # receive() checks for cancellation per event on the user's side.
                    message = receive_nowait()
                    if message is None:
                        message = await transport.receive()
                    data, text = message
                    if text:
                        try:
                            event: ReceivedEvent = decode_server_event(data)
                        except RemoteProtocolError as exc:
                            event = self._invalid(exc, data)
                        kind = event.type
                        counts[kind] = counts.get(kind, 0) + 1
                    else:
                        event = self._binary(data)
                        kind = event.type
                    if debug:
                        logger.debug("< %s", _describe(event))
                    if kind == "error" and isinstance(event, Error):
                        self._last_error = event
                    elif self._last_error is not None:
                        # Only an error right before a close explains the close.
                        self._last_error = None
                    if self._waiters:
                        self._deliver_to_waiters(event)
                    if self._subscriptions:
                        await self._publish(event)
                    if len(items) < capacity:
                        items.append(event)
                        if events._readable is not None:  # pyright: ignore[reportPrivateUsage]
                            events.put_nowait(event, force=True, append=False)
                        continue
                    if self._discarding:
                        # Closing: nobody receives any more, and the socket must keep draining.
                        items.clear()
                        continue
                    self._reader_stalls += 1
                    self._reader_blocked = True
                    try:
                        await events.wait_writable()
                    finally:
                        self._reader_blocked = False
                    if self._discarding:
                        items.clear()
                        continue
                    events.put_nowait(event, force=True)
        except ConnectionClosed as exc:
            self._fail(self._close_error(exc))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._fail(ConnectionClosed(1000, "connection closed"))
        except Exception as exc:
            lost = ConnectionLost(1011, f"reader failed: {exc!r}")
            lost.__cause__ = exc
            logger.exception("the reader task failed")
            self._fail(lost)
        finally:
            self._reader_done.set()

    async def _writer(self) -> None:
        transport = self._transport
        queue = self._queue
        try:
            while True:
                while not queue:
                    if self._queue_closed:
                        return
                    wake = self._writer_wake = anyio.Event()
                    await wake.wait()
                self._writer_active = True
                batch: list[bytes] = []
                size = 0
                while queue and size < _BATCH_BYTES:
                    data = queue.popleft()
                    batch.append(data)
                    size += len(data)
                space = self._space
                if space is not None:
                    self._space = None
                    space.set()
                self._batched_sends += len(batch)
                try:
                    if len(batch) == 1:
                        await transport.send_text(batch[0])
                    else:
                        await transport.send_texts(batch)
                finally:
                    self._writer_active = False
        except ConnectionClosed as exc:
            await self._send_failed(exc)
        except Exception as exc:
            lost = ConnectionLost(1011, f"writer failed: {exc!r}")
            lost.__cause__ = exc
            logger.exception("the writer task failed")
            self._fail(lost)
        finally:
            self._writer_done.set()

    async def _keepalive(self) -> None:
        interval, timeout = self.ping_interval, self.ping_timeout
        if interval is None:
            return
        try:
            with self._keepalive_scope:
                while True:
                    await anyio.sleep(interval)
                    stalls = self._reader_stalls
                    with anyio.move_on_after(math.inf if timeout is None else timeout) as scope:
                        try:
                            await self._transport.ping()
                        except ConnectionClosed:
                            return
                    if not scope.cancelled_caught:
                        continue
                    if self._reader_blocked or self._reader_stalls != stalls:
                        # A slow consumer keeps the reader from seeing the pong; not the peer's
                        # fault.
                        continue
                    self._fail(
                        ConnectionLost(1006, f"no pong within {timeout} s: the peer is gone")
                    )
                    await self._transport.abort()
                    return
        except Exception as exc:
            lost = ConnectionLost(1011, f"keepalive failed: {exc!r}")
            lost.__cause__ = exc
            logger.exception("the keepalive task failed")
            self._fail(lost)
            await self._transport.abort()

    # -- lifecycle -------------------------------------------------------------------------------

    async def _await_session(self, deadline: float) -> None:
        """Read until the first non-error event, or raise the refusal that came instead.

        What was read stays queued for :meth:`receive`. The live service closes right after a
        fatal ``error``; an ``error`` with no close within a second leaves a usable session.
        """
        transport = self._transport
        while True:
            limit = max(deadline - anyio.current_time(), 0.0)
            if self._last_error is not None:
                limit = min(limit, 1.0)
            message = None
            try:
                with anyio.move_on_after(limit):
                    message = await transport.receive()
            except ConnectionClosed as exc:
                closed = self._close_error(exc)
                cause = closed.__cause__
                if isinstance(cause, APIStatusError):
                    raise cause from None
                raise closed from None
            if message is None:
                if self._last_error is not None:
                    return
                raise ConnectTimeout(f"no session.created within the connect timeout ({self.url})")
            event = self._decode(message.data) if message.text else self._binary(message.data)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("< %s", _describe(event))
            self._events.put_nowait(event, force=True)
            if not isinstance(event, Error):
                return
            self._last_error = event

    async def _run_background(self, tg: anyio.abc.TaskGroup) -> None:
        tg.start_soon(self._reader, name="realtime-reader")
        tg.start_soon(self._writer, name="realtime-writer")
        if self.ping_interval is not None:
            tg.start_soon(self._keepalive, name="realtime-keepalive")
        await anyio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        """Close gracefully: flush accepted sends, close with 1000, wait for the server's reply.

        Bounded by ``close_timeout``; frames that arrive meanwhile are discarded. Silent when
        called again. ``open_realtime`` calls it when the block ends.

        Cancellation: shielded; returns within ``close_timeout``.
        """
        with anyio.CancelScope(shield=True):
            if self._closing:
                await anyio.lowlevel.checkpoint()
                return
            self._closing = True
            # Stop delivering events first and let the reader drain the socket while the writer
            # flushes: a peer whose writes block its reads (its send buffer full because a full
            # receive buffer stopped our reader) would otherwise never read our flush or our
            # close frame, and the close would wait out close_timeout.
            self._discarding = True
            self._events.clear()
            with anyio.move_on_after(self.close_timeout):
                # Flush what send() already accepted; the writer exits when the queue is empty.
                self._queue_closed = True
                wake = self._writer_wake
                if wake is not None:
                    self._writer_wake = None
                    wake.set()
                await self._writer_done.wait()
                # Stop delivering events, then run the closing handshake.
                self._reader_scope.cancel()
                await self._reader_done.wait()
                self._keepalive_scope.cancel()
                await self._transport.aclose(1000, "")
            await self._transport.abort()
            if self._closed is None:
                self._closed = ConnectionClosed(1000, "closed by the client")
            self._fail(self._closed)
            self._events.clear()


def _new_item_id() -> str:
    return f"item_{os.urandom(10).hex()}"


_dict_encoder = msgspec.json.Encoder()


def _server_error(event: Error) -> ServerError:
    details = event.error
    return ServerError(
        type=details.type,
        code=_unset_to_none(details.code),
        message=details.message,
        param=_unset_to_none(details.param),
        event_id=_unset_to_none(details.event_id),
        error=details,
    )


def _refusal(event: Error, close_code: int, close_reason: str) -> APIStatusError:
    details = event.error
    cls = status_error_class(close_code=close_code)
    return cls(
        details.message,
        close_code=close_code,
        close_reason=close_reason,
        error_type=details.type,
        error_code=_unset_to_none(details.code),
        param=_unset_to_none(details.param),
        body=msgspec.to_builtins(details),
    )


def _reply_matcher(event: ClientEvent) -> Callable[[ReceivedEvent], bool]:
    if isinstance(event, SessionUpdate):
        return lambda e: isinstance(e, SessionUpdated)
    if isinstance(event, ConversationItemCreate):
        item_id = event.item.id
        return lambda e: isinstance(e, ConversationItemAdded) and e.item.id == item_id
    if isinstance(event, ConversationItemDelete):
        deleted = event.item_id
        return lambda e: isinstance(e, ConversationItemDeleted) and e.item_id == deleted
    if isinstance(event, ConversationItemTruncate):
        truncated = event.item_id
        return lambda e: isinstance(e, ConversationItemTruncated) and e.item_id == truncated
    if isinstance(event, ConversationItemRetrieve):
        retrieved = event.item_id
        return lambda e: isinstance(e, ConversationItemRetrieved) and e.item.id == retrieved
    if isinstance(event, ResponseCreate):
        return lambda e: isinstance(e, ResponseCreated)
    if isinstance(event, ResponseCancel):
        rid = event.response_id
        if isinstance(rid, str):
            return lambda e: isinstance(e, ResponseDone) and e.response.id == rid
        return lambda e: isinstance(e, ResponseDone)
    if isinstance(event, InputAudioBufferCommit):
        return lambda e: isinstance(e, InputAudioBufferCommitted)
    if isinstance(event, InputAudioBufferClear):
        return lambda e: isinstance(e, InputAudioBufferCleared)
    if isinstance(event, OutputAudioBufferClear):
        return lambda e: isinstance(e, OutputAudioBufferCleared)
    raise LocalProtocolError(f"{event.type!r} has no reply to wait for")


def _merge_config(config: ClientConfig | None, **options: Any) -> ClientConfig:
    given = {k: v for k, v in options.items() if v is not None}
    if config is None:
        return ClientConfig.from_options(**given)
    if not given:
        return config
    if "extra_headers" in given:
        given["extra_headers"] = {**config.extra_headers, **given["extra_headers"]}
    if "extra_query" in given:
        given["extra_query"] = {**config.extra_query, **given["extra_query"]}
    for key in ("base_url", "websocket_base_url", "azure_endpoint"):
        if key in given:
            given[key] = str(given[key]).rstrip("/")
    return replace(config, **given)


@asynccontextmanager
async def open_realtime(
    *,
    model: str | None = None,
    call_id: str | None = None,
    config: ClientConfig | None = None,
    api_key: ApiKey | None = None,
    base_url: str | None = None,
    websocket_base_url: str | None = None,
    organization: str | None = None,
    project: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    extra_query: Mapping[str, str] | None = None,
    azure_endpoint: str | None = None,
    azure_deployment: str | None = None,
    api_version: str | None = None,
    azure_ad_token_provider: TokenProvider | None = None,
    ssl_context: ssl.SSLContext | None = None,
    transport: TransportFactory | None = None,
    connect_timeout: float = 10.0,
    close_timeout: float = 5.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    receive_buffer: int = 256,
    send_buffer: int = 64,
    compression: bool = False,
    wait_for_session: bool | None = None,
) -> AsyncGenerator[RealtimeConnection, None]:
    """Open a Realtime WebSocket session: ``async with open_realtime(model=...) as conn``.

    Endpoint and credential arguments mean what they mean in the official SDK and fall back to
    the environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, Azure's variables); ``config``
    supplies them all at once (``Realtime.connect`` passes its own).

    Entering the block connects, completes the handshake and waits (within
    ``connect_timeout``) for the first server event, so a refusal raises here: the specific
    :class:`APIStatusError` subclass (``AuthenticationError`` for close 3000 or HTTP 401,
    ``BadRequestError`` for 4000, ``NotFoundError`` for 404, ...), :class:`ConnectTimeout`, or
    :class:`APIConnectionError`. The first event (``session.created``) is still the first one
    ``receive`` returns. With ``call_id`` (a sideband socket, which may never send
    ``session.created``) the block is entered right after the handshake, unless
    ``wait_for_session=True``.

    Leaving the block flushes accepted sends, closes with 1000 and discards frames until the
    server's reply, all within ``close_timeout``; an exception from the body comes out as
    itself. ``ping_interval``/``ping_timeout`` drive the keepalive (``None`` disables it);
    ``max_message_size`` bounds one incoming message; ``receive_buffer`` events and
    ``send_buffer`` frames bound memory each way. ``transport`` replaces the WebSocket
    factory (tests, trio-websocket). ``compression=True`` offers permessage-deflate.

    Cancellation: safe at every await; nothing is left open.
    """
    merged = _merge_config(
        config,
        api_key=api_key,
        base_url=base_url,
        websocket_base_url=websocket_base_url,
        organization=organization,
        project=project,
        extra_headers=extra_headers,
        extra_query=extra_query,
        azure_endpoint=azure_endpoint,
        azure_deployment=azure_deployment,
        api_version=api_version,
        azure_ad_token_provider=azure_ad_token_provider,
    )
    url = merged.websocket_url(model=model, call_id=call_id)
    secrets = merged.secrets()
    headers = await merged.auth_headers()
    request = ConnectRequest(
        url=url,
        headers=headers,
        connect_timeout=connect_timeout,
        close_timeout=close_timeout,
        max_message_size=max_message_size,
        ssl_context=ssl_context,
        compression=compression,
    )
    factory = transport or connect_websocket
    shown_url = redact(url, secrets)
    if wait_for_session is None:
        wait_for_session = call_id is None
    error: BaseException | None = None
    opened: Transport | None = None
    try:
        async with anyio.create_task_group() as tg:
            try:
                opened, conn = await _connect(
                    factory,
                    replace(request, task_group=tg),
                    wait_for_session=wait_for_session,
                    receive_buffer=receive_buffer,
                    send_buffer=send_buffer,
                    ping_interval=ping_interval,
                    ping_timeout=ping_timeout,
                    shown_url=shown_url,
                )
            except anyio.get_cancelled_exc_class():
                raise
            except BaseException as exc:
                # Raised after the task group, so that it is not wrapped in a group.
                error = exc
                tg.cancel_scope.cancel()
            else:
                await conn._run_background(tg)  # pyright: ignore[reportPrivateUsage]
                try:
                    yield conn
                except anyio.get_cancelled_exc_class():
                    raise
                except BaseException as exc:
                    error = exc
                finally:
                    await conn.aclose()
                    tg.cancel_scope.cancel()
    except _GROUP_TYPES as group:
        raise RealtimeInternalError("a background task raised; please report this") from group
    finally:
        if opened is not None:
            with anyio.CancelScope(shield=True):
                await opened.abort()
    if error is not None:
        raise error


async def _connect(
    factory: TransportFactory,
    request: ConnectRequest,
    *,
    wait_for_session: bool,
    receive_buffer: int,
    send_buffer: int,
    ping_interval: float | None,
    ping_timeout: float | None,
    shown_url: str,
) -> tuple[Transport, RealtimeConnection]:
    logger.debug("connecting to %s", shown_url)
    deadline = anyio.current_time() + request.connect_timeout
    try:
        with anyio.fail_after(request.connect_timeout):
            opened = await factory(request)
    except TimeoutError as exc:
        if isinstance(exc, ConnectTimeout):
            raise
        raise ConnectTimeout(f"no connection within {request.connect_timeout} s") from None
    conn: RealtimeConnection | None = None
    try:
        conn = RealtimeConnection(
            opened,
            receive_buffer=receive_buffer,
            send_buffer=send_buffer,
            close_timeout=request.close_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            url=shown_url,
        )
        if wait_for_session:
            await conn._await_session(deadline)  # pyright: ignore[reportPrivateUsage]
    except BaseException:
        if conn is not None:
            conn._events.clear()  # pyright: ignore[reportPrivateUsage]
        with anyio.CancelScope(shield=True):
            await opened.abort()
        raise
    logger.debug("connected to %s", shown_url)
    return opened, conn
