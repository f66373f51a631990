"""Carrying a conversation into a new session: a plan (pure) and applying it (I/O).

:func:`plan_restore` reads a folded :class:`~realtime_anyio.Conversation` and decides, without
any I/O, what a new session needs to continue where the old one stopped: the session
configuration the server last reported (minus what a client may not set), every item a client
may create, converted where the protocol demands it, and a plain account of what cannot be
carried over. :func:`apply_restore` sends such a plan on a connection: the configuration first,
then every item pipelined, and reports what the server accepted and refused.

The reconnect and rollover runtime calls both; they are public so that an application can
restore a saved conversation itself (say, after a restart).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import anyio
import anyio.lowlevel
import msgspec
from msgspec import UNSET, UnsetType

from ._connection import Expectation
from .conversation import Conversation, Item
from .events import (
    BaseServerEvent,
    ClientEvent,
    ConversationItem,
    ConversationItemAdded,
    ConversationItemCreate,
    ConversationItemCreated,
    ConversationItemDone,
    ConversationItemRetrieve,
    ConversationItemRetrieved,
    Error,
    ErrorDetails,
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudioContent,
    MessageItem,
    RealtimeSession,
    ReceivedEvent,
    Session,
    SessionUpdate,
    SessionUpdated,
)
from .events._lossless import to_builtins as wire_builtins

__all__ = [
    "RestorePlan",
    "RestoreReport",
    "RestoreTarget",
    "apply_restore",
    "plan_restore",
    "retrieve_last_user_audio",
]

# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestorePlan:
    """What a new session needs to continue a conversation; built by :func:`plan_restore`.

    ``session`` re-applies the configuration (``None`` when none was ever reported). ``items``
    are the ``conversation.item.create`` events in server order, each naming the one before it
    in ``previous_item_id`` (the first ``"root"``), with the original item ids, call ids,
    ``phase`` and every field this version does not know. ``owed_call_ids`` are the function
    calls the application still owes an output for (send it once, on the new session).
    ``replayed`` counts the items by kind; ``lost`` says in plain words what could not be carried
    over. ``anchor_audio_output`` is true when the session speaks: ask for audio explicitly on
    the next response, or a model that only sees text history may answer in text.
    """

    session: SessionUpdate | None
    items: list[ConversationItemCreate]
    owed_call_ids: tuple[str, ...] = ()
    replayed: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    lost: tuple[str, ...] = ()
    anchor_audio_output: bool = False
    #: The id of the item that carries the last user turn's own audio, if one does.
    audio_anchor_item_id: str | None = None
    #: The kind (as counted in ``replayed``) of each event in ``items``, in the same order.
    kinds: tuple[str, ...] = ()

    def __repr__(self) -> str:
        kinds = ", ".join(f"{k}={v}" for k, v in self.replayed.items())
        return (
            f"<RestorePlan {len(self.items)} items ({kinds}), "
            f"{len(self.owed_call_ids)} owed calls, {len(self.lost)} losses>"
        )


#: Session fields the server reports but refuses in ``session.update``. ``model`` is chosen
#: when connecting (``?model=``); resending it could only fail on a session of another model.
_READ_ONLY = ("id", "object", "expires_at")

_MCP_TYPES = ("mcp_call", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response")


def _plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {words or word + 's'}"


def _writable(session: Session) -> Session:
    """The session as a client may send it: read-only fields left out, unknown ones kept."""
    changes: dict[str, Any] = dict.fromkeys(_READ_ONLY, UNSET)
    if isinstance(session, RealtimeSession):
        changes["model"] = UNSET
    return msgspec.structs.replace(session, **changes)


def _speaks(session: Session | None) -> bool:
    if not isinstance(session, RealtimeSession):
        return False
    modalities = session.output_modalities
    return isinstance(modalities, list) and "audio" in modalities


def _last_user_turn(history: Conversation) -> Item | None:
    last: Item | None = None
    for item in history:
        if item.role == "user" and item.status != "in_progress":
            last = item
    return last


def plan_restore(
    history: Conversation,
    *,
    include_audio: bool = True,
    session: Session | RealtimeSession | None = None,
) -> RestorePlan:
    """Plan the restore of ``history`` into a new session (pure: no I/O, nothing changed).

    ``session`` is the configuration to re-apply; ``None`` takes the one ``history`` folded
    from ``session.created`` / ``session.updated``. Replayed, in server order: user text, and
    user audio as its transcript (the last user turn as its own audio when ``include_audio``
    is true and ``history`` kept all of it, see ``keep_audio``); system messages; what the
    assistant said as it was heard (its transcripts after truncation) in ``output_text`` parts,
    ``phase`` kept; function calls and their outputs with their ids and call ids. Left out and
    listed in ``lost``: items still in progress, MCP items, assistant replies cut before a word
    was heard, user audio with no transcript, outputs whose call is gone, calls interrupted
    (``incomplete``) before they ran and never answered.
    """
    effective = history.session if session is None else session
    lost: list[str] = []
    counts: dict[str, int] = {}
    items: list[ConversationItemCreate] = []
    kinds: list[str] = []
    anchor = _last_user_turn(history) if include_audio else None
    anchor_id: str | None = None
    calls: dict[str, None] = {}  # call ids replayed, in order (a dict keeps the order)
    answered: set[str] = set()
    # An interrupted call (status ``incomplete``: its arguments were cut off) never ran, so
    # nobody owes its output; it is replayed only when an output for it exists anyway.
    outputs = {
        item.wire.call_id for item in history if isinstance(item.wire, FunctionCallOutputItem)
    }
    in_progress = mcp = unheard = silent_user = orphan_outputs = empty = interrupted = 0
    assistant_audio = user_audio_as_text = 0
    previous = "root"

    def keep(kind: str, wire: ConversationItem, item_id: str) -> None:
        nonlocal previous
        items.append(ConversationItemCreate(item=wire, previous_item_id=previous))
        kinds.append(kind)
        counts[kind] = counts.get(kind, 0) + 1
        previous = item_id

    for item in history:
        wire = item.wire
        if item.status == "in_progress":
            in_progress += 1
            continue
        if wire.type in _MCP_TYPES:
            mcp += 1
            continue
        if isinstance(wire, FunctionCallOutputItem):
            if wire.call_id not in calls:
                orphan_outputs += 1
                continue
            answered.add(wire.call_id)
            keep("function_call_output", wire, item.id)
            continue
        replayed = history.replay_item(item, include_audio=item is anchor)
        if isinstance(wire, FunctionCallItem):
            if replayed is None or not isinstance(wire.call_id, str):
                empty += 1
                continue
            if item.status == "incomplete" and wire.call_id not in outputs:
                interrupted += 1
                continue
            calls[wire.call_id] = None
            keep("function_call", replayed, item.id)
            continue
        if not isinstance(wire, MessageItem):
            empty += 1  # a type this version cannot replay
            continue
        spoken = any(p.type == "output_audio" for p in item.parts)
        heard_audio = any(p.type == "input_audio" for p in item.parts)
        if replayed is None or not isinstance(replayed, MessageItem):
            if wire.role == "assistant" and spoken:
                unheard += 1
            elif heard_audio:
                silent_user += 1
            else:
                empty += 1
            continue
        if wire.role == "assistant":
            if spoken:
                assistant_audio += 1
            keep("assistant", replayed, item.id)
        elif wire.role == "user":
            carries_audio = any(
                isinstance(c, InputAudioContent) and not isinstance(c.audio, UnsetType)
                for c in replayed.content
            )
            if carries_audio:
                anchor_id = item.id
                keep("user_audio", replayed, item.id)
            elif heard_audio:
                user_audio_as_text += 1
                keep("user_transcript", replayed, item.id)
            else:
                keep("user_text", replayed, item.id)
        else:
            keep(wire.role, replayed, item.id)

    if assistant_audio:
        lost.append(
            f"assistant audio of {_plural(assistant_audio, 'item')} (kept as their heard "
            "transcripts)"
        )
    if user_audio_as_text:
        lost.append(
            f"user audio of {_plural(user_audio_as_text, 'turn')} (kept as their transcripts)"
        )
    if unheard:
        replies = _plural(unheard, "assistant reply", "assistant replies")
        lost.append(f"{replies} cut before a word was heard")
    if silent_user:
        lost.append(f"{_plural(silent_user, 'user audio turn')} with no transcript")
    if in_progress:
        lost.append(f"{_plural(in_progress, 'item')} still in progress")
    if interrupted:
        lost.append(f"{_plural(interrupted, 'function call')} cut off before running")
    if mcp:
        lost.append(f"{_plural(mcp, 'MCP item')}")
    if orphan_outputs:
        lost.append(f"{_plural(orphan_outputs, 'function output')} whose call is gone")
    if empty:
        lost.append(f"{_plural(empty, 'empty item')}")
    update: SessionUpdate | None = None
    if effective is None:
        lost.append("the session configuration (none was reported)")
    else:
        update = SessionUpdate(session=_writable(effective))
    owed = tuple(call_id for call_id in calls if call_id not in answered)
    return RestorePlan(
        session=update,
        items=items,
        owed_call_ids=owed,
        replayed=MappingProxyType(counts),
        lost=tuple(lost),
        anchor_audio_output=_speaks(effective),
        audio_anchor_item_id=anchor_id,
        kinds=tuple(kinds),
    )


# -- applying it ------------------------------------------------------------------------------


class RestoreTarget(Protocol):
    """What :func:`apply_restore` needs of a connection (a :class:`RealtimeConnection` has it)."""

    async def send(self, event: ClientEvent | Mapping[str, Any]) -> None:
        """Send one client event.

        Cancellation: nothing is sent when cancelled before the event was accepted.
        """
        ...

    def send_nowait(self, event: ClientEvent | Mapping[str, Any]) -> None:
        """Queue one client event without waiting; ``anyio.WouldBlock`` when the queue is full."""
        ...

    async def receive(self) -> ReceivedEvent:
        """The next event.

        Cancellation: safe; no event is lost.
        """
        ...

    def receive_nowait(self) -> ReceivedEvent:
        """The next buffered event; ``anyio.WouldBlock`` when there is none."""
        ...

    def expect(
        self,
        *types: str | type[BaseServerEvent],
        predicate: Callable[[ReceivedEvent], bool] | None = None,
    ) -> Expectation[ReceivedEvent]:
        """A wait registered before sending what it answers."""
        ...


@dataclass(frozen=True)
class RestoreReport:
    """What :func:`apply_restore` did.

    ``restored`` are the ids of the items the server confirmed, in plan order; ``refused`` maps
    the ids it would not take to its reason (``"code: message"``, secrets scrubbed).
    ``session_error`` is the reason the configuration was refused (``None`` when it was applied
    or there was none to apply). ``dropped_fields`` names the fields the server called unknown,
    left out of a second attempt (``"session.x"``, ``"item_1: item.x"``). ``unclaimed`` holds
    the events received while restoring that were not replies to it (with ``consume=True``).
    """

    sent: int
    restored: tuple[str, ...]
    refused: Mapping[str, str]
    session_applied: bool
    session_error: str | None
    dropped_fields: tuple[str, ...]
    passes: int
    seconds: float
    unclaimed: tuple[ReceivedEvent, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether everything in the plan was accepted."""
        return not self.refused and self.session_error is None

    def __repr__(self) -> str:
        return (
            f"<RestoreReport {len(self.restored)} restored, {len(self.refused)} refused, "
            f"session {'applied' if self.session_applied else 'not applied'}, "
            f"{self.seconds * 1000:.1f} ms>"
        )


