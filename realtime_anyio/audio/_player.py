"""The speaker side: play response audio, keep a playback clock, and cut a barge-in cleanly.

The player reads its events through its own subscription (``conn.subscribe``), beside the app's
``async for event in conn`` loop: both see every event, neither steals from the other. It keeps,
per output item, which stretches of the sink's stream hold that item's audio, so the played
milliseconds of an item are counted from the item's own start and from what the sink actually
played, never from what merely arrived.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import anyio
import anyio.lowlevel
import msgspec
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream

from .._errors import ConnectionClosed
from ..events import (
    ConversationItemDelete,
    ConversationItemDeleted,
    ConversationItemTruncate,
    ConversationItemTruncated,
    Error,
    ErrorDetails,
    InputAudioBufferSpeechStarted,
    MessageItem,
    OutputAudioBufferClear,
    RealtimeSession,
    ResponseCancel,
    ResponseCreated,
    ResponseDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputItemAdded,
    SemanticVad,
    ServerVad,
    SessionAudio,
    SessionAudioInput,
    SessionCreated,
    SessionUpdated,
)
from ._formats import PCM16_24K, WireFormat
from ._sinks import AudioSink

if TYPE_CHECKING:
    from .._connection import ReceivedEvent
    from .._protocols import ConnectionLike

__all__ = ["AudioPlayer", "Interruption", "ItemCut", "PlayerStatistics"]

_EVENTS = (
    SessionCreated,
    SessionUpdated,
    ResponseCreated,
    ResponseDone,
    ResponseOutputItemAdded,
    ResponseOutputAudioDelta,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    InputAudioBufferSpeechStarted,
    ConversationItemTruncated,
    ConversationItemDeleted,
    Error,
)

Action = Literal["kept", "truncated", "deleted"]

#: Item records kept (the oldest finished ones are forgotten beyond this).
_MAX_ITEMS = 512


@dataclass(frozen=True)
class ItemCut:
    """What a barge-in did to one output item."""

    item_id: str
    response_id: str
    #: ``kept`` (fully heard), ``truncated`` at ``audio_end_ms``, or ``deleted`` (nothing heard).
    action: Action
    played_ms: float
    received_ms: float
    audio_end_ms: int | None
    #: The part of the item's transcript that was heard.
    transcript: str


@dataclass(frozen=True)
class Interruption:
    """The record of one barge-in transaction."""

    #: ``"speech_started"`` (server VAD) or what the caller of :meth:`AudioPlayer.interrupt` said.
    reason: str
    cuts: tuple[ItemCut, ...]
    #: Responses a ``response.cancel`` was sent for.
    cancelled: tuple[str, ...]
    #: Milliseconds of audio that had been queued but was never played.
    dropped_ms: float
    #: False when the deadline ran out before every step was sent.
    completed: bool


@dataclass(frozen=True)
class PlayerStatistics:
    """A snapshot of an :class:`AudioPlayer`'s counters."""

    items: int
    received_ms: float
    played_ms: float
    buffered_ms: float
    #: Audio discarded by barge-ins: queued and never played, or arriving for a cancelled
    #: response.
    dropped_ms: float
    interruptions: int
    truncations_confirmed: int
    deletions_confirmed: int
    #: Errors the server returned for the player's own events (``response_cancel_not_active``
    #: is not an error here: the response had already ended).
    errors: tuple[ErrorDetails, ...]


@runtime_checkable
class _WritesNowait(Protocol):
    def write_nowait(self, audio: bytes) -> bool: ...


@dataclass(eq=False)
class _Item:
    item_id: str
    response_id: str
    content_index: int = 0
    received: int = 0
    # (stream offset, length) runs of this item's audio in the sink's stream.
    segments: list[tuple[int, int]] = field(default_factory=lambda: [])
    # (bytes of audio received when the text arrived, text)
    transcript: list[tuple[int, str]] = field(default_factory=lambda: [])
    state: Action | None = None
    kept: int = 0
    # All of its audio has arrived (output_audio.done, or the response ended).
    complete: bool = False

    def played(self, position: int) -> int:
        if self.state is not None:
            return self.kept
        return sum(max(0, min(position - start, size)) for start, size in self.segments)


def _text_before(item: _Item, played: int) -> str:
    # A transcript delta is counted as heard once the audio that followed it started playing.
    return "".join(text for offset, text in item.transcript if offset < played)


