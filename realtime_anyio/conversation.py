"""The conversation as the server sees it, folded from its events: pure and synchronous.

:class:`Conversation` consumes server events one at a time (:meth:`Conversation.apply`) and
keeps the items of the default conversation in server order, the responses in progress (those
that write to the conversation and the out-of-band ones apart), accumulated text, transcripts
and audio durations, usage totals, the latest rate limits and the effective session. It does no
I/O, so it is tested with plain lists of events, and it never raises from ``apply``: an event it
cannot fold is counted and skipped.

It exports itself as plain data (:meth:`Conversation.to_builtins`, :meth:`Conversation.to_json`)
and as the client events that rebuild the history in a new session
(:meth:`Conversation.replay_events`). Items are kept as the server sent them, so fields this
version does not know (and ``phase`` on assistant messages) travel into the export and the
replay unchanged.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import msgspec
from msgspec import UNSET, UnsetType

from .events import (
    AudioContent,
    BaseServerEvent,
    ContentPart,
    ConversationItem,
    ConversationItemAdded,
    ConversationItemCreate,
    ConversationItemCreated,
    ConversationItemDeleted,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionFailed,
    ConversationItemInputAudioTranscriptionSegment,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioContent,
    InputTextContent,
    MessageItem,
    OutputAudioContent,
    OutputTextContent,
    RateLimit,
    RateLimitsUpdated,
    RealtimeResponse,
    RealtimeSession,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseOutputTextDelta,
    ResponseOutputTextDone,
    ResponseUsage,
    Session,
    SessionCreated,
    SessionUpdated,
    TextContent,
    TranscriptionUsageDuration,
    TranscriptionUsageTokens,
)
from .events._lossless import to_builtins as wire_builtins

__all__ = [
    "AudioRetention",
    "Conversation",
    "Item",
    "Part",
    "Response",
    "TranscriptSegment",
    "Usage",
]

logger = logging.getLogger("realtime_anyio.conversation")

AudioRetention: TypeAlias = Literal["none", "all"] | float
"""How much audio a :class:`Conversation` keeps: ``"none"``, ``"all"``, or the last N seconds."""

_PCM_BYTES_PER_MS = 48.0  # 16-bit mono at 24 kHz
_PENDING_LIMIT = 256  # bound for facts that arrive before the item they describe
_encoder = msgspec.json.Encoder()


def _bytes_per_ms(session: Session | None, response: RealtimeResponse | None) -> float:
    """Bytes of output audio per millisecond, from the response's or the session's format."""
    fmt: Any = UNSET
    if response is not None and not isinstance(response.audio, (UnsetType, type(None))):
        output = response.audio.output
        if not isinstance(output, UnsetType):
            fmt = output.format
    if isinstance(fmt, UnsetType) and isinstance(session, RealtimeSession):
        audio = session.audio
        if audio is not None and not isinstance(audio, UnsetType):
            output = audio.output
            if not isinstance(output, UnsetType):
                fmt = output.format
    if isinstance(fmt, UnsetType):
        return _PCM_BYTES_PER_MS
    kind = fmt.type if isinstance(fmt.type, str) else "audio/pcm"
    if kind in ("audio/pcmu", "audio/pcma"):
        return 8.0
    rate = fmt.rate if isinstance(fmt.rate, int) else 24000
    return rate * 2 / 1000


@dataclass(frozen=True)
class TranscriptSegment:
    """A stretch of user speech attributed to one speaker (diarized transcription)."""

    id: str
    text: str
    speaker: str
    start: float
    end: float


class Part:
    """One content part of an item, with what the events said about it so far.

    ``type`` is the wire type (``input_text``, ``input_audio``, ``output_text``,
    ``output_audio``, ``input_image``, …); ``text`` holds written text, ``transcript`` the words
    of an audio part. ``audio_ms`` is the audio's duration (assistant audio: what was streamed,
    cut at a truncation; user audio: what turn detection measured), ``audio`` the retained
    bytes (see the ``keep_audio`` option of :class:`Conversation`), which may be only the end
    of the part's audio when a "last N seconds" policy dropped the start.
    """

    __slots__ = (
        "_audio",
        "_text",
        "_transcript",
        "audio_complete",
        "audio_ms",
        "bytes_per_ms",
        "segments",
        "transcription_failed",
        "truncated_at_ms",
        "type",
        "wire",
    )

    def __init__(self, type: str, wire: ContentPart | None = None) -> None:
        self.type = type
        self.wire = wire
        self._text: list[str] = []
        self._transcript: list[str] = []
        self._audio: bytearray | None = None
        self.audio_ms = 0.0
        self.audio_complete = True
        self.bytes_per_ms = _PCM_BYTES_PER_MS
        self.truncated_at_ms: int | None = None
        self.segments: list[TranscriptSegment] = []
        self.transcription_failed = False

    def __repr__(self) -> str:
        words = self.transcript if self.type.endswith("audio") else self.text
        return f"<Part {self.type} {words!r} {self.audio_ms:.0f} ms>"

    @property
    def text(self) -> str:
        """The written text (empty for audio parts)."""
        pieces = self._text
        if len(pieces) > 1:
            pieces[:] = ["".join(pieces)]
        return pieces[0] if pieces else ""

    @property
    def transcript(self) -> str:
        """The transcript of an audio part (empty until known)."""
        pieces = self._transcript
        if len(pieces) > 1:
            pieces[:] = ["".join(pieces)]
        return pieces[0] if pieces else ""

    @property
    def audio(self) -> bytes:
        """The retained audio bytes (empty when none are kept)."""
        return b"" if self._audio is None else bytes(self._audio)

    @property
    def truncated(self) -> bool:
        """Whether the server cut this part's audio (``conversation.item.truncated``)."""
        return self.truncated_at_ms is not None

    def _set_text(self, text: str) -> None:
        self._text[:] = [text] if text else []

    def _set_transcript(self, text: str) -> None:
        self._transcript[:] = [text] if text else []


