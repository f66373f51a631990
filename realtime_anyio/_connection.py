"""``RealtimeConnection``: one open WebSocket session and its background tasks.

The connection owns a reader task (transport messages → typed events → a bounded anyio memory
object stream that :meth:`~RealtimeConnection.receive` reads), a writer task (a bounded memory
object stream of encoded client events → the transport, several frames per write when they
queue up) and an optional keepalive task. ``open_realtime`` (in ``_open.py``) runs them in the
task group it owns. Background tasks never raise: they record the failure and close the
streams, and ``receive`` / ``send`` raise :class:`ConnectionClosed` (with the cause chained).
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Generic, TypeVar, overload

import anyio
import anyio.abc
import anyio.lowlevel
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._correlation import Correlator, Pending
from ._errors import (
    APIStatusError,
    ConnectionClosed,
    ConnectionLost,
    ConnectTimeout,
    LocalProtocolError,
    RemoteProtocolError,
    Scrub,
    closed_by_peer,
    server_error,
)
from ._resources import TypedHelpers
from .conversation import Conversation
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
from .transport import Transport

__all__ = [
    "ConnectionStatistics",
    "Expectation",
    "InvalidServerEvent",
    "ReceivedEvent",
    "RealtimeConnection",
]

logger = logging.getLogger("realtime_anyio")

#: The writer puts at most this many frames, or bytes, into one write.
_BATCH_FRAMES = 64
_BATCH_BYTES = 256 * 1024
# Passes of the scheduler that bring no new frame before a burst counts as over. Two, because
# trio may run the writer before the senders within a pass.
_EMPTY_PASSES = 2
#: How long the last-resort abort of a transport may take once the close gave up.
ABORT_TIMEOUT = 1.0


_E = TypeVar("_E", bound=BaseServerEvent)
_T = TypeVar("_T", covariant=True)


@dataclass(frozen=True)
class ConnectionStatistics:
    """A snapshot of one connection's counters (see :meth:`RealtimeConnection.statistics`).

    ``frames_sent`` counts client events written to the network, ``events_sent`` the events
    ``send`` accepted, by type; ``unsent`` the accepted events that were never written because
    the connection ended first. ``dropped`` counts server events discarded while closing (the
    only time events are dropped); ``reader_stalls`` how often a full receive buffer or
    subscription made the reader wait.
    """

    frames_sent: int
    frames_received: int
    bytes_sent: int
    bytes_received: int
    events_sent: Mapping[str, int]
    events_received: Mapping[str, int]
    receive_buffer_used: int
    receive_buffer_size: int
    send_queue_used: int
    send_queue_size: int
    write_batches: int
    unsent: int
    reader_stalls: int
    dropped: int
    invalid_frames: int
    close_code: int | None
    close_reason: str | None


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
        return f"{event.wire_type} (unknown type)"
    try:
        data = msgspec.to_builtins(event, builtin_types=(bytes, bytearray))
    except (TypeError, msgspec.EncodeError):
        return type(event).__name__
    text = repr(_elide(data))
    return text if len(text) <= 500 else text[:497] + "..."


def _type_names(types: tuple[str | type[Any], ...]) -> frozenset[str]:
    # A class stands for its ``type`` (server events, and the resilient session's own events).
    return frozenset(t if isinstance(t, str) else t.type for t in types)


def _matcher(
    types: tuple[str | type[Any], ...], predicate: Callable[[Any], bool] | None
) -> Callable[[Any], bool]:
    names = _type_names(types)

    def match(event: Any) -> bool:
        if names and _kind(event) not in names:
            return False
        return predicate is None or bool(predicate(event))

    return match


def _kind(event: Any) -> str:
    """The type an event is waited for and counted by: an unknown one's type on the wire."""
    return event.wire_type if isinstance(event, UnknownServerEvent) else event.type