class AudioPlayer:
    """Plays ``response.output_audio.delta`` audio into a sink and handles barge-in.

    Start it in your task group with ``await tg.start(player.run, conn)`` (it is subscribed
    once ``start`` returns), and keep your own ``async for event in conn`` loop running: the
    player reads a copy of the events. With ``interrupt_on_speech`` a server-VAD
    ``input_audio_buffer.speech_started`` runs :meth:`interrupt` by itself; call it yourself for
    a local trigger (push-to-talk, your own VAD). ``format`` is the session's output format.
    ``sideband`` is for WebRTC/SIP sideband connections, where the call plays the audio:
    barge-in then also sends ``output_audio_buffer.clear``.
    """

    def __init__(
        self,
        sink: AudioSink,
        *,
        format: WireFormat = PCM16_24K,
        interrupt_on_speech: bool = True,
        sideband: bool = False,
        max_buffer_ms: float = 300_000.0,
        timeout: float = 5.0,
        subscription_buffer: int = 1024,
    ) -> None:
        self.sink = sink
        self.format = format
        self.interrupt_on_speech = interrupt_on_speech
        self.sideband = sideband
        self.timeout = timeout
        self._max_buffer = format.size(max_buffer_ms)
        self._subscription_buffer = subscription_buffer
        self._conn: ConnectionLike | None = None
        self._events: MemoryObjectReceiveStream[ReceivedEvent] | None = None
        self._items: dict[str, _Item] = {}
        self._active: dict[str, None] = {}  # responses created and not yet done, in order
        self._interrupted: set[str] = set()
        self._cancel_sent: set[str] = set()
        self._to_delete: list[str] = []
        self._server_interrupts = True
        self._trigger: str | None = None
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._end = sink.played_bytes()  # stream offset after the last queued byte
        self._generation = 0
        self._write_scope: anyio.CancelScope | None = None
        self._writer_wake: anyio.Event | None = None
        self._room: anyio.Event | None = None
        self._lock = anyio.Lock()
        self._sent: set[str] = set()
        self._connection_closed = False
        self._feeding = False
        self._kick: anyio.Event | None = None
        self._errors: list[ErrorDetails] = []
        self._received = 0
        self._dropped = 0
        self._interruptions = 0
        self._truncated_ok = 0
        self._deleted_ok = 0
        self.last_interruption: Interruption | None = None
        # Sinks may offer a synchronous ``write_nowait(audio) -> bool`` fast path.
        self._write_nowait: Callable[[bytes], bool] | None = (
            sink.write_nowait if isinstance(sink, _WritesNowait) else None
        )

    # -- public queries ---------------------------------------------------------------------

    def played_ms(self, item_id: str) -> float:
        """Milliseconds of ``item_id`` played so far, from the item's own start (0 if unknown)."""
        item = self._items.get(item_id)
        if item is None:
            return 0.0
        return self.format.ms(item.played(self.sink.played_bytes()))

    def received_ms(self, item_id: str) -> float:
        """Milliseconds of ``item_id`` received so far."""
        item = self._items.get(item_id)
        return 0.0 if item is None else self.format.ms(item.received)

    def transcript(self, item_id: str) -> str:
        """The item's transcript: after a barge-in, only the part that was heard."""
        item = self._items.get(item_id)
        if item is None:
            return ""
        if item.state is None or item.state == "kept":
            return "".join(text for _, text in item.transcript)
        return _text_before(item, item.kept)

    def statistics(self) -> PlayerStatistics:
        """A snapshot of the counters; cheap."""
        position = self.sink.played_bytes()
        played = sum(item.played(position) for item in self._items.values())
        return PlayerStatistics(
            items=len(self._items),
            received_ms=self.format.ms(self._received),
            played_ms=self.format.ms(played),
            buffered_ms=self.format.ms(max(0, self._end - position)),
            dropped_ms=self.format.ms(self._dropped),
            interruptions=self._interruptions,
            truncations_confirmed=self._truncated_ok,
            deletions_confirmed=self._deleted_ok,
            errors=tuple(self._errors),
        )

    async def wait_idle(self) -> None:
        """Wait until everything received so far has been played.

        Cancellation: safe; nothing changes.
        """
        await anyio.lowlevel.checkpoint()
        while self._queue or self.sink.played_bytes() < self._end:
            remaining = self.format.ms(self._end - self.sink.played_bytes()) / 1000
            await anyio.sleep(min(0.05, max(0.002, remaining)))

    # -- running ----------------------------------------------------------------------------

    async def run(
        self,
        conn: ConnectionLike,
        *,
        feed: bool = False,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Play the connection's response audio until cancelled or the connection closes.

        By default the player reads its own copy of the events (``conn.subscribe``). With
        ``feed=True`` it takes no subscription: pass every event of your ``async for event in
        conn`` loop to :meth:`feed`. That saves the player's task wake-up per event (for many
        sessions in one process); the player's audio buffer then applies no backpressure to
        the connection (it holds what the server sends; see ``statistics().buffered_ms``).

        Cancellation: the normal way to stop it; audio still queued is dropped and the sink is
        left as it is (close it yourself).
        """
        if self._conn is not None:
            raise RuntimeError("this AudioPlayer is already running")
        self._conn = conn
        self._feeding = feed
        try:
            if feed:
                await self._run_fed(task_status)
            else:
                await self._run_subscribed(conn, task_status)
        finally:
            self._events = None
            self._conn = None
            self._kick = None

    async def _run_fed(self, task_status: TaskStatus[None]) -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._writer, name="audio-player-writer")
            task_status.started()
            while True:
                self._kick = anyio.Event()
                await self._kick.wait()
                await self._after_event()

    async def _run_subscribed(self, conn: ConnectionLike, task_status: TaskStatus[None]) -> None:
        async with (
            conn.subscribe(*_EVENTS, max_buffer=self._subscription_buffer) as events,
            anyio.create_task_group() as tg,
        ):
            self._events = events
            tg.start_soon(self._writer, name="audio-player-writer")
            task_status.started()
            while True:
                try:
                    event = await events.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    break
                self._handle(event)
                # Whatever else is already buffered is handled without a checkpoint each.
                self._drain()
                await self._after_event()
            tg.cancel_scope.cancel()

    def feed(self, event: ReceivedEvent) -> None:
        """Give the player one event from your loop (only with ``run(conn, feed=True)``).

        Cheap for events the player does not use. A barge-in trigger or a deletion it causes
        is carried out by the player's task right after.
        """
        if not self._feeding:
            raise RuntimeError("feed() is for a player started with run(conn, feed=True)")
        self._handle(event)
        kick = self._kick
        if kick is not None and (self._trigger is not None or self._to_delete):
            self._kick = None
            kick.set()

    async def _after_event(self) -> None:
        if self._trigger is not None:
            reason, self._trigger = self._trigger, None
            await self._interrupt(reason)
        if self._to_delete:
            await self._send_deletes()
        while self._queued > self._max_buffer and not self._feeding:
            # Over the cap: wait for the sink, but keep taking events (a barge-in must not
            # wait for minutes of queued audio to play out).
            self._room = anyio.Event()
            with anyio.move_on_after(0.05):
                await self._room.wait()
            self._drain()
            if self._trigger is not None:
                reason, self._trigger = self._trigger, None
                await self._interrupt(reason)

    def _drain(self) -> None:
        events = self._events
        if events is None:
            return
        while True:
            try:
                event = events.receive_nowait()
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                return
            self._handle(event)

    async def _writer(self) -> None:
        sink = self.sink
        queue = self._queue
        while True:
            while not queue:
                self._writer_wake = anyio.Event()
                await self._writer_wake.wait()
            chunk = queue.popleft()
            generation = self._generation
            with anyio.CancelScope() as scope:
                self._write_scope = scope
                await sink.write(chunk)
            self._write_scope = None
            if generation == self._generation:
                self._queued -= len(chunk)
                room = self._room
                if room is not None and self._queued <= self._max_buffer:
                    self._room = None
                    room.set()

    # -- events -----------------------------------------------------------------------------

    def _handle(self, event: ReceivedEvent) -> None:
        if isinstance(event, ResponseOutputAudioDelta):
            self._on_audio(event)
        elif isinstance(event, ResponseOutputAudioDone):
            done = self._items.get(event.item_id)
            if done is not None:
                done.complete = True
        elif isinstance(event, ResponseOutputAudioTranscriptDelta):
            item = self._item(event.item_id, event.response_id, event.content_index)
            if item is not None:
                item.transcript.append((item.received, event.delta))
        elif isinstance(event, ResponseCreated):
            if isinstance(event.response.id, str):
                self._active[event.response.id] = None
        elif isinstance(event, ResponseDone):
            response_id = event.response.id
            if isinstance(response_id, str):
                self._active.pop(response_id, None)
                # No audio follows a response.done: its cut state is no longer needed.
                self._interrupted.discard(response_id)
                self._cancel_sent.discard(response_id)
        elif isinstance(event, ResponseOutputItemAdded):
            item_id = event.item.id
            if (
                event.response_id in self._interrupted
                and isinstance(event.item, MessageItem)
                and isinstance(item_id, str)
            ):
                self._item(item_id, event.response_id, 0)
        elif isinstance(event, InputAudioBufferSpeechStarted):
            if self.interrupt_on_speech:
                self._trigger = "speech_started"
        elif isinstance(event, (SessionCreated, SessionUpdated)):
            self._on_session(event)
        elif isinstance(event, ConversationItemTruncated):
            self._truncated_ok += event.item_id in self._items
        elif isinstance(event, ConversationItemDeleted):
            self._deleted_ok += event.item_id in self._items
        elif isinstance(event, Error):
            error = event.error
            if isinstance(error.event_id, str) and error.event_id in self._sent:
                self._sent.discard(error.event_id)
                if error.code != "response_cancel_not_active":
                    self._errors.append(error)

    def _on_session(self, event: SessionCreated | SessionUpdated) -> None:
        session = event.session
        if not isinstance(session, RealtimeSession) or not isinstance(session.audio, SessionAudio):
            return
        audio_input = session.audio.input
        if not isinstance(audio_input, SessionAudioInput):
            return
        detection = audio_input.turn_detection
        if isinstance(detection, (ServerVad, SemanticVad)):
            self._server_interrupts = detection.interrupt_response is not False
        elif detection is None:
            self._server_interrupts = False

    def _item(self, item_id: str, response_id: str, content_index: int) -> _Item | None:
        """The item's record; ``None`` (and a deletion scheduled) for a cut response's new item."""
        item = self._items.get(item_id)
        if item is None:
            if len(self._items) >= _MAX_ITEMS:
                self._forget_old_items()
            item = self._items[item_id] = _Item(item_id, response_id, content_index)
            if response_id in self._interrupted:
                # Part of a response that was barged in on: never heard, so it goes.
                item.state = "deleted"
                self._to_delete.append(item_id)
        return None if item.state is not None else item

    def _forget_old_items(self) -> None:
        """Drop the oldest records that can no longer change (decided, or heard in full)."""
        position = self.sink.played_bytes()
        for item_id, item in list(self._items.items())[: _MAX_ITEMS // 2]:
            if item.state is not None or (item.complete and item.played(position) >= item.received):
                del self._items[item_id]

    def _on_audio(self, event: ResponseOutputAudioDelta) -> None:
        audio = event.delta
        item = self._item(event.item_id, event.response_id, event.content_index)
        if item is None or event.response_id in self._interrupted:
            self._dropped += len(audio)
            return
        size = len(audio)
        segments = item.segments
        if segments and segments[-1][0] + segments[-1][1] == self._end:
            start, length = segments[-1]
            segments[-1] = (start, length + size)
        else:
            segments.append((self._end, size))
        item.received += size
        self._received += size
        self._end += size
        wake = self._writer_wake
        if wake is not None and self._write_nowait is not None and self._write_nowait(audio):
            # The writer is idle and the sink took it at once: no task switch for this chunk.
            return
        self._queue.append(audio)
        self._queued += size
        if wake is not None:
            self._writer_wake = None
            wake.set()

    # -- barge-in ---------------------------------------------------------------------------

    async def interrupt(self, reason: str = "local") -> Interruption:
        """Barge-in: stop playback and make the server keep only what was heard.

        One bounded, shielded, idempotent step: freeze the player and read the sink's played
        position; drop queued audio; ``response.cancel`` a response still running (unless the
        server's own VAD already cancels it); then per item, ``conversation.item.truncate`` at
        the milliseconds played (never more than received, never twice) or
        ``conversation.item.delete`` when none of it was heard, including the running
        response's later items as they appear; ``output_audio_buffer.clear`` on a sideband
        connection. A second call finds nothing left to cut.

        Cancellation: the server-side steps are shielded and bounded by ``timeout``; a cancel
        takes effect once they are sent.
        """
        await anyio.lowlevel.checkpoint()
        return await self._interrupt(reason)

    async def _interrupt(self, reason: str) -> Interruption:
        conn = self._conn
        if conn is None:
            raise RuntimeError("the player is not running: start it with tg.start(player.run)")
        async with self._lock:
            # Everything the app has seen is in the subscription or already handled.
            self._drain()
            self._interruptions += 1
            # Freeze: nothing queued now reaches the sink, and the running responses' later
            # audio is dropped.
            self._generation += 1
            end_before = self._end
            self._queue.clear()
            self._queued = 0
            if self._write_scope is not None:
                self._write_scope.cancel()
            running = list(self._active)
            self._interrupted.update(running)
            cuts: list[ItemCut] = []
            cancelled: list[str] = []
            dropped = 0
            completed = False
            with anyio.move_on_after(self.timeout, shield=True):
                position = self.sink.played_bytes()
                if end_before > position:  # something is still to be played: stop it
                    position = await self.sink.clear()
                dropped = max(0, end_before - position)
                self._dropped += dropped
                self._end = position
                plan = list(self._plan(position, running))
                server_cancels = reason == "speech_started" and self._server_interrupts
                for response_id in running:
                    if response_id in self._cancel_sent or server_cancels:
                        continue
                    self._cancel_sent.add(response_id)
                    cancelled.append(response_id)
                    await self._send(ResponseCancel(response_id=response_id))
                for cut in plan:
                    cuts.append(cut)
                    if cut.action == "truncated" and cut.audio_end_ms is not None:
                        item = self._items[cut.item_id]
                        await self._send(
                            ConversationItemTruncate(
                                item_id=cut.item_id,
                                content_index=item.content_index,
                                audio_end_ms=cut.audio_end_ms,
                            )
                        )
                    elif cut.action == "deleted":
                        await self._send(ConversationItemDelete(item_id=cut.item_id))
                await self._send_deletes()
                if self.sideband:
                    await self._send(OutputAudioBufferClear())
                completed = not self._connection_closed
            record = Interruption(
                reason=reason,
                cuts=tuple(cuts),
                cancelled=tuple(cancelled),
                dropped_ms=self.format.ms(dropped),
                completed=completed,
            )
            self.last_interruption = record
            return record

    def _plan(self, position: int, running: list[str]) -> Iterator[ItemCut]:
        """Decide each undecided item's fate at play ``position``; marks them decided."""
        per_ms = self.format.bytes_per_ms
        for item in self._items.values():
            if item.state is not None:
                continue
            played = item.played(position)
            complete = item.complete or item.response_id not in running
            if complete and played >= item.received:
                item.state = "kept"
                item.kept = item.received
                continue
            end_ms = math.floor(played / per_ms)
            if end_ms <= 0:
                item.state = "deleted"
                item.kept = 0
            else:
                item.state = "truncated"
                item.kept = played
            yield ItemCut(
                item_id=item.item_id,
                response_id=item.response_id,
                action=item.state,
                played_ms=self.format.ms(played),
                received_ms=self.format.ms(item.received),
                audio_end_ms=end_ms if item.state == "truncated" else None,
                transcript=_text_before(item, item.kept),
            )

    async def _send_deletes(self) -> None:
        while self._to_delete:
            item_id = self._to_delete.pop(0)
            await self._send(ConversationItemDelete(item_id=item_id))

    async def _send(
        self,
        event: ResponseCancel
        | ConversationItemTruncate
        | ConversationItemDelete
        | OutputAudioBufferClear,
    ) -> None:
        conn = self._conn
        if conn is None or self._connection_closed:
            return
        event_id = conn.next_event_id()
        if len(self._sent) >= _MAX_ITEMS:
            self._sent.clear()  # old ids only matter for an error that never came
        self._sent.add(event_id)
        try:
            await conn.send(msgspec.structs.replace(event, event_id=event_id))
        except ConnectionClosed:
            # Closing under a barge-in is not the player's error to raise: the app's own loop
            # reports the close; the server forgets the conversation anyway.
            self._connection_closed = True