class Item:
    """One item of the conversation (or of an out-of-band response's output).

    ``wire`` is the item exactly as the server last sent it (from ``conversation.item.*`` or
    ``response.output_item.*``), so unknown fields survive; the other attributes are what the
    events added to it since (text, transcripts, audio, truncation).
    """

    __slots__ = (
        "_arguments",
        "id",
        "in_conversation",
        "parts",
        "previous_item_id",
        "response_id",
        "status",
        "wire",
    )

    def __init__(self, item_id: str, wire: ConversationItem) -> None:
        self.id = item_id
        self.wire: ConversationItem = wire
        self.status: str | None = None
        self.previous_item_id: str | None = None
        self.response_id: str | None = None
        self.in_conversation = False
        self.parts: list[Part] = []
        self._arguments: list[str] = []
        self._merge_wire(wire)

    def __repr__(self) -> str:
        return f"<Item {self.id} {self.type} {self.role or ''} {self.status or ''} {self.text!r}>"

    @property
    def type(self) -> str:
        """The item's wire type (``message``, ``function_call``, ``function_call_output``, …)."""
        return self.wire.type

    @property
    def role(self) -> str | None:
        """``system``, ``user`` or ``assistant`` for messages, else ``None``."""
        return self.wire.role if isinstance(self.wire, MessageItem) else None

    @property
    def phase(self) -> str | None:
        """An assistant message's ``phase`` (``commentary`` / ``final_answer``), if sent."""
        wire = self.wire
        if isinstance(wire, MessageItem) and isinstance(wire.phase, str):
            return wire.phase
        return None

    @property
    def text(self) -> str:
        """The words of the item: its text and transcripts, or a call's arguments or output."""
        wire = self.wire
        if isinstance(wire, FunctionCallItem):
            return self.arguments
        if isinstance(wire, FunctionCallOutputItem):
            return wire.output
        words = [p.text or p.transcript for p in self.parts]
        return " ".join(w for w in words if w)

    @property
    def arguments(self) -> str:
        """A function call's JSON arguments (accumulated from the deltas until done)."""
        wire = self.wire
        if isinstance(wire, FunctionCallItem) and wire.arguments:
            return wire.arguments
        pieces = self._arguments
        if len(pieces) > 1:
            pieces[:] = ["".join(pieces)]
        return pieces[0] if pieces else ""

    @property
    def audio_ms(self) -> float:
        """The total audio duration of the item's parts, in milliseconds."""
        return sum(p.audio_ms for p in self.parts)

    @property
    def truncated(self) -> bool:
        """Whether the server cut the item's audio at what the user heard."""
        return any(p.truncated_at_ms is not None for p in self.parts)

    def _part(self, index: int, type: str) -> Part:
        parts = self.parts
        while len(parts) <= index:
            parts.append(Part(type))
        return parts[index]

    def _merge_wire(self, wire: ConversationItem) -> None:
        """Take a newer copy of the item from the server, keeping what the events built."""
        self.wire = wire
        status = getattr(wire, "status", UNSET)
        if isinstance(status, str):
            self.status = status
        if not isinstance(wire, MessageItem):
            return
        for index, content in enumerate(wire.content):
            part = self._part(index, content.type)
            part.wire = content
            part.type = _PART_TYPES.get(content.type, content.type)
            if part.truncated_at_ms is not None:
                continue  # the server dropped the transcript; keep what was heard
            if isinstance(content, (InputTextContent, OutputTextContent, TextContent)):
                if isinstance(content.text, str) and content.text:
                    part._set_text(content.text)  # pyright: ignore[reportPrivateUsage]
            elif (
                isinstance(content, (InputAudioContent, OutputAudioContent, AudioContent))
                and isinstance(content.transcript, str)
                and content.transcript
            ):
                part._set_transcript(content.transcript)  # pyright: ignore[reportPrivateUsage]


# ``response.content_part.*`` names parts ``text`` / ``audio``; the finished item says
# ``output_text`` / ``output_audio``. One name each keeps readers simple.
_PART_TYPES = {"text": "output_text", "audio": "output_audio"}