#: Looks like a credential: OpenAI keys, ephemeral keys, bearer tokens.
_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|ek_[A-Za-z0-9_\-]{6,}|Bearer\s+\S+)")

#: How many fields the server may call unknown in one item or the session before giving up.
_MAX_DROPS = 8


def _default_scrub(text: str) -> str:
    return _SECRET.sub("<redacted>", text)


def _reason(details: ErrorDetails, scrub: Callable[[str], str]) -> str:
    code = details.code if isinstance(details.code, str) else details.type
    return f"{code}: {scrub(details.message)}"


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _drop_path(data: dict[str, Any], path: str, root: str) -> bool:
    """Remove the member of ``data`` that ``path`` names (``"item.content[0].x"``), if ``path``
    starts at ``root``; say whether it did."""
    steps: list[str | int] = [
        name if name else int(index) for name, index in _PATH_PART.findall(path)
    ]
    if not steps or steps[0] != root or len(steps) < 2:
        return False
    node: Any = data
    try:
        for step in steps[:-1]:
            node = node[step]
    except (KeyError, IndexError, TypeError):
        return False
    last = steps[-1]
    if isinstance(node, dict) and last in node:
        del node[last]
        return True
    return False


class _Tracker:
    """Matches replies to what one round sent; no I/O, never raises."""

    __slots__ = (
        "accepted",
        "by_event",
        "finished",
        "open",
        "refused",
        "session_event",
        "session_reply",
        "want_done",
    )

    def __init__(self, *, want_done: bool = False) -> None:
        self.open: set[str] = set()  # item ids not answered yet
        self.by_event: dict[str, str] = {}  # event id -> item id
        self.accepted: set[str] = set()
        self.finished: set[str] = set()  # accepted items whose conversation.item.done came
        self.refused: dict[str, ErrorDetails] = {}
        self.session_event: str | None = None
        self.session_reply: SessionUpdated | ErrorDetails | None = None
        # When the restore takes the events itself, it also waits for each item's ``done``
        # (which follows its ``added`` at once) so that none reaches the app afterwards; a
        # server that sends no ``done`` at all is not waited for.
        self.want_done = want_done

    @property
    def done(self) -> bool:
        if self.open or (self.session_event is not None and self.session_reply is None):
            return False
        finished = self.finished
        return not (self.want_done and finished) or len(finished) == len(self.accepted)

    def feed(self, event: object) -> bool:
        """Take ``event`` into account; return whether it answered this round."""
        if isinstance(event, (ConversationItemAdded, ConversationItemCreated)):
            item_id = event.item.id
            if isinstance(item_id, str) and item_id in self.open:
                self.open.discard(item_id)
                self.accepted.add(item_id)
                return True
            return False
        if isinstance(event, ConversationItemDone):
            item_id = event.item.id
            if isinstance(item_id, str) and item_id in self.accepted:
                self.finished.add(item_id)
                return True
            return False
        if isinstance(event, Error):
            target = event.error.event_id
            if not isinstance(target, str):
                return False
            if target == self.session_event and self.session_reply is None:
                self.session_reply = event.error
                return True
            item_id = self.by_event.get(target)
            if item_id is not None and item_id in self.open:
                self.open.discard(item_id)
                self.refused[item_id] = event.error
                return True
            return False
        if (
            isinstance(event, SessionUpdated)
            and self.session_event is not None
            and self.session_reply is None
        ):
            self.session_reply = event
            return True
        return False

    def step(self, event: object) -> bool:
        self.feed(event)
        return self.done


