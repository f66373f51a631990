"""Sessions that survive: reconnect with the conversation, and make-before-break rollover.

:func:`open_resilient` opens a :class:`ResilientConnection`. It owns one task group (opened by
its own ``async with``) holding the current :class:`~realtime_anyio.RealtimeConnection`, the
task that forwards its events, and a supervisor. When the connection drops with a retryable
cause, the supervisor reconnects with backoff, restores the session configuration and the
conversation on the new connection, and the user's stream goes on with a :class:`Restored`
event. Before the service's session cap (or on :meth:`ResilientConnection.rollover`) it opens
a second connection while the first keeps running, restores it, and switches at a turn
boundary. The user's stream, subscriptions and request correlation belong to the resilient
connection, so the audio pump, the player and the tool dispatcher run across the switch.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar, Literal, TypeAlias, TypeVar, overload

import anyio
import anyio.abc
import anyio.lowlevel
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream
from msgspec import UnsetType

from ._connection import (
    ConnectionStatistics,
    Expectation,
    RealtimeConnection,
    _kind,  # pyright: ignore[reportPrivateUsage]
    _matcher,  # pyright: ignore[reportPrivateUsage]
    _reply_matcher,  # pyright: ignore[reportPrivateUsage]
    _Subscription,  # pyright: ignore[reportPrivateUsage]
    _subscription,  # pyright: ignore[reportPrivateUsage]
)
from ._correlation import Correlator, Pending
from ._errors import (
    APIConnectionError,
    APIStatusError,
    ConnectionClosed,
    InternalServerError,
    RateLimitError,
    SendInterrupted,
    scrubber,
    server_error,
)
from ._open import (
    _merge_config,  # pyright: ignore[reportPrivateUsage]
    open_realtime,
    owned_lifetime,
)
from ._resources import TypedHelpers
from ._restore import (
    RestorePlan,
    RestoreReport,
    apply_restore,
    plan_restore,
    retrieve_last_user_audio,
)
from .conversation import Conversation
from .events import (
    BaseClientEvent,
    BaseServerEvent,
    ClientEvent,
    ConversationItemAdded,
    ConversationItemCreate,
    ConversationItemDone,
    ConversationItemRetrieve,
    ConversationItemRetrieved,
    Error,
    FunctionCallOutputItem,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    ReceivedEvent,
    ResponseCreate,
    ResponseCreated,
    ResponseCreateParams,
    ResponseDone,
    SessionCreated,
    SessionUpdated,
    to_client_event,
)

__all__ = [
    "GaveUp",
    "LocalEvent",
    "Reconnecting",
    "ReconnectPolicy",
    "ResilientConnection",
    "ResilientEvent",
    "ResilientStatistics",
    "Restored",
    "RolloverPolicy",
    "SessionExpiring",
    "open_resilient",
]

logger = logging.getLogger("realtime_anyio")

_E = TypeVar("_E", bound="BaseServerEvent | Reconnecting | Restored | GaveUp | SessionExpiring")

#: An item id no session holds: retrieving it is the rollover's ordering barrier.
_BARRIER_ITEM = "item_rollover_barrier"

#: Sends that belong to the current turn's audio: never replayed into another session.
_AUDIO_KINDS = frozenset(
    {"input_audio_buffer.append", "input_audio_buffer.commit", "input_audio_buffer.clear"}
)


# -- policies --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReconnectPolicy:
    """When and how a :class:`ResilientConnection` reconnects after a drop.

    A drop is retried when its close code is in ``retry_close_codes`` (the service's
    ``session_expired`` 1001, a lost connection 1006, server errors 1011/1012/1013) or the
    error is one of ``retry_errors`` (no answer, a connect timeout, HTTP 429 and 5xx at the
    handshake). Refusals (close 3000/4000, 401/403/404 and other 4xx) are never retried.
    Attempt *n* waits a random time in ``[0, min(max_delay, base_delay * 2**(n-1))]`` (full
    jitter, drawn from ``random``); there are at most ``max_attempts`` attempts and all of them
    end within ``deadline`` seconds of the drop. ``restore_timeout`` bounds one restore and
    ``include_audio`` replays user audio that the history kept.
    """

    max_attempts: int = 6
    deadline: float = 60.0
    base_delay: float = 0.25
    max_delay: float = 8.0
    retry_close_codes: frozenset[int] = frozenset({1001, 1006, 1011, 1012, 1013})
    retry_errors: tuple[type[BaseException], ...] = (
        APIConnectionError,
        RateLimitError,
        InternalServerError,
        TimeoutError,
    )
    restore_timeout: float = 30.0
    include_audio: bool = True
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def retryable(self, error: BaseException | None) -> bool:
        """Whether ``error`` (why a connection ended, or why opening one failed) is retried."""
        if error is None:
            return False
        if isinstance(error, ConnectionClosed):
            if isinstance(error.__cause__, APIStatusError) and not isinstance(
                error.__cause__, (RateLimitError, InternalServerError)
            ):
                return False
            return error.code in self.retry_close_codes
        if isinstance(error, APIStatusError):
            return isinstance(error, self.retry_errors)
        return isinstance(error, self.retry_errors)

    def delay(self, attempt: int) -> float:
        """The wait before attempt ``attempt`` (1-based): full jitter over the backoff."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, attempt - 1))
        return ceiling * self.random()


@dataclass(frozen=True)
class RolloverPolicy:
    """When a :class:`ResilientConnection` warns about and rolls over before ``expires_at``.

    ``warn_before`` seconds before the session's ``expires_at`` a :class:`SessionExpiring`
    event joins the stream (``None``: no warning). ``before_expiry`` seconds before it the
    session rolls over by itself (``None``: only when you call ``rollover()``), but never
    before half of the session's lifetime has passed (a margin longer than the session would
    otherwise roll over at once, again and again).
    ``boundary_timeout`` bounds the wait for a turn boundary (no response in progress, no user
    speech); after it the switch happens anyway.
    """

    before_expiry: float | None = 120.0
    warn_before: float | None = 300.0
    boundary_timeout: float = 60.0