class Response:
    """One response: in progress or finished, in the conversation or out of band.

    ``out_of_band`` is true for ``conversation: "none"`` responses (``conversation_id`` null):
    their output is not part of the conversation and is found only in ``output``.
    """

    __slots__ = ("bytes_per_ms", "created", "done", "id", "out_of_band", "output")

    def __init__(self, response_id: str, created: RealtimeResponse, bytes_per_ms: float) -> None:
        self.id = response_id
        self.created = created
        self.done: RealtimeResponse | None = None
        self.out_of_band = created.conversation_id is None
        self.output: list[Item] = []
        self.bytes_per_ms = bytes_per_ms

    def __repr__(self) -> str:
        kind = "out-of-band " if self.out_of_band else ""
        return f"<Response {kind}{self.id} {self.status} {len(self.output)} items>"

    @property
    def status(self) -> str:
        """``in_progress`` until ``response.done``, then its final status."""
        final = self.done
        if final is not None and isinstance(final.status, str):
            return final.status
        return "in_progress"

    @property
    def metadata(self) -> dict[str, str] | None:
        """The metadata given in ``response.create``, if any."""
        value = self.created.metadata
        return value if isinstance(value, dict) else None

    @property
    def usage(self) -> ResponseUsage | None:
        """What the response cost (known once it is done)."""
        final = self.done
        if final is None or not isinstance(final.usage, ResponseUsage):
            return None
        return final.usage

    def _add_output(self, item: Item) -> None:
        if item not in self.output:
            self.output.append(item)


@dataclass(frozen=True)
class Usage:
    """Tokens used so far, summed over every ``response.done`` (and input transcriptions)."""

    responses: int = 0
    total_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    input_image_tokens: int = 0
    cached_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0
    reasoning_tokens: int = 0
    transcription_input_tokens: int = 0
    transcription_output_tokens: int = 0
    transcription_seconds: float = 0.0


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


class _Retention:
    """Keeps retained audio within the policy: none, all, or the newest N seconds."""

    __slots__ = ("_chunks", "_held_ms", "limit_ms", "mode")

    def __init__(self, keep: AudioRetention) -> None:
        if keep == "none" or keep == "all":
            self.mode: str = str(keep)
            self.limit_ms = 0.0
        elif isinstance(keep, (int, float)) and not isinstance(keep, bool) and keep >= 0:  # pyright: ignore[reportUnnecessaryIsInstance]
            self.mode = "last"
            self.limit_ms = float(keep) * 1000
        else:
            raise ValueError(f"keep_audio must be 'none', 'all' or seconds >= 0, not {keep!r}")
        self._chunks: deque[tuple[Part, int, float]] = deque()
        self._held_ms = 0.0

    @property
    def held_ms(self) -> float:
        return self._held_ms

    def add(self, part: Part, data: bytes) -> None:
        if self.mode == "none" or not data:
            return
        buffer = part._audio  # pyright: ignore[reportPrivateUsage]
        if buffer is None:
            buffer = part._audio = bytearray()  # pyright: ignore[reportPrivateUsage]
        buffer += data
        if self.mode == "all":
            return
        ms = len(data) / part.bytes_per_ms
        self._chunks.append((part, len(data), ms))
        self._held_ms += ms
        chunks = self._chunks
        while self._held_ms > self.limit_ms and chunks:
            old, size, old_ms = chunks.popleft()
            self._held_ms -= old_ms
            held = old._audio  # pyright: ignore[reportPrivateUsage]
            if held is not None:
                # bytearray drops a prefix without copying the rest.
                del held[: min(size, len(held))]
            old.audio_complete = False

    def forget(self, part: Part) -> None:
        part._audio = None  # pyright: ignore[reportPrivateUsage]