async def _exchange(
    conn: RestoreTarget,
    tracker: _Tracker,
    events: list[ClientEvent | dict[str, Any]],
    *,
    consume: bool,
    unclaimed: list[ReceivedEvent],
) -> None:
    """Send ``events`` and wait until ``tracker`` has a reply to each."""
    if not consume:
        # Registered before the first send, so no reply can slip past; the app's own receive
        # loop keeps the events flowing.
        with conn.expect(predicate=tracker.step) as replies:
            for event in events:
                await conn.send(event)
            if not tracker.done:
                await replies.wait()
        return
    # Receiving while sending: the replies to a thousand items would fill the receive buffer
    # and stall the server (and then our sends) if they waited until the sends were done.
    failure: list[Exception] = []
    body_error: Exception | None = None

    async def send_all(scope: anyio.CancelScope) -> None:
        # Queue without a checkpoint per item while the send queue has room; a full queue
        # waits (and yields), which paces this task by the network.
        try:
            for event in events:
                try:
                    conn.send_nowait(event)
                except anyio.WouldBlock:
                    await conn.send(event)
        except Exception as exc:  # the connection ended; the receive side says so too
            failure.append(exc)
            scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(send_all, tg.cancel_scope)
        try:
            while not tracker.done:
                try:
                    event = conn.receive_nowait()
                except anyio.WouldBlock:
                    event = await conn.receive()
                if not tracker.feed(event):
                    unclaimed.append(event)
        except Exception as exc:
            body_error = exc
        tg.cancel_scope.cancel()
    if body_error is not None:
        raise body_error
    if failure:
        raise failure[0]