class _Wakeup:
    """A wake-up that waiting tasks share: :meth:`wait` arms it (one anyio ``Event`` for every
    waiter until the next :meth:`set`), :meth:`set` wakes them and disarms it. Setting it when
    nobody waits costs no event."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event: anyio.Event | None = None

    @property
    def armed(self) -> bool:
        """Whether a task is waiting (since the last :meth:`set`)."""
        return self._event is not None

    def wait(self) -> Coroutine[Any, Any, None]:
        """Wait for the next :meth:`set` (the event's own ``wait()``: no extra frame)."""
        event = self._event
        if event is None:
            event = self._event = anyio.Event()
        return event.wait()

    def set(self) -> None:
        event = self._event
        if event is not None:
            self._event = None
            event.set()


@dataclass(eq=False)
class _Subscription:
    names: frozenset[str]
    send: MemoryObjectSendStream[ReceivedEvent]


@asynccontextmanager
async def _subscription(
    registry: list[_Subscription],
    types: tuple[str | type[BaseServerEvent], ...],
    max_buffer: int,
    closed: Callable[[], bool],
) -> AsyncGenerator[MemoryObjectReceiveStream[ReceivedEvent], None]:
    """A bounded tap registered in ``registry`` for the block; one made after the connection
    ended (``closed()``, asked after the checkpoint) is ended at once."""
    await anyio.lowlevel.checkpoint()
    send, receive = anyio.create_memory_object_stream[ReceivedEvent](max_buffer)
    subscription = _Subscription(_type_names(types), send)
    registry.append(subscription)
    if closed():
        send.close()
    try:
        with receive:
            yield receive
    finally:
        if subscription in registry:
            registry.remove(subscription)
        send.close()


class Expectation(Generic[_T]):
    """A wait registered before the request it answers: see :meth:`RealtimeConnection.expect`.

    Use it as a ``with`` block: it matches events received while the block is open.
    """

    __slots__ = ("_correlator", "_done", "_match", "_pending")

    def __init__(self, correlator: Correlator, match: Callable[[Any], bool]) -> None:
        self._correlator = correlator
        self._match = match
        self._done: anyio.Event | None = None
        self._pending: Pending | None = None

    def __enter__(self) -> Expectation[_T]:
        done = self._done = anyio.Event()
        self._pending = self._correlator.register(Pending(self._match, None, done.set))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pending is not None:
            self._correlator.discard(self._pending)

    @property
    def event(self) -> _T | None:
        """The matching event once it arrived, else ``None``."""
        pending = self._pending
        result: _T | None = None if pending is None else pending.result
        return result

    async def wait(self) -> _T:
        """Wait for the first matching event received since the block started.

        Raises :class:`ConnectionClosed` if the connection ends first. Bound it with
        ``anyio.fail_after``.

        Cancellation: safe; the expectation stays registered until its ``with`` block ends.
        """
        await anyio.lowlevel.checkpoint()
        pending, done = self._pending, self._done
        if pending is None or done is None:
            raise RuntimeError("use the expectation as a `with` block before waiting on it")
        await done.wait()
        if pending.error is not None:
            raise pending.error
        result: _T = pending.result
        return result


class RealtimeConnection(TypedHelpers):
    """One open Realtime WebSocket session; get it from :func:`open_realtime`.

    Receive with ``async for event in conn``, ``await conn.receive()`` or
    ``conn.receive_nowait()``; send with ``await conn.send(event_or_dict)``,
    ``conn.send_nowait(...)`` or the typed helpers (``conn.session.update(...)``,
    ``conn.response.create()``, ``conn.input_audio_buffer.append(pcm)``, ...). Any number of
    tasks may send and receive concurrently. Every ``await conn.<method>()`` is a checkpoint:
    it yields to the scheduler and honours cancellation even when it could finish at once.
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
        scrub: Scrub | None = None,
        history: Conversation | None = None,
    ) -> None:
        if receive_buffer < 1 or send_buffer < 1:
            raise ValueError("receive_buffer and send_buffer must be at least 1")
        self._transport = transport
        self.url = url
        self.close_timeout = close_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._scrub: Scrub = scrub or (lambda text: text)
        self._history = history
        # Receive side: the reader's bounded stream, and the events in it not yet received
        # (``wait_for`` looks there first, so a reply already buffered is never missed).
        self._inbox, self._events = anyio.create_memory_object_stream[ReceivedEvent](receive_buffer)
        self._unread: deque[ReceivedEvent] = deque()
        self._receive_buffer = receive_buffer
        # A reader stopped by a full buffer waits on this until receivers have taken it down to
        # ``_resume_at`` events: one reader wake-up per half buffer, not one per event.
        self._inbox_room = _Wakeup()
        self._resume_at = receive_buffer // 2
        # Send side: encoded frames waiting for the writer.
        self._outbox, self._outgoing = anyio.create_memory_object_stream[bytes](send_buffer)
        self._send_buffer = send_buffer
        self._room = _Wakeup()  # senders waiting for room in the send channel
        # Set when an event is buffered (receivers wait on it) and when a frame is queued (the
        # idle writer waits on it): waiting on these instead of inside the streams' receive()
        # saves the streams' own checkpoint, a scheduler pass per event.
        self._arrived = _Wakeup()
        self._queued = _Wakeup()
        self._in_flight = 0
        self._in_flight_counted = False
        self._writer_done = anyio.Event()
        self._reader_done = anyio.Event()
        self._reader_scope = anyio.CancelScope()
        self._keepalive_scope = anyio.CancelScope()
        # Failure and close state.
        self._closed: ConnectionClosed | None = None
        self._last_error: Error | None = None
        self._closing = False
        self._discarding = False
        # Correlation and subscriptions.
        self._correlator = Correlator(lambda event: server_error(event.error, self._scrub))
        self._subscriptions: list[_Subscription] = []
        self._id_prefix = f"evt_{os.urandom(4).hex()}_"
        self._id_counter = 0
        # Statistics.
        self._frames_sent = 0
        self._write_batches = 0
        self._unsent = 0
        self._events_sent: dict[str, int] = {}
        self._events_received: dict[str, int] = {}
        self._reader_stalls = 0
        self._reader_blocked = False
        self._invalid_frames = 0
        self._dropped = 0

    def __repr__(self) -> str:
        state = "open" if self._closed is None else f"closed {self._closed.code}"
        return f"<RealtimeConnection {self.url!r} {state}>"

    @property
    def history(self) -> Conversation:
        """The conversation folded from every received event (``open_realtime(history=True)``).

        The reader applies each event to it before delivering the event, so it is up to date
        with everything :meth:`receive` has returned (and may already include events still
        buffered). Read it at any time; see :class:`~realtime_anyio.conversation.Conversation`.
        """
        if self._history is None:
            raise RuntimeError("open the connection with history=True to keep the conversation")
        return self._history

    # -- receiving ----------------------------------------------------------------------------

    async def receive(self) -> ReceivedEvent:
        """Return the next server event.

        Unknown types arrive as ``UnknownServerEvent``, undecodable frames as
        :class:`InvalidServerEvent`; server ``error`` events arrive like any event. Raises
        :class:`ConnectionClosed` once the connection is closed and every event received
        before that has been returned (code 1000 for a normal close; ``SessionExpired``,
        ``ConnectionLost`` or the cause chained for the others).

        Cancellation: safe; no event is lost. Always a checkpoint, even with events buffered.
        """
        events = self._events
        if self._unread:
            await anyio.lowlevel.checkpoint()
        while True:
            try:
                event = events.receive_nowait()
            except anyio.WouldBlock:
                # Waiting is the schedule point; nothing is taken until the wait is over, so a
                # cancel loses no event.
                await self._arrived.wait()
                continue
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                break
            self._mark_read(event)
            return event
        # Raised outside the handler so that the recorded cause stays chained.
        raise self._closed_error()

    def receive_nowait(self) -> ReceivedEvent:
        """Return the next buffered event without waiting (and without a checkpoint).

        Raises ``anyio.WouldBlock`` when no event is buffered, and :class:`ConnectionClosed`
        like :meth:`receive` once the connection is closed and drained. For draining a burst
        in one go: ``while True: try: conn.receive_nowait() except anyio.WouldBlock: break``.
        """
        try:
            event = self._events.receive_nowait()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            pass
        else:
            self._mark_read(event)
            return event
        raise self._closed_error()

    def _mark_read(self, event: ReceivedEvent) -> None:
        unread = self._unread
        if unread and unread[0] is event:
            unread.popleft()
        else:  # pragma: no cover - the stream is FIFO; stay right if that ever changes
            with suppress(ValueError):
                unread.remove(event)
        # ``unread`` also holds the event the waiting reader could not buffer yet.
        if self._inbox_room.armed and len(unread) <= self._resume_at + 1:
            self._inbox_room.set()

    recv = receive

    def __aiter__(self) -> RealtimeConnection:
        return self

    async def __anext__(self) -> ReceivedEvent:
        """The next event; iteration ends quietly when the connection closed normally (1000)."""
        try:
            return await self.receive()
        except ConnectionClosed as exc:
            if exc.code == 1000 and type(exc) is ConnectionClosed and not exc.unsent:
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
        """Return the first event of one of ``types`` (and ``predicate``) not yet received.

        It looks at the events already buffered first (not yet returned by :meth:`receive`),
        then waits for the reader to decode one. The event is not taken from the stream: it
        still arrives through :meth:`receive`. Someone must keep receiving, or the buffer fills
        and the reader pauses. To wait only for an event that answers something you are about
        to send, use :meth:`expect` (or :meth:`request`). Bound the wait with
        ``anyio.fail_after``.

        Cancellation: safe; nothing is consumed.
        """
        await anyio.lowlevel.checkpoint()
        match = _matcher(types, predicate)
        for event in list(self._unread):
            if match(event):
                return event
        self._check_open()
        done = anyio.Event()
        pending = self._correlator.register(Pending(match, None, done.set))
        return await self._wait(pending, done)

    @overload
    def expect(  # pyright: ignore[reportOverlappingOverload]  # a class is the narrower match
        self, event_type: type[_E], /, *, predicate: Callable[[_E], bool] | None = None
    ) -> Expectation[_E]: ...

    @overload
    def expect(
        self,
        *types: str | type[BaseServerEvent],
        predicate: Callable[[ReceivedEvent], bool] | None = None,
    ) -> Expectation[ReceivedEvent]: ...

    def expect(
        self,
        *types: str | type[BaseServerEvent],
        predicate: Callable[[Any], bool] | None = None,
    ) -> Expectation[Any]:
        """Register a wait *before* sending what it answers, so no reply can slip past it.

        ::

            with conn.expect(ResponseDone) as done:
                await conn.response.create()
                event = await done.wait()

        Only events received after the ``with`` starts match (unlike :meth:`wait_for`, which
        also looks at what is already buffered). Events still arrive through :meth:`receive`.
        """
        self._check_open()
        return Expectation(self._correlator, _matcher(types, predicate))

    async def _wait(self, pending: Pending, done: anyio.Event) -> Any:
        try:
            await done.wait()
        finally:
            self._correlator.discard(pending)
        if pending.error is not None:
            raise pending.error
        return pending.result

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
        The audio player and the tool dispatcher use it to run beside the app's own loop.

        Cancellation: safe; leaving the block unsubscribes.
        """

        def closed() -> bool:
            return self._closed is not None or self._closing

        async with _subscription(self._subscriptions, types, max_buffer, closed) as receive:
            yield receive

    async def _publish(self, event: ReceivedEvent) -> None:
        for subscription in list(self._subscriptions):
            names = subscription.names
            if names and _kind(event) not in names:
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

        Returns once the writer task has accepted the frame: it is written in order, before
        the connection's close frame, or the connection's error says it was not
        (``ConnectionClosed.unsent``). The send queue holds ``send_buffer`` frames; a full
        queue (a slow network or a peer that stopped reading) makes this wait. Raises
        :class:`LocalProtocolError` for an invalid event and :class:`ConnectionClosed` once
        the connection is closed or closing.

        Cancellation: always a checkpoint; a cancel before the frame is accepted sends nothing
        and takes effect at once, even while the network is blocked. (When the writer is idle,
        the call yields just after queueing the frame, with anyio's cancellation held off; a
        plain asyncio ``task.cancel()`` landing exactly there still raises, and the frame is
        written all the same.)
        """
        data, typed = self._encode(event)
        await self._put(data, typed.type)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("> %s", _describe(typed))

    async def send_raw(self, data: bytes | str) -> None:
        """Send one text frame exactly as given (no validation).

        Cancellation: as for :meth:`send`.
        """
        payload = data.encode() if isinstance(data, str) else bytes(data)
        await self._put(payload, "raw")

    def send_nowait(self, event: ClientEvent | Mapping[str, Any]) -> None:
        """Queue one client event for the writer without waiting (and without a checkpoint).

        Raises ``anyio.WouldBlock`` if the send queue is full, and like :meth:`send` otherwise.
        """
        data, typed = self._encode(event)
        self._check_open()
        try:
            self._outbox.send_nowait(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            failed = True
        else:
            failed = False
        if failed:
            raise self._closed_error()
        self._queued.set()
        self._count_sent(typed.type)

    async def _put(self, data: bytes, kind: str) -> None:
        if self._queued.armed and not self._closing:
            # The writer is idle (a real-time send): the checkpoint in two halves, as trio's
            # own channels do. A cancel already pending is raised before anything is queued;
            # the schedule point comes once the frame is queued (shielded: a cancel there
            # would report "not sent" for a frame that is then written), so the woken writer
            # runs in the same pass of the scheduler as this task's yield.
            await anyio.lowlevel.checkpoint_if_cancelled()
            try:
                self._outbox.send_nowait(data)
            except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the general path below sorts it out (and checkpoints)
            else:
                self._queued.set()
                self._count_sent(kind)
                await anyio.lowlevel.cancel_shielded_checkpoint()
                return
        await anyio.lowlevel.checkpoint()
        outbox = self._outbox
        while True:
            try:
                outbox.send_nowait(data)
            except anyio.WouldBlock:
                # Wait for room ourselves rather than inside the stream's send(): a cancel
                # that lands there after the writer took the frame would report "not sent"
                # for a frame that is then written.
                await self._room.wait()
                continue
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                break
            self._queued.set()
            self._count_sent(kind)
            return
        raise self._closed_error()

    def _count_sent(self, kind: str) -> None:
        counts = self._events_sent
        counts[kind] = counts.get(kind, 0) + 1

    def _check_open(self) -> None:
        if self._closed is not None or self._closing:
            raise self._closed_error()

    async def request(self, event: ClientEvent | Mapping[str, Any]) -> ReceivedEvent:
        """Send ``event`` and wait for the server's reply to it.

        The reply is ``session.updated`` for ``session.update``, ``conversation.item.added``
        (same item id) for ``conversation.item.create``, ``.deleted``/``.truncated``/
        ``.retrieved`` for the other item events, ``response.created`` for
        ``response.create``, ``response.done`` for ``response.cancel``,
        ``input_audio_buffer.committed``/``.cleared`` and ``output_audio_buffer.cleared``.
        An ``event_id`` is generated when the event has none; an ``error`` naming it raises
        :class:`ServerError`. The wait is registered before the event is sent, so the reply
        cannot be missed; it still arrives through :meth:`receive` as well. Bound the wait with
        ``anyio.fail_after``. ``input_audio_buffer.append`` has no reply and is refused with
        :class:`LocalProtocolError`.

        Cancellation: safe; the event may already have been sent.
        """
        outgoing, typed = self._prepare_request(event)
        match = _reply_matcher(typed)
        event_id = typed.event_id if isinstance(typed.event_id, str) else None
        self._check_open()
        done = anyio.Event()
        pending = self._correlator.register(Pending(match, event_id, done.set))
        try:
            await self.send(outgoing)
        except BaseException:
            self._correlator.discard(pending)
            raise
        return await self._wait(pending, done)

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
            receive_buffer_used=self._events.statistics().current_buffer_used,
            receive_buffer_size=self._receive_buffer,
            send_queue_used=self._outgoing.statistics().current_buffer_used,
            send_queue_size=self._send_buffer,
            write_batches=self._write_batches,
            unsent=self._unsent,
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
            return ConnectionClosed(1000, "connection is closing", unsent=self._unsent)
        exc = type(closed)(closed.code, closed.reason, unsent=self._unsent)
        exc.__cause__ = closed.__cause__ or (
            closed if type(closed) is not ConnectionClosed else None
        )
        return exc

    def _fail(self, exc: ConnectionClosed) -> None:
        """Record why the connection ended (first cause wins) and wake everyone waiting.

        Frames still queued for the writer cannot be written any more: they are counted in
        ``unsent`` and named in the error every sender gets from now on.
        """
        if self._closed is None:
            self._closed = exc
            if exc.code != 1000 or type(exc) is not ConnectionClosed:
                logger.debug("connection closed: %s", exc)
        self._inbox.close()
        self._arrived.set()
        self._inbox_room.set()
        self._abandon_outgoing()
        for subscription in self._subscriptions:
            subscription.send.close()
        self._correlator.fail_all(self._closed_error)

    def _abandon_outgoing(self) -> None:
        """Stop accepting sends and count what the writer will never write."""
        self._outbox.close()
        self._queued.set()
        outgoing = self._outgoing
        while True:
            try:
                outgoing.receive_nowait()
            except anyio.WouldBlock:
                # Senders still waiting for room: closing wakes them with an error.
                break
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                break
            self._unsent += 1
        # The batch being written counts as unsent for now; if its write still completes (the
        # peer's close frame can arrive while our last frames go out), the writer takes it back.
        if self._in_flight and not self._in_flight_counted:
            self._unsent += self._in_flight
            self._in_flight_counted = True
        outgoing.close()
        self._room.set()

    def _close_error(self, closed: ConnectionClosed) -> ConnectionClosed:
        """Turn a close frame (and the ``error`` event right before it) into the specific error."""
        last = self._last_error
        return closed_by_peer(closed, None if last is None else last.error, self._scrub)

    # -- background tasks ----------------------------------------------------------------------

    def _decode(self, data: bytes | bytearray | memoryview) -> ReceivedEvent:
        try:
            event: ReceivedEvent = decode_server_event(data)
        except RemoteProtocolError as exc:
            event = self._invalid(exc, data)
        kind = _kind(event)
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

    def _note(self, event: ReceivedEvent) -> None:
        """What every received event does before delivery: history, correlation, error context."""
        if self._history is not None:
            self._history.apply(event)
        if event.type == "error":
            self._last_error = event
        elif self._last_error is not None:
            # Only an error right before a close explains the close.
            self._last_error = None
        if self._correlator:
            self._correlator.deliver(event)

    async def _reader(self) -> None:
        transport = self._transport
        receive_nowait = transport.receive_nowait
        counts = self._events_received
        inbox = self._inbox
        unread = self._unread
        debug = logger.isEnabledFor(logging.DEBUG)
        try:
            with self._reader_scope:
                while True:
                    # Drain what the last read brought in before awaiting the network again.
                    message = receive_nowait()
                    if message is None:
                        message = await transport.receive()
                    data, text = message
                    if text:
                        try:
                            event: ReceivedEvent = decode_server_event(data)
                        except RemoteProtocolError as exc:
                            event = self._invalid(exc, data)
                        kind = _kind(event)
                        counts[kind] = counts.get(kind, 0) + 1
                    else:
                        event = self._binary(data)
                    if debug:
                        logger.debug("< %s", _describe(event))
                    self._note(event)
                    if self._subscriptions:
                        await self._publish(event)
                    if self._discarding:
                        # Closing: nobody receives any more, and the socket must keep draining.
                        self._dropped += 1
                        continue
                    unread.append(event)
                    try:
                        inbox.send_nowait(event)
                    except anyio.WouldBlock:
                        self._reader_stalls += 1
                        self._reader_blocked = True
                        try:
                            await self._wait_for_room(event)
                        finally:
                            self._reader_blocked = False
                    self._arrived.set()
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

    async def _wait_for_room(self, event: ReceivedEvent) -> None:
        """Buffer ``event`` once receivers have taken the full buffer down to half (or the
        connection ended: then the stream's own error comes out)."""
        inbox = self._inbox
        while True:
            await self._inbox_room.wait()
            try:
                inbox.send_nowait(event)
            except anyio.WouldBlock:
                continue
            return

    async def _writer(self) -> None:
        outgoing = self._outgoing
        cancelled_class = anyio.get_cancelled_exc_class()
        gather = True
        try:
            while True:
                try:
                    data = outgoing.receive_nowait()
                except anyio.WouldBlock:
                    # Idle: wait for a sender to queue a frame. The lone (real-time) frame
                    # that ends the wait goes out at once, without waiting a pass for company;
                    # frames that pile up behind it mean a burst.
                    await self._queued.wait()
                    gather = False
                    continue
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    return
                batch = [data]
                size = len(data)
                self._in_flight = 1
                cancelled: BaseException | None = None
                empty_passes = 0
                while size < _BATCH_BYTES:
                    try:
                        data = outgoing.receive_nowait()
                    except anyio.WouldBlock:
                        if (
                            empty_passes >= _EMPTY_PASSES
                            or not gather
                            or len(batch) >= _BATCH_FRAMES
                            or self._closing
                        ):
                            break
                        # A burst: let the senders run once more, so that the frames they add
                        # go out together in one write.
                        self._room.set()
                        try:
                            await anyio.lowlevel.checkpoint()
                        except cancelled_class as exc:
                            cancelled = exc
                            break
                        empty_passes += 1
                        continue
                    except (anyio.EndOfStream, anyio.ClosedResourceError):
                        break
                    empty_passes = 0
                    batch.append(data)
                    size += len(data)
                    self._in_flight = len(batch)
                if cancelled is not None:
                    # Frames in hand are written (shielded, bounded) before the cancel goes on.
                    with anyio.move_on_after(self.close_timeout, shield=True):
                        await self._write_batch(batch)
                    raise cancelled
                await self._write_batch(batch)
                gather = True
        except ConnectionClosed as exc:
            await self._write_failed(exc)
        except Exception as exc:
            lost = ConnectionLost(1011, f"writer failed: {exc!r}")
            lost.__cause__ = exc
            logger.exception("the writer task failed")
            await self._write_failed(lost)
        finally:
            self._writer_done.set()

    async def _write_batch(self, batch: list[bytes]) -> None:
        self._room.set()
        transport = self._transport
        try:
            if len(batch) == 1:
                await transport.send_text(batch[0])
            else:
                await transport.send_texts(batch)
        except BaseException:
            if not self._in_flight_counted:
                self._unsent += self._in_flight
            self._in_flight = 0
            self._in_flight_counted = False
            raise
        if self._in_flight_counted:
            self._unsent -= self._in_flight
        self._in_flight = 0
        self._in_flight_counted = False
        self._frames_sent += len(batch)
        self._write_batches += 1

    async def _write_failed(self, exc: ConnectionClosed) -> None:
        """A write failed: count what cannot be written, and let the reader report the close."""
        self._abandon_outgoing()
        if self._transport.close_code is None or self._reader_done.is_set():
            # No close frame arrived, so the write itself broke: end the reader too.
            self._fail(exc)
            with anyio.move_on_after(ABORT_TIMEOUT, shield=True):
                await self._transport.abort()

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
                    with anyio.move_on_after(ABORT_TIMEOUT, shield=True):
                        await self._transport.abort()
                    return
        except Exception as exc:
            lost = ConnectionLost(1011, f"keepalive failed: {exc!r}")
            lost.__cause__ = exc
            logger.exception("the keepalive task failed")
            self._fail(lost)
            with anyio.move_on_after(ABORT_TIMEOUT, shield=True):
                await self._transport.abort()

    # -- lifecycle -------------------------------------------------------------------------------

    def _buffer(self, event: ReceivedEvent) -> None:
        """Queue an event read before the background tasks started."""
        self._unread.append(event)
        try:
            self._inbox.send_nowait(event)
        except anyio.WouldBlock:
            self._unread.pop()
            self._dropped += 1
        self._arrived.set()

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
                # A refusal (3000/4000, with or without an error event) is chained as the
                # cause by the same mapping as mid-session; here it is raised itself.
                closed = self._close_error(exc)
                if isinstance(closed.__cause__, APIStatusError):
                    raise closed.__cause__ from None
                raise closed from None
            if message is None:
                if self._last_error is not None:
                    return
                raise ConnectTimeout(
                    f"connected, but no session.created arrived within the connect timeout "
                    f"({self.url})"
                )
            event = self._decode(message.data) if message.text else self._binary(message.data)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("< %s", _describe(event))
            self._buffer(event)
            if not isinstance(event, Error):
                return
            self._last_error = event

    def _start(self, tg: anyio.abc.TaskGroup) -> None:
        tg.start_soon(self._reader, name="realtime-reader")
        tg.start_soon(self._writer, name="realtime-writer")
        if self.ping_interval is not None:
            tg.start_soon(self._keepalive, name="realtime-keepalive")

    async def aclose(self) -> None:
        """Close gracefully: flush accepted sends, close with 1000, wait for the server's reply.

        Bounded by ``close_timeout`` (plus a second at most to drop the socket when the peer
        does not cooperate); frames that arrive meanwhile are discarded. Silent when called
        again. ``open_realtime`` calls it when the block ends.

        Cancellation: shielded and bounded; the connection is closed when it returns, and a
        pending cancel is raised after that.
        """
        await self._close()
        await anyio.lowlevel.checkpoint()

    async def _close(self) -> None:
        if self._closing:
            return
        self._closing = True
        try:
            with anyio.move_on_after(self.close_timeout, shield=True):
                # Stop delivering events first and let the reader drain the socket while the
                # writer flushes: a peer whose writes block its reads (its send buffer full
                # because our full receive buffer stopped our reader) would otherwise never
                # read our flush or our close frame.
                self._discarding = True
                self._discard_buffered()
                # Flush what send() already accepted; the writer ends when the queue is empty.
                self._outbox.close()
                self._queued.set()
                self._room.set()
                await self._writer_done.wait()
                self._reader_scope.cancel()
                await self._reader_done.wait()
                self._keepalive_scope.cancel()
                await self._transport.aclose(1000, "")
        except Exception:  # pragma: no cover - closing must never hide the body's exception
            logger.exception("closing the connection failed")
        finally:
            with anyio.move_on_after(ABORT_TIMEOUT, shield=True):
                await self._transport.abort()
            if self._closed is None:
                self._closed = ConnectionClosed(1000, "closed by the client")
            self._fail(self._closed)
            self._release()

    async def _abort(self) -> None:
        """Drop the socket at once (bounded, shielded): the last step of every exit."""
        with anyio.move_on_after(ABORT_TIMEOUT, shield=True):
            await self._transport.abort()

    def _release(self) -> None:
        """Drop what is buffered and close every stream end (the block is over)."""
        self._discard_buffered()
        for stream in (self._inbox, self._events, self._outbox, self._outgoing):
            stream.close()
        self._arrived.set()
        self._queued.set()

    def _discard_buffered(self) -> None:
        events = self._events
        while True:
            try:
                events.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
            self._dropped += 1
        self._unread.clear()
        self._inbox_room.set()


def _new_item_id() -> str:
    return f"item_{os.urandom(10).hex()}"


_dict_encoder = msgspec.json.Encoder()


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