class Conversation:
    """The state of a Realtime session, folded from the server's events.

    Call :meth:`apply` with every event received (``open_realtime(..., history=True)`` does it
    for you and exposes the result as ``conn.history``), and read the state at any time:
    :attr:`items` in server order, :attr:`in_progress` and :attr:`out_of_band` responses,
    :attr:`usage`, :attr:`rate_limits`, :attr:`session`.

    ``keep_audio`` decides how much audio is held in memory: ``"none"`` (durations only, the
    default), ``"all"``, or a number of seconds: the newest audio across the conversation, older
    bytes dropped first. ``keep_responses`` bounds how many finished responses stay readable.
    """

    def __init__(self, *, keep_audio: AudioRetention = "none", keep_responses: int = 32) -> None:
        if keep_responses < 0:
            raise ValueError("keep_responses must be >= 0")
        self._retention = _Retention(keep_audio)
        self._items: dict[str, Item] = {}  # every known item, conversation or out of band
        self._order: list[str] = []  # ids of the conversation's items, in server order
        self._responses: dict[str, Response] = {}  # in progress
        self._finished: deque[Response] = deque()
        self._keep_responses = keep_responses
        self._speech: dict[str, tuple[int, int | None]] = {}
        self._early_transcripts: dict[str, list[Any]] = {}
        self._usage = Usage()
        self.session: Session | None = None
        """The effective session configuration (from ``session.created`` / ``.updated``)."""
        self.rate_limits: tuple[RateLimit, ...] = ()
        """The latest rate limits (``rate_limits.updated``)."""
        self.applied = 0
        """Events folded in."""
        self.ignored = 0
        """Events that could not be folded: unknown kinds, invalid frames, events about items
        never seen. Known events that carry nothing to fold count in neither counter."""
        handlers: dict[type[Any], Callable[[Any], bool]] = {
            SessionCreated: self._session,
            SessionUpdated: self._session,
            ConversationItemAdded: self._item_added,
            ConversationItemCreated: self._item_added,
            ConversationItemDone: self._item_done,
            ConversationItemRetrieved: self._item_retrieved,
            ConversationItemDeleted: self._item_deleted,
            ConversationItemTruncated: self._item_truncated,
            ConversationItemInputAudioTranscriptionDelta: self._transcription_delta,
            ConversationItemInputAudioTranscriptionCompleted: self._transcription_completed,
            ConversationItemInputAudioTranscriptionSegment: self._transcription_segment,
            ConversationItemInputAudioTranscriptionFailed: self._transcription_failed,
            InputAudioBufferSpeechStarted: self._speech_started,
            InputAudioBufferSpeechStopped: self._speech_stopped,
            ResponseCreated: self._response_created,
            ResponseDone: self._response_done,
            ResponseOutputItemAdded: self._output_item,
            ResponseOutputItemDone: self._output_item,
            ResponseContentPartAdded: self._content_part,
            ResponseContentPartDone: self._content_part,
            ResponseOutputTextDelta: self._text_delta,
            ResponseOutputTextDone: self._text_done,
            ResponseOutputAudioDelta: self._audio_delta,
            ResponseOutputAudioTranscriptDelta: self._transcript_delta,
            ResponseOutputAudioTranscriptDone: self._transcript_done,
            ResponseFunctionCallArgumentsDelta: self._arguments_delta,
            ResponseFunctionCallArgumentsDone: self._arguments_done,
            RateLimitsUpdated: self._rate_limits,
        }
        self._handlers = handlers

    def __repr__(self) -> str:
        return (
            f"<Conversation {len(self._order)} items, {len(self._responses)} responses in "
            f"progress, {self.applied} events>"
        )

    # -- reading -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[Item]:
        items = self._items
        return iter([items[i] for i in self._order])

    def __contains__(self, item_id: object) -> bool:
        if not isinstance(item_id, str):
            return False
        item = self._items.get(item_id)
        return item is not None and item.in_conversation

    def __getitem__(self, item_id: str) -> Item:
        item = self._items.get(item_id)
        if item is None or not item.in_conversation:
            raise KeyError(item_id)
        return item

    def get(self, item_id: str) -> Item | None:
        """The item ``item_id``, in the conversation or in an out-of-band response's output."""
        return self._items.get(item_id)

    @property
    def items(self) -> list[Item]:
        """The conversation's items in server order (a new list each time)."""
        return list(self)

    @property
    def in_progress(self) -> Response | None:
        """The response writing to the conversation right now, if any."""
        for response in self._responses.values():
            if not response.out_of_band:
                return response
        return None

    @property
    def responses(self) -> list[Response]:
        """Every response in progress, in the conversation or out of band."""
        return list(self._responses.values())

    @property
    def out_of_band(self) -> list[Response]:
        """Out-of-band responses: those in progress, then the recently finished ones."""
        running = [r for r in self._responses.values() if r.out_of_band]
        return running + [r for r in self._finished if r.out_of_band]

    @property
    def finished(self) -> list[Response]:
        """The most recent finished responses, oldest first (``keep_responses`` of them)."""
        return list(self._finished)

    def response(self, response_id: str) -> Response | None:
        """A response in progress or recently finished, by id."""
        found = self._responses.get(response_id)
        if found is not None:
            return found
        return next((r for r in self._finished if r.id == response_id), None)

    @property
    def usage(self) -> Usage:
        """Token totals so far."""
        return self._usage

    @property
    def keeps_audio(self) -> bool:
        """Whether this history retains audio at all (``keep_audio`` other than ``"none"``)."""
        return self._retention.mode != "none"

    @property
    def audio_held_ms(self) -> float:
        """Milliseconds of audio currently retained under a "last N seconds" policy."""
        return self._retention.held_ms

    # -- folding -------------------------------------------------------------------------------

    def apply(self, event: object) -> bool:
        """Fold one server event in; return whether it changed anything.

        Never raises: unknown or undecodable events, and events about items this conversation
        never saw, are counted in :attr:`ignored`.
        """
        handler = self._handlers.get(type(event))
        if handler is None:
            if not isinstance(event, BaseServerEvent):
                self.ignored += 1
            # else a known event with nothing to fold (an audio buffer commit, an error, …)
            return False
        try:
            changed = handler(event)
        except Exception:  # a fold bug must never break the connection's reader
            logger.debug("could not fold %s", type(event).__name__, exc_info=True)
            changed = False
        if changed:
            self.applied += 1
        else:
            self.ignored += 1
        return changed

    def apply_all(self, events: Iterable[object]) -> None:
        """Fold several events in order."""
        for event in events:
            self.apply(event)

    # session, limits ---------------------------------------------------------------------

    def _session(self, event: SessionCreated | SessionUpdated) -> bool:
        self.session = event.session
        return True

    def _rate_limits(self, event: RateLimitsUpdated) -> bool:
        self.rate_limits = tuple(event.rate_limits)
        return True

    # items --------------------------------------------------------------------------------

    def _known(self, wire: ConversationItem) -> Item | None:
        item_id = wire.id
        if not isinstance(item_id, str):
            return None
        item = self._items.get(item_id)
        if item is None:
            item = self._items[item_id] = Item(item_id, wire)
            self._early(item)
        else:
            item._merge_wire(wire)  # pyright: ignore[reportPrivateUsage]
        return item

    def _insert(self, item: Item, previous: str | UnsetType | None) -> None:
        order = self._order
        if item.in_conversation:
            return
        item.in_conversation = True
        if previous == "root":
            order.insert(0, item.id)
            item.previous_item_id = None
            return
        if isinstance(previous, str) and previous in self._items:
            try:
                index = order.index(previous)
            except ValueError:
                pass
            else:
                order.insert(index + 1, item.id)
                item.previous_item_id = previous
                return
        item.previous_item_id = order[-1] if order else None
        order.append(item.id)

    def _item_added(self, event: ConversationItemAdded | ConversationItemCreated) -> bool:
        item = self._known(event.item)
        if item is None:
            return False
        self._insert(item, event.previous_item_id)
        return True

    def _item_done(self, event: ConversationItemDone) -> bool:
        item = self._known(event.item)
        if item is None:
            return False
        # ``previous_item_id`` is often null here even when the item is not first: only an item
        # never announced takes its place from this event.
        self._insert(item, event.previous_item_id or UNSET)
        return True

    def _item_retrieved(self, event: ConversationItemRetrieved) -> bool:
        item = self._known(event.item)
        if item is None:
            return False
        wire = event.item
        if isinstance(wire, MessageItem):
            for index, content in enumerate(wire.content):
                audio = getattr(content, "audio", UNSET)
                if isinstance(audio, bytes) and index < len(item.parts):
                    part = item.parts[index]
                    self._retention.forget(part)
                    part.audio_complete = True
                    self._retention.add(part, audio)
                    if part.audio_ms == 0:
                        part.audio_ms = len(audio) / part.bytes_per_ms
        return True

    def _item_deleted(self, event: ConversationItemDeleted) -> bool:
        item = self._items.pop(event.item_id, None)
        if item is None:
            return False
        for part in item.parts:
            self._retention.forget(part)
        if item.in_conversation:
            self._order.remove(item.id)
        return True

    def _item_truncated(self, event: ConversationItemTruncated) -> bool:
        item = self._items.get(event.item_id)
        if item is None or event.content_index >= len(item.parts):
            return False
        part = item.parts[event.content_index]
        heard = float(event.audio_end_ms)
        streamed = part.audio_ms
        words = part.transcript
        if streamed > 0 and heard < streamed:
            # The server drops the whole transcript; keep the share of the words that was
            # played, cut back to a word boundary (an estimate: speech is not evenly paced).
            cut = int(len(words) * heard / streamed)
            kept = words[:cut]
            if cut < len(words) and not words[cut : cut + 1].isspace():
                kept = kept.rsplit(" ", 1)[0] if " " in kept else ""
            part._set_transcript(kept.rstrip())  # pyright: ignore[reportPrivateUsage]
        elif streamed <= 0:
            part._set_transcript("")  # pyright: ignore[reportPrivateUsage]
        part.audio_ms = min(streamed, heard) if streamed > 0 else heard
        part.truncated_at_ms = event.audio_end_ms
        held = part._audio  # pyright: ignore[reportPrivateUsage]
        if held is not None:
            keep = int(heard * part.bytes_per_ms)
            keep -= keep % 2 if part.bytes_per_ms > 8 else 0
            if part.audio_complete:
                del held[keep:]
            else:
                dropped = max(0, int(streamed * part.bytes_per_ms) - len(held))
                del held[max(0, keep - dropped) :]
        return True

    # input audio and its transcription ---------------------------------------------------

    def _speech_started(self, event: InputAudioBufferSpeechStarted) -> bool:
        if len(self._speech) >= _PENDING_LIMIT:
            self._speech.clear()
        self._speech[event.item_id] = (event.audio_start_ms, None)
        return True

    def _speech_stopped(self, event: InputAudioBufferSpeechStopped) -> bool:
        start, _ = self._speech.get(event.item_id, (event.audio_end_ms, None))
        self._speech[event.item_id] = (start, event.audio_end_ms)
        item = self._items.get(event.item_id)
        if item is not None:
            self._early(item)
        return True

    def _early(self, item: Item) -> None:
        """Apply what arrived before the item itself: speech timing, transcription events."""
        speech = self._speech.get(item.id)
        if speech is not None and speech[1] is not None:
            for part in item.parts:
                if part.type == "input_audio":
                    part.audio_ms = float(speech[1] - speech[0])
                    del self._speech[item.id]
                    break
        early = self._early_transcripts.pop(item.id, None)
        if early:
            for event in early:
                self.apply(event)

    def _user_part(self, item_id: str, index: int, event: object) -> Part | None:
        item = self._items.get(item_id)
        if item is None:
            # Transcription may overtake the item's own events: hold it until the item comes.
            if len(self._early_transcripts) >= _PENDING_LIMIT:
                self._early_transcripts.clear()
            self._early_transcripts.setdefault(item_id, []).append(event)
            return None
        return item._part(index, "input_audio")  # pyright: ignore[reportPrivateUsage]

    def _transcription_delta(self, event: ConversationItemInputAudioTranscriptionDelta) -> bool:
        index = event.content_index if isinstance(event.content_index, int) else 0
        part = self._user_part(event.item_id, index, event)
        if part is None:
            return False
        if isinstance(event.delta, str):
            part._transcript.append(event.delta)  # pyright: ignore[reportPrivateUsage]
        return True

    def _transcription_completed(
        self, event: ConversationItemInputAudioTranscriptionCompleted
    ) -> bool:
        part = self._user_part(event.item_id, event.content_index, event)
        if part is None:
            return False
        part._set_transcript(event.transcript)  # pyright: ignore[reportPrivateUsage]
        usage = event.usage
        current = self._usage
        if isinstance(usage, TranscriptionUsageTokens):
            self._usage = _replace_usage(
                current,
                transcription_input_tokens=current.transcription_input_tokens + usage.input_tokens,
                transcription_output_tokens=current.transcription_output_tokens
                + usage.output_tokens,
            )
        elif isinstance(usage, TranscriptionUsageDuration):
            self._usage = _replace_usage(
                current, transcription_seconds=current.transcription_seconds + usage.seconds
            )
        return True

    def _transcription_segment(self, event: ConversationItemInputAudioTranscriptionSegment) -> bool:
        part = self._user_part(event.item_id, event.content_index, event)
        if part is None:
            return False
        part.segments.append(
            TranscriptSegment(event.id, event.text, event.speaker, event.start, event.end)
        )
        if not part._transcript:  # pyright: ignore[reportPrivateUsage]
            part._set_transcript(" ".join(s.text for s in part.segments))  # pyright: ignore[reportPrivateUsage]
        return True

    def _transcription_failed(self, event: ConversationItemInputAudioTranscriptionFailed) -> bool:
        part = self._user_part(event.item_id, event.content_index, event)
        if part is None:
            return False
        part.transcription_failed = True
        return True

    # responses ----------------------------------------------------------------------------

    def _response_created(self, event: ResponseCreated) -> bool:
        body = event.response
        if not isinstance(body.id, str):
            return False
        self._responses[body.id] = Response(body.id, body, _bytes_per_ms(self.session, body))
        return True

    def _response_done(self, event: ResponseDone) -> bool:
        body = event.response
        if not isinstance(body.id, str):
            return False
        response = self._responses.pop(body.id, None)
        if response is None:
            # Joined mid-response: the summary is all there is.
            response = Response(body.id, body, _bytes_per_ms(self.session, body))
        response.done = body
        if isinstance(body.output, list):
            for wire in body.output:
                item = self._known(wire)
                if item is not None:
                    item.response_id = body.id
                    response._add_output(item)  # pyright: ignore[reportPrivateUsage]
        finished = self._finished
        finished.append(response)
        while len(finished) > self._keep_responses:
            self._forget_response(finished.popleft())
        self._usage = _replace_usage(self._usage, responses=self._usage.responses + 1)
        if isinstance(body.usage, ResponseUsage):
            self._add_usage(body.usage)
        return True

    def _forget_response(self, response: Response) -> None:
        """Drop an aged-out response; out-of-band output lives nowhere else, so it goes too."""
        if not response.out_of_band:
            return
        for item in response.output:
            if not item.in_conversation and self._items.get(item.id) is item:
                del self._items[item.id]
                for part in item.parts:
                    self._retention.forget(part)

    def _add_usage(self, usage: ResponseUsage) -> None:
        current = self._usage
        inputs = usage.input_token_details
        outputs = usage.output_token_details
        has_inputs = inputs is not None and not isinstance(inputs, UnsetType)
        has_outputs = outputs is not None and not isinstance(outputs, UnsetType)
        self._usage = _replace_usage(
            current,
            total_tokens=current.total_tokens + _int(usage.total_tokens),
            input_tokens=current.input_tokens + _int(usage.input_tokens),
            output_tokens=current.output_tokens + _int(usage.output_tokens),
            input_text_tokens=current.input_text_tokens
            + (_int(inputs.text_tokens) if has_inputs and inputs else 0),
            input_audio_tokens=current.input_audio_tokens
            + (_int(inputs.audio_tokens) if has_inputs and inputs else 0),
            input_image_tokens=current.input_image_tokens
            + (_int(inputs.image_tokens) if has_inputs and inputs else 0),
            cached_tokens=current.cached_tokens
            + (_int(inputs.cached_tokens) if has_inputs and inputs else 0),
            output_text_tokens=current.output_text_tokens
            + (_int(outputs.text_tokens) if has_outputs and outputs else 0),
            output_audio_tokens=current.output_audio_tokens
            + (_int(outputs.audio_tokens) if has_outputs and outputs else 0),
            reasoning_tokens=current.reasoning_tokens
            + (_int(outputs.reasoning_tokens) if has_outputs and outputs else 0),
        )

    def _output_item(self, event: ResponseOutputItemAdded | ResponseOutputItemDone) -> bool:
        item = self._known(event.item)
        if item is None:
            return False
        item.response_id = event.response_id
        response = self._responses.get(event.response_id)
        if response is not None:
            response._add_output(item)  # pyright: ignore[reportPrivateUsage]
            for part in item.parts:
                part.bytes_per_ms = response.bytes_per_ms
        return True

    def _content_part(self, event: ResponseContentPartAdded | ResponseContentPartDone) -> bool:
        item = self._items.get(event.item_id)
        if item is None:
            return False
        wire = event.part
        part = item._part(event.content_index, wire.type)  # pyright: ignore[reportPrivateUsage]
        if part.wire is None or isinstance(event, ResponseContentPartDone):
            part.type = _PART_TYPES.get(wire.type, wire.type)
        response = self._responses.get(event.response_id)
        if response is not None:
            part.bytes_per_ms = response.bytes_per_ms
        if isinstance(event, ResponseContentPartDone) and part.truncated_at_ms is None:
            if isinstance(wire, (TextContent, OutputTextContent)) and isinstance(wire.text, str):
                if wire.text:
                    part._set_text(wire.text)  # pyright: ignore[reportPrivateUsage]
            elif (
                isinstance(wire, (AudioContent, OutputAudioContent))
                and isinstance(wire.transcript, str)
                and wire.transcript
            ):
                part._set_transcript(wire.transcript)  # pyright: ignore[reportPrivateUsage]
        return True

    def _delta_part(self, item_id: str, index: int, type: str) -> Part | None:
        item = self._items.get(item_id)
        if item is None:
            return None
        return item._part(index, type)  # pyright: ignore[reportPrivateUsage]

    def _text_delta(self, event: ResponseOutputTextDelta) -> bool:
        part = self._delta_part(event.item_id, event.content_index, "output_text")
        if part is None:
            return False
        part._text.append(event.delta)  # pyright: ignore[reportPrivateUsage]
        return True

    def _text_done(self, event: ResponseOutputTextDone) -> bool:
        part = self._delta_part(event.item_id, event.content_index, "output_text")
        if part is None:
            return False
        part._set_text(event.text)  # pyright: ignore[reportPrivateUsage]
        return True

    def _audio_delta(self, event: ResponseOutputAudioDelta) -> bool:
        part = self._delta_part(event.item_id, event.content_index, "output_audio")
        if part is None:
            return False
        data = event.delta
        part.audio_ms += len(data) / part.bytes_per_ms
        if part.truncated_at_ms is None:
            self._retention.add(part, data)
        return True

    def _transcript_delta(self, event: ResponseOutputAudioTranscriptDelta) -> bool:
        part = self._delta_part(event.item_id, event.content_index, "output_audio")
        if part is None or part.truncated_at_ms is not None:
            return False
        part._transcript.append(event.delta)  # pyright: ignore[reportPrivateUsage]
        return True

    def _transcript_done(self, event: ResponseOutputAudioTranscriptDone) -> bool:
        part = self._delta_part(event.item_id, event.content_index, "output_audio")
        if part is None or part.truncated_at_ms is not None:
            return False
        part._set_transcript(event.transcript)  # pyright: ignore[reportPrivateUsage]
        return True

    def _arguments_delta(self, event: ResponseFunctionCallArgumentsDelta) -> bool:
        item = self._items.get(event.item_id)
        if item is None:
            return False
        item._arguments.append(event.delta)  # pyright: ignore[reportPrivateUsage]
        return True

    def _arguments_done(self, event: ResponseFunctionCallArgumentsDone) -> bool:
        item = self._items.get(event.item_id)
        if item is None:
            return False
        item._arguments[:] = [event.arguments]  # pyright: ignore[reportPrivateUsage]
        return True

    # -- export ----------------------------------------------------------------------------

    def snapshot_item(self, item: Item) -> ConversationItem:
        """The item as it stands now: the server's copy with the text, transcripts and
        arguments the events added (audio bytes left out)."""
        wire = item.wire
        if isinstance(wire, FunctionCallItem):
            arguments = item.arguments
            if arguments != wire.arguments:
                return msgspec.structs.replace(wire, arguments=arguments)
            return wire
        if not isinstance(wire, MessageItem):
            return wire
        content: list[ContentPart] = []
        for index, part in enumerate(item.parts):
            content.append(_snapshot_part(part, wire.content, index))
        return msgspec.structs.replace(wire, content=content)

    def to_builtins(self, *, include_audio: bool = False) -> dict[str, Any]:
        """The state as plain data (dicts, lists, strings, numbers), ready for JSON.

        ``items`` are wire items (as :meth:`snapshot_item` gives them) plus a ``_state`` entry
        each (response id, audio duration, truncation). With ``include_audio`` the retained
        audio of each part is added as base64 under ``_state.audio``.
        """
        items: list[dict[str, Any]] = []
        for item in self:
            data = wire_builtins(self.snapshot_item(item))
            state: dict[str, Any] = {
                "response_id": item.response_id,
                "audio_ms": item.audio_ms,
                "truncated": item.truncated,
            }
            if include_audio:
                state["audio"] = [msgspec.to_builtins(p.audio) for p in item.parts]
            data["_state"] = state
            items.append(data)
        usage = self._usage
        return {
            "session": None if self.session is None else wire_builtins(self.session),
            "items": items,
            "responses": [_response_data(r) for r in self._responses.values()],
            "finished_responses": [_response_data(r) for r in self._finished],
            "usage": {name: getattr(usage, name) for name in usage.__dataclass_fields__},
            "rate_limits": [wire_builtins(limit) for limit in self.rate_limits],
        }

    def to_json(self, *, include_audio: bool = False) -> bytes:
        """:meth:`to_builtins` encoded as JSON (UTF-8 bytes)."""
        return _encoder.encode(self.to_builtins(include_audio=include_audio))

    def replay_events(self, *, include_audio: bool = True) -> list[ConversationItemCreate]:
        """The ``conversation.item.create`` events that rebuild this history in a new session.

        Send them in order. Each names the one before it as ``previous_item_id`` (the first
        ``"root"``), keeps its item's id and every field the server sent (``phase`` included).
        What a client may not create is converted: assistant audio becomes ``output_text`` with
        its (truncated) transcript; user audio is sent as audio when all of it is retained and
        ``include_audio`` is true, else as its transcript in ``input_text``. Items still in
        progress, empty messages, server-side MCP items and function outputs whose call is no
        longer in the conversation (the server would refuse them) are left out.
        """
        events: list[ConversationItemCreate] = []
        previous = "root"
        calls: set[str] = set()
        for item in self:
            replayed = self._replayable(item, include_audio)
            if replayed is None:
                continue
            if isinstance(replayed, FunctionCallItem) and isinstance(replayed.call_id, str):
                calls.add(replayed.call_id)
            elif isinstance(replayed, FunctionCallOutputItem) and replayed.call_id not in calls:
                continue
            events.append(ConversationItemCreate(item=replayed, previous_item_id=previous))
            previous = item.id
        return events

    def replay_item(self, item: Item, *, include_audio: bool = True) -> ConversationItem | None:
        """``item`` as a client may send it back in ``conversation.item.create`` (see
        :meth:`replay_events` for the conversions), or ``None`` when it cannot be replayed."""
        return self._replayable(item, include_audio)

    def _replayable(self, item: Item, include_audio: bool) -> ConversationItem | None:
        if item.status == "in_progress":
            return None
        wire = item.wire
        if isinstance(wire, FunctionCallOutputItem):
            return wire
        if isinstance(wire, FunctionCallItem):
            return self.snapshot_item(item)
        if not isinstance(wire, MessageItem):
            return None
        content: list[ContentPart] = []
        for index, part in enumerate(item.parts):
            converted = _replay_part(part, wire.content, index, include_audio)
            if converted is not None:
                content.append(converted)
        if not content:
            return None
        return msgspec.structs.replace(wire, content=content)