def _holds_own_audio(item: Item) -> bool:
    parts = [p for p in item.parts if p.type == "input_audio"]
    return bool(parts) and all(p.audio and p.audio_complete for p in parts)


async def retrieve_last_user_audio(
    conn: RestoreTarget,
    history: Conversation,
    *,
    timeout: float = 5.0,  # noqa: ASYNC109 - one request; the caller's budget, like apply_restore's
) -> bool:
    """Fetch the server's copy of the last user turn into ``history``, with its audio.

    The server's item events carry no audio, so a history holds the user's own voice only from
    ``conversation.item.retrieved``; call this on the old connection while it is still open (a
    planned rollover can) and :func:`plan_restore` then anchors the new session with that
    audio. ``history`` must keep audio (``Conversation(keep_audio=...)``). It only watches the
    connection: another task must be receiving from it. Returns whether the last user turn now
    holds all of its audio (``False`` when it has none, as for a typed turn).

    Cancellation: safe; the request may have been sent (its reply is harmless).
    """
    await anyio.lowlevel.checkpoint()
    item = _last_user_turn(history)
    if item is None or not any(p.type == "input_audio" for p in item.parts):
        return False
    if _holds_own_audio(item):
        return True
    event_id = f"restore_{os.urandom(4).hex()}_retrieve"
    wanted = item.id

    def answers(event: ReceivedEvent) -> bool:
        if isinstance(event, ConversationItemRetrieved):
            return event.item.id == wanted
        return isinstance(event, Error) and event.error.event_id == event_id

    with anyio.fail_after(timeout), conn.expect(predicate=answers) as reply:
        await conn.send(ConversationItemRetrieve(item_id=wanted, event_id=event_id))
        event = await reply.wait()
    if isinstance(event, ConversationItemRetrieved) and not _holds_own_audio(item):
        history.apply(event)  # a history of its own, not the one the connection folds
    return _holds_own_audio(item)