# -- local events ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconnecting:
    """The connection dropped; attempt ``attempt`` starts after ``delay`` seconds."""

    type: ClassVar[Literal["client.reconnecting"]] = "client.reconnecting"
    attempt: int
    delay: float
    reason: str
    error: BaseException | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Restored:
    """A new connection carries the session on (after a drop, or a rollover when ``rollover``).

    ``replayed`` counts the restored items by kind and ``lost`` says what could not be carried
    over; ``gap_seconds`` is how long sends were held; ``sends_delivered`` counts the sends
    held meanwhile and delivered to the new session, ``sends_failed`` the audio sends refused
    meanwhile (:class:`~realtime_anyio.SendInterrupted`) and ``unsent`` the frames the old
    connection had accepted but never wrote. ``attempts`` counts the connection attempts of a
    reconnect; ``interrupted`` names the responses that were in progress on the lost
    connection: they never finish (no ``response.done`` comes for them, and the history keeps
    them as they were).
    """

    type: ClassVar[Literal["client.restored"]] = "client.restored"
    replayed: Mapping[str, int]
    lost: tuple[str, ...]
    gap_seconds: float
    rollover: bool
    sends_delivered: int
    sends_failed: int
    unsent: int = 0
    attempts: int = 0
    interrupted: tuple[str, ...] = ()


@dataclass(frozen=True)
class GaveUp:
    """No new connection could be made; the stream ends with ``error`` after this event."""

    type: ClassVar[Literal["client.gave_up"]] = "client.gave_up"
    reason: str
    error: BaseException | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class SessionExpiring:
    """The service ends this session at ``expires_at`` (Unix seconds), ``seconds_left`` from now."""

    type: ClassVar[Literal["client.session_expiring"]] = "client.session_expiring"
    expires_at: int
    seconds_left: float


LocalEvent: TypeAlias = Reconnecting | Restored | GaveUp | SessionExpiring
"""The events a resilient connection adds to the stream."""

ResilientEvent: TypeAlias = ReceivedEvent | LocalEvent
"""What :meth:`ResilientConnection.receive` returns."""


@dataclass(frozen=True)
class ResilientStatistics:
    """A snapshot of a resilient connection (see :meth:`ResilientConnection.statistics`).

    ``connection`` is the current connection's own snapshot (``None`` between connections).
    """

    connection: ConnectionStatistics | None
    connections: int
    reconnects: int
    rollovers: int
    sends_held: int
    sends_delivered: int
    sends_failed: int
    unsent: int
    receive_buffer_used: int
    receive_buffer_size: int


def _send_kind(event: ClientEvent | Mapping[str, Any]) -> str:
    if isinstance(event, BaseClientEvent):
        return event.type
    kind = event.get("type")
    return kind if isinstance(kind, str) else ""


#: What ``wait_for`` and ``expect`` match on: a wire type name, or an event class (local too).
_Waited: TypeAlias = (
    str
    | type[BaseServerEvent]
    | type[Reconnecting]
    | type[Restored]
    | type[GaveUp]
    | type[SessionExpiring]
)


class _Slot:
    """One underlying connection and what the resilient connection knows about it."""

    def __init__(self, number: int, *, restoring: bool) -> None:
        self.number = number
        self.conn: RealtimeConnection | None = None
        self.ready = anyio.Event()
        self.done = anyio.Event()
        self.scope = anyio.CancelScope()
        self.error: BaseException | None = None  # opening failed
        self.ended: BaseException | None = None  # why it ended once open
        self.unsent = 0
        self.retiring = False
        self.drained = anyio.Event()
        self.barrier: str | None = None
        # The sends given to this connection, in acceptance order (see ``unwritten``).
        self.lock = anyio.Lock()
        self.log: deque[ClientEvent | Mapping[str, Any] | None] = deque()
        self.logged_from = 0
        self.barrier_seen = anyio.Event()
        # Restore echoes: what the server answers to the restore is not the user's business.
        self.restoring = restoring
        self.echo_ids: set[str] = set()
        # Items whose conversation.item.retrieved answers a rollover's own retrieve.
        self.retrieving: set[str] = set()
        self.held: deque[ReceivedEvent] = deque()
        # Turn boundary tracking.
        self.speaking = False
        self.responses: set[str] = set()
        self.changed = anyio.Event()
        self.expires_at: int | None = None
        self.seen_at = 0.0
        self.warned = False
        self.rollover_due = False

    def poke(self) -> None:
        changed, self.changed = self.changed, anyio.Event()
        changed.set()

    def start_log(self) -> None:
        """User sends start here: everything accepted before (the restore) comes first."""
        assert self.conn is not None
        self.logged_from = sum(self.conn.statistics().events_sent.values())
        self.log.clear()

    def record(self, event: ClientEvent | Mapping[str, Any] | None, bound: int) -> None:
        self.log.append(event)
        if len(self.log) > 4 * bound + 128 and self.conn is not None:
            # The writer writes in acceptance order: what it wrote can be forgotten.
            written = self.conn.statistics().frames_sent
            while self.log and self.logged_from < written:
                self.log.popleft()
                self.logged_from += 1

    def unwritten(self) -> list[ClientEvent | Mapping[str, Any] | None]:
        """The logged sends the connection accepted but never wrote (it is closed)."""
        if self.conn is None:
            return []
        written = self.conn.statistics().frames_sent
        skip = max(0, written - self.logged_from)
        return list(self.log)[skip:]

    @property
    def at_boundary(self) -> bool:
        return not self.speaking and not self.responses


class _RolloverRequest:
    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: Restored | None = None
        self.error: BaseException | None = None