def _replace_usage(usage: Usage, **changes: Any) -> Usage:
    values = {name: getattr(usage, name) for name in usage.__dataclass_fields__}
    values.update(changes)
    return Usage(**values)


def _wire_part(content: list[ContentPart], index: int) -> ContentPart | None:
    return content[index] if index < len(content) else None


def _snapshot_part(part: Part, content: list[ContentPart], index: int) -> ContentPart:
    """The part as it stands: the server's copy (unknown fields kept) with our words."""
    wire = _wire_part(content, index) or part.wire
    kind = part.type
    if isinstance(wire, (InputTextContent, OutputTextContent, TextContent)):
        text = part.text
        if isinstance(wire, TextContent):
            return OutputTextContent(text=text)
        return msgspec.structs.replace(wire, text=text) if wire.text != text else wire
    if isinstance(wire, (InputAudioContent, OutputAudioContent, AudioContent)):
        transcript = part.transcript if (part.transcript or part.truncated) else wire.transcript
        if isinstance(wire, AudioContent):
            return OutputAudioContent(transcript=transcript)
        if wire.transcript != transcript or not isinstance(wire.audio, UnsetType):
            return msgspec.structs.replace(wire, transcript=transcript, audio=UNSET)
        return wire
    if wire is not None:
        return wire
    if kind == "output_audio":
        return OutputAudioContent(transcript=part.transcript)
    if kind == "input_audio":
        return InputAudioContent(transcript=part.transcript or None)
    if kind == "input_text":
        return InputTextContent(text=part.text)
    return OutputTextContent(text=part.text)