async def apply_restore(
    conn: RestoreTarget,
    plan: RestorePlan,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - the restore's own budget, one per phase would do worse
    consume: bool = True,
    scrub: Callable[[str], str] | None = None,
) -> RestoreReport:
    """Apply ``plan`` on ``conn`` (a new, empty session) and report what the server accepted.

    Sends the ``session.update`` and waits for ``session.updated``, then sends every item
    without waiting between them and waits for each item's ``conversation.item.added`` (or an
    ``error`` naming it). When the server refuses an item, the items chained after it are sent
    again after the last accepted one; a field the server calls unknown is left out of a
    second attempt (see ``dropped_fields``). Owed tool outputs and the audio anchor for the
    next response are left to the caller (``plan.owed_call_ids``, ``plan.anchor_audio_output``).

    ``consume=True`` (the default, for a connection nobody else reads yet) receives the events
    itself: the replies to the restore (each item's ``added`` and ``done``) are taken, anything
    else is kept in the report's ``unclaimed`` in order.
    ``consume=False`` only watches (:meth:`~RealtimeConnection.expect`) and takes nothing
    away; then some other task must keep receiving from ``conn``, or the receive buffer fills
    and the restore stalls until ``timeout``. ``scrub`` cleans error messages of secrets
    (default: anything shaped like an API key or bearer token).

    Raises ``TimeoutError`` when ``timeout`` seconds pass first and
    :class:`ConnectionClosed` when the connection ends.

    Cancellation: safe in that nothing stays registered or running; items may have been sent
    already, so discard a connection whose restore was cancelled.
    """
    await anyio.lowlevel.checkpoint()
    clean = scrub or _default_scrub
    started = anyio.current_time()
    token = os.urandom(4).hex()
    unclaimed: list[ReceivedEvent] = []
    dropped: list[str] = []
    sent = 0
    passes = 0
    session_applied = False
    session_error: str | None = None
    with anyio.fail_after(timeout):
        if plan.session is not None:
            data: dict[str, Any] = wire_builtins(plan.session)
            for attempt in range(_MAX_DROPS + 1):
                tracker = _Tracker()
                event_id = tracker.session_event = f"restore_{token}_session_{attempt}"
                data["event_id"] = event_id
                await _exchange(conn, tracker, [data], consume=consume, unclaimed=unclaimed)
                reply = tracker.session_reply
                if isinstance(reply, SessionUpdated):
                    session_applied = True
                    session_error = None
                    break
                if not isinstance(reply, ErrorDetails):
                    break  # unreachable: the tracker is done only once there is a reply
                session_error = _reason(reply, clean)
                param = reply.param if isinstance(reply.param, str) else ""
                if reply.code != "unknown_parameter" or attempt == _MAX_DROPS:
                    break
                if not _drop_path(data, param, "session"):
                    break
                dropped.append(param)
        order = [create.item.id for create in plan.items]
        restored, refused, sent, passes = await _apply_items(
            conn, plan.items, token, clean, dropped, consume=consume, unclaimed=unclaimed
        )
    kept = tuple(i for i in order if isinstance(i, str) and i in restored)
    return RestoreReport(
        sent=sent,
        restored=kept,
        refused=MappingProxyType(refused),
        session_applied=session_applied,
        session_error=session_error,
        dropped_fields=tuple(dropped),
        passes=passes,
        seconds=anyio.current_time() - started,
        unclaimed=tuple(unclaimed),
    )