class _GiveUp(Exception):
    def __init__(self, reason: str, error: BaseException | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


class ResilientConnection(TypedHelpers):
    """A Realtime session that outlives its connections; get it from :func:`open_resilient`.

    It offers the surface of :class:`~realtime_anyio.RealtimeConnection` (``send``,
    ``request``, ``receive``, ``async for``, ``wait_for``, ``expect``, ``subscribe``, the typed
    resources, ``history``, ``statistics``, ``aclose``) and adds :meth:`rollover`. Its stream
    carries the server events of whichever connection is current, plus the local events
    :class:`Reconnecting`, :class:`Restored`, :class:`GaveUp` and :class:`SessionExpiring`.
    """

    def __init__(
        self,
        options: Mapping[str, Any],
        *,
        policy: ReconnectPolicy,
        rollover: RolloverPolicy,
        history: Conversation,
        receive_buffer: int,
        send_buffer: int,
    ) -> None:
        if receive_buffer < 1 or send_buffer < 1:
            raise ValueError("receive_buffer and send_buffer must be at least 1")
        self.policy = policy
        self.rollover_policy = rollover
        self._options = dict(options)
        self._history = history
        self._tg: anyio.abc.TaskGroup | None = None
        self._inbox, self._events = anyio.create_memory_object_stream[ResilientEvent](
            receive_buffer
        )
        self._receive_buffer = receive_buffer
        self._unread: deque[ResilientEvent] = deque()
        self._subscriptions: list[_Subscription] = []
        scrub = scrubber(_secrets(self._options))
        self._correlator = Correlator(lambda event: server_error(event.error, scrub))
        self._in_flight: dict[Pending, ClientEvent] = {}  # open requests, oldest first
        self._id_prefix = f"res_{os.urandom(4).hex()}_"
        self._id_counter = 0
        # Routing: where audio goes (None: refused), whether other sends wait in the queue.
        self._current: _Slot | None = None
        self._audio_slot: _Slot | None = None
        self._holding = False
        self._held: deque[ClientEvent | Mapping[str, Any]] = deque()
        self._send_buffer = send_buffer
        self._changed = anyio.Event()
        self._rollovers: deque[_RolloverRequest] = deque()
        # During a rollover: call ids whose outputs go to the next connection only.
        self._owed: frozenset[str] = frozenset()
        # After a restore from a history of text: ask the next response.create for audio.
        self._anchor_audio = False
        self._scrub = scrub
        self._closing = False
        self._final: BaseException | None = None
        self._slots = 0
        # Counters.
        self._reconnects = 0
        self._rollover_count = 0
        self._delivered = 0
        self._failed = 0
        self._unsent = 0
        self._failed_since = 0
        self._delivered_since = 0

    def __repr__(self) -> str:
        current = self._current
        conn = None if current is None else current.conn
        state = "closed" if self._closing else "open"
        return f"<ResilientConnection {state} via {conn!r}>"

    @property
    def history(self) -> Conversation:
        """The conversation across every connection: what a restore replays.

        Events are folded in as they are forwarded to the stream; the server's answers to a
        restore are not (the history already holds what they acknowledge).
        """
        return self._history

    @property
    def connection(self) -> RealtimeConnection | None:
        """The current underlying connection (``None`` while reconnecting)."""
        current = self._current
        return None if current is None or self._audio_slot is None else current.conn

    @property
    def closed(self) -> bool:
        """True once the session ended (closed, or the reconnects gave up)."""
        return self._closing or self._final is not None

    # -- receiving ---------------------------------------------------------------------------

    async def receive(self) -> ResilientEvent:
        """Return the next event: a server event of the current connection, or a local one.

        Raises the error that ended the session once every event before it was returned:
        :class:`~realtime_anyio.ConnectionClosed` (code 1000) after :meth:`aclose`, or the last
        error after :class:`GaveUp`.

        Cancellation: safe; no event is lost.
        """
        try:
            event = await self._events.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            pass
        else:
            self._mark_read(event)
            return event
        raise self._final_error()

    def receive_nowait(self) -> ResilientEvent:
        """The next buffered event without waiting; ``anyio.WouldBlock`` when there is none."""
        try:
            event = self._events.receive_nowait()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            pass
        else:
            self._mark_read(event)
            return event
        raise self._final_error()

    recv = receive

    def _mark_read(self, event: ResilientEvent) -> None:
        unread = self._unread
        if unread and unread[0] is event:
            unread.popleft()

    def __aiter__(self) -> ResilientConnection:
        return self

    async def __anext__(self) -> ResilientEvent:
        """The next event; iteration ends quietly after :meth:`aclose`."""
        try:
            return await self.receive()
        except ConnectionClosed as exc:
            if exc.code == 1000 and type(exc) is ConnectionClosed and self._final is None:
                raise StopAsyncIteration from None
            raise

    def _final_error(self) -> BaseException:
        final = self._final
        if final is None:
            return ConnectionClosed(1000, "closed by the client")
        if isinstance(final, ConnectionClosed):
            copy = type(final)(final.code, final.reason, unsent=final.unsent)
            copy.__cause__ = final.__cause__
            return copy
        return final

    @overload
    async def wait_for(
        self, event_type: type[_E], /, *, predicate: Callable[[_E], bool] | None = None
    ) -> _E: ...

    @overload
    async def wait_for(
        self,
        *types: _Waited,
        predicate: Callable[[ResilientEvent], bool] | None = None,
    ) -> ResilientEvent: ...

    async def wait_for(
        self,
        *types: _Waited,
        predicate: Callable[[Any], bool] | None = None,
    ) -> Any:
        """The first event of ``types`` (and ``predicate``) not yet received, on any connection.

        As :meth:`RealtimeConnection.wait_for`: buffered events first, nothing is consumed.
        Local events match by their type (``"client.restored"``).

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
    def expect(  # pyright: ignore[reportOverlappingOverload]
        self, event_type: type[_E], /, *, predicate: Callable[[_E], bool] | None = None
    ) -> Expectation[_E]: ...

    @overload
    def expect(
        self,
        *types: _Waited,
        predicate: Callable[[ResilientEvent], bool] | None = None,
    ) -> Expectation[ResilientEvent]: ...

    def expect(
        self,
        *types: _Waited,
        predicate: Callable[[Any], bool] | None = None,
    ) -> Expectation[Any]:
        """Register a wait before sending what it answers (as :meth:`RealtimeConnection.expect`)."""
        self._check_open()
        return Expectation(self._correlator, _matcher(types, predicate))

    async def _wait(self, pending: Pending, done: anyio.Event) -> Any:
        try:
            await done.wait()
        finally:
            self._correlator.discard(pending)
            self._in_flight.pop(pending, None)
        if pending.error is not None:
            raise pending.error
        return pending.result

    @asynccontextmanager
    async def subscribe(
        self, *types: str | type[BaseServerEvent], max_buffer: int = 256
    ) -> AsyncGenerator[MemoryObjectReceiveStream[ReceivedEvent], None]:
        """A second view of the server events, across connections (see ``RealtimeConnection``).

        The subscription lasts until the block ends or the session ends; a reconnect or a
        rollover does not end it.

        Cancellation: safe; leaving the block unsubscribes.
        """
        async with _subscription(
            self._subscriptions, types, max_buffer, lambda: self.closed
        ) as receive:
            yield receive

    async def _deliver(self, event: ResilientEvent) -> None:
        """Hand one event to the user: history, waits, subscriptions, then the stream."""
        if not isinstance(event, (Reconnecting, Restored, GaveUp, SessionExpiring)):
            self._history.apply(event)
            for subscription in list(self._subscriptions):
                names = subscription.names
                if names and _kind(event) not in names:
                    continue
                with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await subscription.send.send(event)
        if self._correlator:
            self._correlator.deliver(event)
        self._unread.append(event)
        try:
            await self._inbox.send(event)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            self._unread.clear()

    # -- sending ---------------------------------------------------------------------------

    def next_event_id(self) -> str:
        """A fresh ``event_id``, unique across the session's connections."""
        self._id_counter += 1
        return f"{self._id_prefix}{self._id_counter}"

    def _check_open(self) -> None:
        if self.closed:
            raise self._final_error()

    def _poke(self) -> None:
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    async def send(self, event: ClientEvent | Mapping[str, Any]) -> None:
        """Send one client event to the current session.

        While a dropped connection is replaced, configuration, item and response events wait
        in a bounded queue (``send_buffer`` events; a full queue makes this wait) and are
        delivered after the restore, and ``input_audio_buffer.*`` events raise
        :class:`~realtime_anyio.SendInterrupted`. During a rollover everything goes to the old
        connection until the switch, except outputs of calls the new session is owed and, for
        the round trip right before the switch, configuration and item events: those wait for
        the new connection. Raises like :meth:`RealtimeConnection.send` otherwise, and the
        final error once the session ended.

        Cancellation: always a checkpoint; a cancel before the event is accepted sends nothing.
        """
        await anyio.lowlevel.checkpoint()
        kind = _send_kind(event)
        if kind == "response.create" and self._anchor_audio:
            event = self._anchored(event)
        await self._route(event, kind)

    def _anchored(self, event: ClientEvent | Mapping[str, Any]) -> ClientEvent | Mapping[str, Any]:
        """The first ``response.create`` after a restore asks for audio, unless it says.

        A replayed history holds the assistant's words as text; without this the model tends to
        answer the next turn in text although the session's output is audio.
        """
        self._anchor_audio = False
        typed = to_client_event(event)
        if not isinstance(typed, ResponseCreate):  # pragma: no cover - the kind said it was
            return event
        params = typed.response
        if isinstance(params, UnsetType):
            params = ResponseCreateParams()
        if not isinstance(params.output_modalities, UnsetType):
            return event
        params = msgspec.structs.replace(params, output_modalities=["audio"])
        return msgspec.structs.replace(typed, response=params)

    async def send_raw(self, data: bytes | str) -> None:
        """Send one text frame exactly as given (held like an item event during a gap).

        Cancellation: as for :meth:`send`.
        """
        await anyio.lowlevel.checkpoint()
        while True:
            self._check_open()
            current = self._current
            if self._holding or current is None or current.conn is None:
                await self._wait_change()
                continue
            try:
                await current.conn.send_raw(data)
            except ConnectionClosed:
                if current is self._current and not self._holding and not self.closed:
                    await self._wait_change()
                continue
            return

    async def _wait_change(self) -> None:
        await self._changed.wait()

    async def _route(self, event: ClientEvent | Mapping[str, Any], kind: str) -> None:
        while True:
            self._check_open()
            if kind in _AUDIO_KINDS:
                slot = self._audio_slot
                if slot is None or slot.conn is None:
                    self._failed += 1
                    raise SendInterrupted(
                        f"{kind} refused: the connection dropped and this turn's audio cannot "
                        f"reach the next session"
                    )
                try:
                    await self._send_on(slot, event)
                except ConnectionClosed as exc:
                    if slot is not self._audio_slot:
                        continue  # switched meanwhile: the next connection takes it
                    self._failed += 1
                    raise SendInterrupted(f"{kind} refused: the connection dropped") from exc
                return
            if self._holding or self._owed_output(event, kind):
                await self._hold(event)
                return
            current = self._current
            if current is None or current.conn is None:
                await self._wait_change()
                continue
            try:
                await self._send_on(current, event)
            except ConnectionClosed:
                if current is self._current and not self._holding and not self.closed:
                    # The forwarder has not noticed the drop yet: wait for the supervisor.
                    await self._wait_change()
                continue
            return

    def _owed_output(self, event: ClientEvent | Mapping[str, Any], kind: str) -> bool:
        """Whether ``event`` answers a call the next session is owed (a rollover is under way)."""
        if not self._owed or kind != "conversation.item.create":
            return False
        item = to_client_event(event)
        return (
            isinstance(item, ConversationItemCreate)
            and isinstance(item.item, FunctionCallOutputItem)
            and item.item.call_id in self._owed
        )

    async def _send_on(
        self, slot: _Slot, event: ClientEvent | Mapping[str, Any], *, log: bool = True
    ) -> None:
        """Send on ``slot`` and log the event in the order the connection accepted it."""
        conn = slot.conn
        assert conn is not None
        if not slot.lock.locked():
            try:
                conn.send_nowait(event)
            except anyio.WouldBlock:
                pass
            else:
                slot.record(event if log else None, self._send_buffer)
                return
        # A full send queue: one waiter at a time, so the log keeps the acceptance order.
        async with slot.lock:
            await conn.send(event)
            slot.record(event if log else None, self._send_buffer)

    def _send_on_nowait(self, slot: _Slot, event: ClientEvent | Mapping[str, Any]) -> None:
        conn = slot.conn
        assert conn is not None
        if slot.lock.locked():
            raise anyio.WouldBlock
        conn.send_nowait(event)
        slot.record(event, self._send_buffer)

    async def _hold(self, event: ClientEvent | Mapping[str, Any]) -> None:
        to_client_event(event)  # an invalid event is refused now, not after the restore
        while len(self._held) >= self._send_buffer:
            await self._wait_change()
            self._check_open()
            if not self._holding:
                await self._route(event, _send_kind(event))
                return
        self._held.append(event)

    def send_nowait(self, event: ClientEvent | Mapping[str, Any]) -> None:
        """Queue one client event without waiting (``anyio.WouldBlock`` when no room)."""
        self._check_open()
        kind = _send_kind(event)
        if kind == "response.create" and self._anchor_audio:
            event = self._anchored(event)
        if kind in _AUDIO_KINDS:
            slot = self._audio_slot
            try:
                if slot is None or slot.conn is None:
                    raise ConnectionClosed(1006, "no connection")
                self._send_on_nowait(slot, event)
            except ConnectionClosed as exc:
                self._failed += 1
                raise SendInterrupted(f"{kind} refused: the connection dropped") from exc
            return
        current = self._current
        if (
            not self._holding
            and not self._owed_output(event, kind)
            and current is not None
            and current.conn is not None
        ):
            try:
                self._send_on_nowait(current, event)
            except ConnectionClosed:
                pass  # dropped, and the supervisor has not noticed yet: hold it
            else:
                return
        to_client_event(event)
        if len(self._held) >= self._send_buffer:
            raise anyio.WouldBlock
        self._held.append(event)

    async def request(self, event: ClientEvent | Mapping[str, Any]) -> ReceivedEvent:
        """Send ``event`` and wait for the server's reply (as :meth:`RealtimeConnection.request`).

        Held like :meth:`send` during a gap; the reply may come from the next connection.
        If the connection that took the event drops before the reply, the event is sent again
        after the restore (the new session was rebuilt from the history, which cannot hold
        what was never acknowledged); an audio buffer request raises
        :class:`~realtime_anyio.SendInterrupted` instead.

        Cancellation: safe; the event may already have been sent.
        """
        outgoing, typed = self._prepare(event)
        match = _reply_matcher(typed)
        event_id = typed.event_id if isinstance(typed.event_id, str) else None
        self._check_open()
        done = anyio.Event()
        pending = self._correlator.register(Pending(match, event_id, done.set))
        self._in_flight[pending] = outgoing
        try:
            await self.send(outgoing)
        except BaseException:
            self._correlator.discard(pending)
            self._in_flight.pop(pending, None)
            raise
        result: ReceivedEvent = await self._wait(pending, done)
        return result

    def _prepare(self, event: ClientEvent | Mapping[str, Any]) -> tuple[ClientEvent, ClientEvent]:
        typed = to_client_event(event)
        if not isinstance(typed.event_id, str):
            typed = msgspec.structs.replace(typed, event_id=self.next_event_id())
        if isinstance(typed, ConversationItemCreate) and typed.item.id is msgspec.UNSET:
            item = msgspec.structs.replace(typed.item, id=f"item_{os.urandom(10).hex()}")
            typed = msgspec.structs.replace(typed, item=item)
        return typed, typed

    # -- statistics ------------------------------------------------------------------------

    def statistics(self) -> ResilientStatistics:
        """A snapshot of the counters; cheap."""
        current = self._current
        conn = None if current is None else current.conn
        return ResilientStatistics(
            connection=None if conn is None else conn.statistics(),
            connections=self._slots,
            reconnects=self._reconnects,
            rollovers=self._rollover_count,
            sends_held=len(self._held),
            sends_delivered=self._delivered,
            sends_failed=self._failed,
            unsent=self._unsent,
            receive_buffer_used=self._events.statistics().current_buffer_used,
            receive_buffer_size=self._receive_buffer,
        )

    # -- rollover --------------------------------------------------------------------------

    async def rollover(self) -> Restored:
        """Move the session to a new connection now (make before break) and return the event.

        A second connection is opened and restored while this one keeps running; the switch
        waits for a turn boundary (no response in progress, no user speech) up to
        ``RolloverPolicy.boundary_timeout``. Raises what opening or restoring the new connection
        raised; the current connection then simply stays.

        Cancellation: safe; the rollover itself goes on (the supervisor owns it).
        """
        await anyio.lowlevel.checkpoint()
        self._check_open()
        request = _RolloverRequest()
        self._rollovers.append(request)
        self._poke()
        await request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    # -- the connections -------------------------------------------------------------------

    async def _run_slot(self, slot: _Slot) -> None:
        try:
            with slot.scope:
                async with open_realtime(**self._options) as conn:
                    slot.conn = conn
                    slot.ready.set()
                    await self._forward(slot, conn)
                    slot.unsent = conn.statistics().unsent
        except Exception as exc:
            if slot.conn is None:
                slot.error = exc
            elif slot.ended is None:
                slot.ended = exc
            if isinstance(exc, ConnectionClosed):
                slot.unsent = max(slot.unsent, exc.unsent)
        finally:
            if slot.conn is None and slot.error is None:
                slot.error = ConnectionClosed(1000, "cancelled while connecting")
            slot.ready.set()
            slot.done.set()
            slot.barrier_seen.set()
            slot.poke()
            self._poke()

    async def _forward(self, slot: _Slot, conn: RealtimeConnection) -> None:
        while True:
            try:
                event = await conn.receive()
            except ConnectionClosed as exc:
                slot.ended = exc
                slot.unsent = exc.unsent
                return
            self._observe(slot, event)
            if self._echo(slot, event):
                continue
            if slot.restoring:
                slot.held.append(event)
                continue
            await self._deliver(event)
            if slot.retiring and not conn.statistics().receive_buffer_used:
                slot.drained.set()

    def _observe(self, slot: _Slot, event: ReceivedEvent) -> None:
        if isinstance(event, (SessionCreated, SessionUpdated)):
            expires = getattr(event.session, "expires_at", None)
            if isinstance(expires, int) and expires != slot.expires_at:
                slot.expires_at = expires
                slot.seen_at = time.time()
                slot.warned = False
                slot.rollover_due = False
                self._poke()
            return
        if isinstance(event, InputAudioBufferSpeechStarted):
            slot.speaking = True
        elif isinstance(event, InputAudioBufferSpeechStopped):
            slot.speaking = False
        elif isinstance(event, ResponseCreated) and isinstance(event.response.id, str):
            slot.responses.add(event.response.id)
        elif isinstance(event, ResponseDone) and isinstance(event.response.id, str):
            slot.responses.discard(event.response.id)
        else:
            return
        slot.poke()

    def _echo(self, slot: _Slot, event: ReceivedEvent) -> bool:
        """Whether ``event`` answers the restore or a barrier (then the user never sees it)."""
        if (
            isinstance(event, Error)
            and slot.barrier is not None
            and event.error.event_id == slot.barrier
        ):
            slot.barrier_seen.set()
            return True
        if isinstance(event, ConversationItemRetrieved) and event.item.id in slot.retrieving:
            # retrieve_last_user_audio folds it into the history itself.
            slot.retrieving.discard(event.item.id)
            return True
        if isinstance(event, (ConversationItemAdded, ConversationItemDone)):
            item_id = event.item.id
            if isinstance(item_id, str) and item_id in slot.echo_ids:
                if isinstance(event, ConversationItemDone):
                    slot.echo_ids.discard(item_id)
                return True
            return False
        if not slot.restoring:
            return False
        if isinstance(event, SessionUpdated):
            self._history.apply(event)
            return True
        return isinstance(event, (SessionCreated, Error))

    def _spawn_slot(self) -> _Slot:
        assert self._tg is not None
        self._slots += 1
        slot = _Slot(self._slots, restoring=self._slots > 1)
        self._tg.start_soon(self._run_slot, slot, name=f"realtime-resilient-{slot.number}")
        return slot

    async def _replay(self, conn: RealtimeConnection, plan: RestorePlan) -> RestoreReport:
        """Apply ``plan`` to one of this session's connections: its replies are left in the
        connection's stream (the session's own stream takes them), with this session's
        scrubbing, within the policy's restore timeout."""
        return await apply_restore(
            conn, plan, timeout=self.policy.restore_timeout, consume=False, scrub=self._scrub
        )

    async def _slot_ready(self, slot: _Slot) -> None:
        try:
            await slot.ready.wait()
        except BaseException:
            slot.scope.cancel()
            raise
        if slot.error is not None:
            raise slot.error

    async def _open_slot(self) -> _Slot:
        slot = self._spawn_slot()
        await self._slot_ready(slot)
        return slot

    async def _barrier(self, old: _Slot) -> None:
        """Wait until the old session answered everything sent to it before the hold began.

        The server handles client events in order, so the answer to a harmless request sent
        now (retrieving an item that does not exist) comes after the answers to all earlier
        ones; the forwarder marks it seen once it folded everything before it.
        """
        conn = old.conn
        if conn is None:
            return
        marker = conn.next_event_id()
        old.barrier = marker
        old.barrier_seen = anyio.Event()
        if old.done.is_set():
            return
        try:
            await self._send_on(
                old, ConversationItemRetrieve(event_id=marker, item_id=_BARRIER_ITEM), log=False
            )
        except ConnectionClosed:
            return
        with anyio.move_on_after(self.policy.restore_timeout):
            await old.barrier_seen.wait()

    async def _start(self, tg: anyio.abc.TaskGroup) -> None:
        self._tg = tg
        slot = await self._open_slot()
        slot.start_log()
        self._set_live(slot)
        tg.start_soon(self._supervise, name="realtime-resilient-supervisor")
        tg.start_soon(self._timers, name="realtime-resilient-timers")

    def _set_live(self, slot: _Slot) -> None:
        self._current = slot
        self._audio_slot = slot
        self._holding = False
        self._poke()

    async def _switch(self, slot: _Slot) -> None:
        """Make ``slot`` current: audio goes there at once, held sends follow in order."""
        assert slot.conn is not None
        slot.start_log()
        self._current = slot
        self._audio_slot = slot
        self._holding = True
        self._poke()
        while slot.held:
            await self._deliver(slot.held.popleft())
        slot.restoring = False
        while self._held:
            event = self._held[0]
            try:
                await self._send_on(slot, event)
            except ConnectionClosed:
                break  # the new one dropped too: the supervisor reconnects, the rest waits
            self._held.popleft()
            self._delivered += 1
            self._delivered_since += 1
            self._poke()
        self._set_live(slot)

    async def _flush_held(self, slot: _Slot) -> None:
        while self._held and slot.conn is not None and not slot.done.is_set():
            try:
                await self._send_on(slot, self._held[0])
            except ConnectionClosed:
                return
            self._held.popleft()
            self._poke()

    async def _retire(self, slot: _Slot) -> None:
        slot.retiring = True
        conn = slot.conn
        if conn is not None:
            # Let the forwarder hand over what the old connection already received (closing
            # discards what is still buffered).
            if conn.statistics().receive_buffer_used:
                with anyio.move_on_after(1.0):
                    await slot.drained.wait()
            await conn.aclose()
        with anyio.move_on_after(conn.close_timeout + 2.0 if conn is not None else 1.0):
            await slot.done.wait()
        slot.scope.cancel()

    # -- supervision -----------------------------------------------------------------------

    async def _supervise(self) -> None:
        try:
            while True:
                slot = self._current
                assert slot is not None
                changed = self._changed
                if self._closing:
                    return  # the session is ending on purpose: nothing to reconnect
                if slot.done.is_set() and not slot.retiring:
                    await self._reconnect(slot)
                elif self._rollovers:
                    await self._serve_rollover(self._rollovers.popleft())
                else:
                    await changed.wait()
        except _GiveUp as gave_up:
            await self._give_up(gave_up)

    async def _give_up(self, gave_up: _GiveUp) -> None:
        if self._closing:
            return
        error = gave_up.error or ConnectionClosed(1006, gave_up.reason)
        logger.warning("resilient session gave up: %s", gave_up.reason)
        with anyio.move_on_after(5.0):
            await self._deliver(GaveUp(gave_up.reason, error))
        self._final = error
        self._end()

    def _end(self) -> None:
        self._audio_slot = None
        self._holding = False
        self._inbox.close()
        for subscription in self._subscriptions:
            subscription.send.close()
        self._correlator.fail_all(self._final_error)
        for request in self._rollovers:
            request.error = self._final_error()
            request.done.set()
        self._rollovers.clear()
        self._poke()

    def _requeue(self, dead: _Slot) -> int:
        """Carry over what the dropped connection took but the new session will not have.

        Sends it accepted but never wrote, and requests it took but never answered, are held
        for the next connection (the new session is rebuilt from the history, which cannot hold
        what was never acknowledged). Audio among them is failed back instead; returns how much.
        """
        held = {id(event) for event in self._held}
        unwritten = [event for event in dead.unwritten() if event is not None]
        seen = {id(event) for event in unwritten}
        # Written but unanswered requests were accepted before anything still unwritten.
        again: list[ClientEvent | Mapping[str, Any]] = []
        failed = 0
        for pending, event in list(self._in_flight.items()):
            if id(event) in held:
                continue
            if event.type in _AUDIO_KINDS:
                del self._in_flight[pending]
                self._correlator.discard(pending)
                pending.finish(
                    error=SendInterrupted("the connection dropped before the server answered")
                )
                failed += id(event) not in seen
            elif id(event) not in seen:
                again.append(event)
        for event in unwritten:
            if _send_kind(event) in _AUDIO_KINDS:
                failed += 1
            elif id(event) not in held:
                again.append(event)
        self._held.extendleft(reversed(again))
        self._failed += failed
        return failed

    async def _reconnect(self, dead: _Slot) -> None:
        cause = dead.ended or dead.error
        self._unsent += dead.unsent
        if not self.policy.retryable(cause):
            raise _GiveUp(f"not retryable: {cause!r}", cause)
        self._audio_slot = None
        self._holding = True
        self._poke()
        failed_before = self._failed
        self._requeue(dead)
        policy = self.policy
        started = anyio.current_time()
        deadline = started + policy.deadline
        self._delivered_since = 0
        last: BaseException | None = cause
        attempt = 0
        while True:
            attempt += 1
            if attempt > policy.max_attempts:
                raise _GiveUp(f"no connection after {policy.max_attempts} attempts", last)
            delay = policy.delay(attempt)
            if anyio.current_time() + delay >= deadline:
                raise _GiveUp(f"no connection within {policy.deadline} s", last)
            await self._deliver(Reconnecting(attempt, delay, str(last), last))
            await anyio.sleep(delay)
            slot: _Slot | None = None
            report: RestoreReport | None = None
            plan = plan_restore(self._history, include_audio=policy.include_audio)
            try:
                with anyio.move_on_after(max(deadline - anyio.current_time(), 0.0)) as scope:
                    slot = await self._open_slot()
                    assert slot.conn is not None
                    slot.echo_ids.update(_item_ids(plan))
                    report = await self._replay(slot.conn, plan)
            except Exception as exc:
                if slot is not None:
                    slot.scope.cancel()
                last = exc
                if not policy.retryable(exc):
                    raise _GiveUp(f"not retryable: {exc!r}", exc) from None
                logger.info("reconnect attempt %d failed: %r", attempt, exc)
                continue
            if scope.cancelled_caught:
                if slot is not None:
                    slot.scope.cancel()
                # The last real error says more than the deadline that cut this attempt short.
                raise _GiveUp(f"no connection within {policy.deadline} s", last)
            assert slot is not None and report is not None
            await self._switch(slot)
            self._reconnects += 1
            self._anchor_audio = plan.anchor_audio_output
            await self._deliver(
                Restored(
                    replayed=plan.replayed,
                    lost=plan.lost + _refusals(report),
                    gap_seconds=anyio.current_time() - started,
                    rollover=False,
                    sends_delivered=self._delivered_since,
                    sends_failed=self._failed - failed_before,
                    unsent=dead.unsent,
                    attempts=attempt,
                    interrupted=tuple(sorted(dead.responses)),
                )
            )
            return

    async def _serve_rollover(self, request: _RolloverRequest) -> None:
        try:
            request.result = await self._rollover()
        except _GiveUp:
            raise
        except Exception as exc:
            logger.warning("rollover failed; the current connection stays: %r", exc, exc_info=True)
            request.error = exc
        finally:
            request.done.set()

    async def _rollover(self) -> Restored:
        old = self._current
        assert old is not None
        self._delivered_since = 0
        failed_before = self._failed
        held_since = anyio.current_time()
        slot: _Slot | None = None
        try:
            # The old connection keeps serving (sends included) while the new one opens and
            # is restored from the history as it stands.
            slot = self._spawn_slot()
            await self._anchor_user_audio(old)
            await self._slot_ready(slot)
            assert slot.conn is not None
            plan = plan_restore(self._history, include_audio=self.policy.include_audio)
            # The new session gets these calls without outputs: their outputs wait for it.
            self._owed = frozenset(plan.owed_call_ids)
            restored = _item_ids(plan)
            slot.echo_ids.update(restored)
            report = await self._replay(slot.conn, plan)
            lost = plan.lost + _refusals(report)
            replayed = dict(plan.replayed)
            session = self._history.session
            deadline = anyio.current_time() + self.rollover_policy.boundary_timeout
            while True:
                await self._wait_boundary(old, deadline)
                if not self._holding:
                    # Items and configuration wait from here; audio still goes to the old
                    # connection. The barrier makes sure the old session answered everything
                    # it took, so the catch-up below sees it in the history.
                    self._holding = True
                    self._poke()
                    held_since = anyio.current_time()
                    await self._barrier(old)
                late = anyio.current_time() >= deadline
                if not old.at_boundary and not old.done.is_set() and not late:
                    self._holding = False  # a turn started meanwhile: wait for its end
                    self._poke()
                    continue
                extra = _catch_up(self._history, restored, self.policy.include_audio)
                if extra.session is not None and self._history.session is session:
                    extra = replace(extra, session=None)
                if not extra.items and extra.session is None:
                    break
                session = self._history.session
                new_ids = _item_ids(extra)
                slot.echo_ids.update(new_ids)
                restored.update(new_ids)
                for kind, count in extra.replayed.items():
                    replayed[kind] = replayed.get(kind, 0) + count
                report = await self._replay(slot.conn, extra)
                lost += _refusals(report)
        except BaseException:
            self._owed = frozenset()
            if slot is not None:
                slot.scope.cancel()
            if not self.closed and old is self._current:
                self._holding = False
                self._poke()
                # What waited for the new connection goes to the old one after all.
                with (
                    anyio.CancelScope(shield=True),
                    anyio.move_on_after(self.policy.restore_timeout),
                ):
                    await self._flush_held(old)
            raise
        self._owed = frozenset()
        died = old.done.is_set()
        if died:
            # The old connection died during the rollover: what it never answered goes on.
            self._unsent += old.unsent
            self._requeue(old)
        # No await between the last boundary check and the switch of the audio route.
        await self._switch(slot)
        self._rollover_count += 1
        assert self._tg is not None
        self._tg.start_soon(self._retire, old, name="realtime-resilient-retire")
        self._anchor_audio = plan.anchor_audio_output
        event = Restored(
            replayed=MappingProxyType(replayed),
            lost=lost,
            gap_seconds=anyio.current_time() - held_since,
            rollover=True,
            sends_delivered=self._delivered_since,
            sends_failed=self._failed - failed_before,
            unsent=old.unsent if died else 0,
            interrupted=tuple(sorted(old.responses)) if died else (),
        )
        await self._deliver(event)
        return event

    async def _anchor_user_audio(self, old: _Slot) -> None:
        """Fetch the last user turn's own audio from the old session while it is still there.

        The server's item events never carry the user's audio; only ``conversation.item.
        retrieved`` does. With a history that keeps audio, the new session then gets that turn
        as audio (the plan's anchor), not as its transcript. A failure only loses the anchor.
        """
        history = self._history
        conn = old.conn
        if not (self.policy.include_audio and history.keeps_audio) or conn is None:
            return
        last = next(
            (i for i in reversed(history.items) if i.role == "user" and i.status != "in_progress"),
            None,
        )
        if last is None or not any(p.type == "input_audio" for p in last.parts):
            return
        # The forwarder drops the reply when it gets there (after this returns).
        old.retrieving.add(last.id)
        try:
            await retrieve_last_user_audio(conn, history, timeout=self.policy.restore_timeout)
        except (ConnectionClosed, TimeoutError) as exc:
            logger.info("rollover: the last user turn's audio could not be fetched: %r", exc)

    async def _wait_boundary(self, old: _Slot, deadline: float) -> None:
        while not old.at_boundary and not old.done.is_set():
            changed = old.changed
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                logger.info("rollover: no turn boundary in time; switching anyway")
                return
            with anyio.move_on_after(remaining):
                await changed.wait()

    async def _timers(self) -> None:
        policy = self.rollover_policy
        while True:
            changed = self._changed
            slot = self._current
            expires = None if slot is None or self._holding else slot.expires_at
            if slot is None or expires is None or self.closed:
                await changed.wait()
                continue
            left = expires - time.time()
            if policy.warn_before is not None and not slot.warned:
                wait = left - policy.warn_before
                if wait > 0:
                    with anyio.move_on_after(wait):
                        await changed.wait()
                    continue
                slot.warned = True
                await self._deliver(SessionExpiring(expires, max(left, 0.0)))
                continue
            if policy.before_expiry is not None and not slot.rollover_due:
                # Never in the first half of what was left when the session began: a margin
                # larger than the session itself must not roll over again and again.
                halfway = slot.seen_at + (expires - slot.seen_at) / 2 - time.time()
                wait = max(left - policy.before_expiry, halfway)
                if wait > 0:
                    with anyio.move_on_after(wait):
                        await changed.wait()
                    continue
                slot.rollover_due = True
                self._rollovers.append(_RolloverRequest())
                self._poke()
                continue
            await changed.wait()

    # -- closing ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """End the session: close the current connection gracefully (as ``RealtimeConnection``).

        Cancellation: shielded and bounded; a pending cancel is raised after the close.
        """
        await self._close()
        await anyio.lowlevel.checkpoint()

    def _release(self) -> None:
        # Events left unread when the block ends go with it.
        self._unread.clear()
        self._inbox.close()
        self._events.close()

    async def _close(self) -> None:
        if self._closing:
            return
        self._closing = True
        current = self._current
        self._end()
        if current is not None and current.conn is not None:
            await current.conn.aclose()


def _secrets(options: Mapping[str, Any]) -> tuple[str, ...]:
    """The literal keys the connections will use, to keep them out of error messages."""
    try:
        config = _merge_config(options.get("config"), api_key=options.get("api_key"))
    except Exception:  # no usable configuration: opening the connection will say why
        return ()
    return config.secrets()


def _refusals(report: RestoreReport) -> tuple[str, ...]:
    """What the new session would not take, in words for ``Restored.lost``."""
    lost = [
        f"item {item_id} refused by the new session ({why})"
        for item_id, why in report.refused.items()
    ]
    if report.session_error is not None:
        lost.append(f"the session configuration was refused ({report.session_error})")
    return tuple(lost)


def _item_ids(plan: RestorePlan) -> set[str]:
    return {e.item.id for e in plan.items if isinstance(e.item.id, str)}


def _catch_up(history: Conversation, restored: set[str], include_audio: bool) -> RestorePlan:
    """What the history gained since the restore: new items (chained after the ones before
    them) and the session as it stands now (the caller drops it when it did not change)."""
    plan = plan_restore(history, include_audio=include_audio)
    items: list[ConversationItemCreate] = []
    kinds: list[str] = []
    counts: dict[str, int] = {}
    for event, kind in zip(plan.items, plan.kinds, strict=True):
        item_id = event.item.id
        if isinstance(item_id, str) and item_id not in restored:
            items.append(event)
            kinds.append(kind)
            counts[kind] = counts.get(kind, 0) + 1
    return RestorePlan(
        session=plan.session,
        items=items,
        owed_call_ids=plan.owed_call_ids,
        replayed=MappingProxyType(counts),
        lost=(),
        anchor_audio_output=plan.anchor_audio_output,
        audio_anchor_item_id=plan.audio_anchor_item_id,
        kinds=tuple(kinds),
    )


@asynccontextmanager
async def open_resilient(
    *,
    policy: ReconnectPolicy | None = None,
    rollover: RolloverPolicy | None = None,
    history: bool | Conversation | None = None,
    receive_buffer: int = 256,
    send_buffer: int = 64,
    **options: Any,
) -> AsyncGenerator[ResilientConnection, None]:
    """Open a session that reconnects and rolls over: ``async with open_resilient(model=...)``.

    ``options`` are :func:`~realtime_anyio.open_realtime`'s keywords, used for every
    connection, except ``history``: the session always keeps one (``conn.history``); pass a
    :class:`~realtime_anyio.Conversation` of your own, e.g. one that keeps audio, to replay
    user audio. The first connection is opened when the block is entered and its failure
    raises as from ``open_realtime``; later drops follow ``policy``, expiry follows
    ``rollover``. ``receive_buffer`` bounds the event stream and ``send_buffer`` the sends
    held during a gap.

    Leaving the block closes the current connection gracefully; an exception from the body
    comes out as itself. If the reconnects gave up (a :class:`GaveUp` event), the block raises
    the last error unless the body raised first.

    Cancellation: safe at every await, connecting and reconnecting included; nothing is left
    open.
    """
    conn = ResilientConnection(
        options,
        policy=policy or ReconnectPolicy(),
        rollover=rollover or RolloverPolicy(),
        history=history if isinstance(history, Conversation) else Conversation(),
        receive_buffer=receive_buffer,
        send_buffer=send_buffer,
    )

    async def start(tg: anyio.abc.TaskGroup) -> ResilientConnection:
        await conn._start(tg)  # pyright: ignore[reportPrivateUsage]
        return conn

    async def close(conn: ResilientConnection) -> None:
        await conn._close()  # pyright: ignore[reportPrivateUsage]

    async def release(_: ResilientConnection | None) -> None:
        conn._release()  # pyright: ignore[reportPrivateUsage]

    def leftover(conn: ResilientConnection) -> BaseException | None:
        return None if conn._final is None else conn._final_error()  # pyright: ignore[reportPrivateUsage]

    async with owned_lifetime(start, close, release, leftover) as owned:
        yield owned