def _replay_part(
    part: Part, content: list[ContentPart], index: int, include_audio: bool
) -> ContentPart | None:
    """The part as a client may send it in ``conversation.item.create``."""
    snapshot = _snapshot_part(part, content, index)
    if isinstance(snapshot, OutputAudioContent):
        words = snapshot.transcript if isinstance(snapshot.transcript, str) else ""
        return OutputTextContent(text=words) if words else None
    if isinstance(snapshot, InputAudioContent):
        held = part._audio  # pyright: ignore[reportPrivateUsage]
        if include_audio and held and part.audio_complete:
            return msgspec.structs.replace(snapshot, audio=bytes(held))
        words = snapshot.transcript if isinstance(snapshot.transcript, str) else ""
        return InputTextContent(text=words) if words else None
    if isinstance(snapshot, (InputTextContent, OutputTextContent)) and not snapshot.text:
        return None
    return snapshot


def _response_data(response: Response) -> dict[str, Any]:
    final = response.done
    return {
        "id": response.id,
        "status": response.status,
        "out_of_band": response.out_of_band,
        "metadata": response.metadata,
        "output": [item.id for item in response.output],
        "status_details": None
        if final is None or isinstance(final.status_details, (UnsetType, type(None)))
        else wire_builtins(final.status_details),
        "usage": None if response.usage is None else wire_builtins(response.usage),
    }