class _Entry:
    """One planned item through the rounds of :func:`_apply_items`."""

    __slots__ = ("create", "data", "drops", "item_id")

    def __init__(self, create: ConversationItemCreate, item_id: str) -> None:
        self.create = create
        self.item_id = item_id
        self.data: dict[str, Any] | None = None  # the wire form, once a field had to go
        self.drops = 0

    def event(self, event_id: str, previous: str) -> ClientEvent | dict[str, Any]:
        data = self.data
        if data is None:
            return msgspec.structs.replace(
                self.create, event_id=event_id, previous_item_id=previous
            )
        return {**data, "event_id": event_id, "previous_item_id": previous}


async def _apply_items(
    conn: RestoreTarget,
    creates: Iterable[ConversationItemCreate],
    token: str,
    clean: Callable[[str], str],
    dropped: list[str],
    *,
    consume: bool,
    unclaimed: list[ReceivedEvent],
) -> tuple[set[str], dict[str, str], int, int]:
    entries: list[_Entry] = []
    refused: dict[str, str] = {}
    for index, create in enumerate(creates):
        item_id = create.item.id
        if not isinstance(item_id, str):
            # The plan always carries ids; a hand-made one may not: give it one, so the reply
            # can be matched.
            item_id = f"item_restore_{token}_{index}"
            create = msgspec.structs.replace(
                create, item=msgspec.structs.replace(create.item, id=item_id)
            )
        entries.append(_Entry(create, item_id))
    accepted: set[str] = set()
    sent = passes = 0
    todo = entries
    while todo:
        passes += 1
        tracker = _Tracker(want_done=consume)
        batch: list[ClientEvent | dict[str, Any]] = []
        sent_previous: dict[str, str] = {}
        previous = "root"
        position = {id(e): n for n, e in enumerate(entries)}
        pending = {id(e) for e in todo}
        for entry in entries:
            if entry.item_id in accepted:
                previous = entry.item_id
                continue
            if id(entry) not in pending:
                continue
            event_id = f"restore_{token}_{passes}_{position[id(entry)]}"
            tracker.by_event[event_id] = entry.item_id
            tracker.open.add(entry.item_id)
            sent_previous[entry.item_id] = previous
            batch.append(entry.event(event_id, previous))
            previous = entry.item_id
        sent += len(batch)
        await _exchange(conn, tracker, batch, consume=consume, unclaimed=unclaimed)
        accepted |= tracker.accepted
        retry: list[_Entry] = []
        for entry in todo:
            details = tracker.refused.get(entry.item_id)
            if details is None:
                continue
            before = sent_previous[entry.item_id]
            if before != "root" and before not in accepted:
                retry.append(entry)  # refused because the item before it was
                continue
            param = details.param if isinstance(details.param, str) else ""
            if details.code == "unknown_parameter" and entry.drops < _MAX_DROPS:
                data = entry.data
                if data is None:
                    data = wire_builtins(entry.create)
                if _drop_path(data, param, "item"):
                    entry.data = data
                    entry.drops += 1
                    dropped.append(f"{entry.item_id}: {param}")
                    retry.append(entry)
                    continue
            refused[entry.item_id] = _reason(details, clean)
        todo = retry
    return accepted, refused, sent, passes
