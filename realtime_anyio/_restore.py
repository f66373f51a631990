"""Carry a conversation into a fresh session: what to send (``plan_restore``) and sending it.

A restore plan is the effective session configuration as one ``session.update`` plus the
``conversation.item.create`` events that rebuild the history (see
:meth:`Conversation.replay_events`), with what could not be carried over named in ``lost``.
:func:`apply_restore` sends it on a new connection, pipelined, and waits for the server's
acknowledgements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import anyio
import anyio.lowlevel
import msgspec

from ._connection import RealtimeConnection
from ._errors import ServerError
from .conversation import Conversation
from .events import (
    ConversationItemAdded,
    ConversationItemCreate,
    Error,
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
    RealtimeSession,
    Session,
    SessionUpdate,
)

__all__ = ["RestorePlan", "RestoreReport", "apply_restore", "plan_restore"]


@dataclass(frozen=True)
class RestorePlan:
    """What a restore sends, and what it cannot carry over.

    ``replayed`` counts the items by kind; ``owed_call_ids`` names the function calls that have
    no output yet (the app still owes them one); ``lost`` says in words what is left behind;
    ``anchor_audio_output`` is true when the session answers in audio.
    """

    session: SessionUpdate | None
    items: list[ConversationItemCreate]
    owed_call_ids: tuple[str, ...]
    replayed: Mapping[str, int]
    lost: tuple[str, ...]
    anchor_audio_output: bool


@dataclass(frozen=True)
class RestoreReport:
    """What :func:`apply_restore` did: items acknowledged, and how long it took."""

    items: int
    session_updated: bool
    seconds: float


def _writable(session: Session) -> Session:
    # The server reports these; a client may not send them back (the model is chosen at connect).
    if isinstance(session, RealtimeSession):
        return msgspec.structs.replace(
            session,
            id=msgspec.UNSET,
            object=msgspec.UNSET,
            expires_at=msgspec.UNSET,
            model=msgspec.UNSET,
        )
    return msgspec.structs.replace(
        session, id=msgspec.UNSET, object=msgspec.UNSET, expires_at=msgspec.UNSET
    )


def plan_restore(
    history: Conversation,
    *,
    include_audio: bool = True,
    session: Session | RealtimeSession | None = None,
) -> RestorePlan:
    """The events that rebuild ``history`` (and ``session``, else its effective configuration)."""
    effective = session if session is not None else history.session
    items = history.replay_events(include_audio=include_audio)
    counts: dict[str, int] = {}
    called: list[str] = []
    answered: set[str] = set()
    for event in items:
        item = event.item
        counts[item.type] = counts.get(item.type, 0) + 1
        if isinstance(item, FunctionCallItem) and isinstance(item.call_id, str):
            called.append(item.call_id)
        elif isinstance(item, FunctionCallOutputItem):
            answered.add(item.call_id)
    lost: list[str] = []
    spoken = sum(
        1
        for item in history
        if isinstance(item.wire, MessageItem) and item.role == "assistant" and item.audio_ms > 0
    )
    if spoken:
        lost.append(f"assistant audio of {spoken} item(s) (replayed as transcripts)")
    skipped = len(history) - len(items)
    if skipped > 0:
        lost.append(f"{skipped} item(s) that cannot be created by a client")
    audio_out = (
        isinstance(effective, RealtimeSession)
        and isinstance(effective.output_modalities, list)
        and "audio" in effective.output_modalities
    )
    return RestorePlan(
        session=None if effective is None else SessionUpdate(session=_writable(effective)),
        items=items,
        owed_call_ids=tuple(c for c in called if c not in answered),
        replayed=MappingProxyType(counts),
        lost=tuple(lost),
        anchor_audio_output=audio_out,
    )


async def apply_restore(
    conn: RealtimeConnection,
    plan: RestorePlan,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - the shared restore interface takes a timeout
) -> RestoreReport:
    """Send ``plan`` on ``conn`` (a fresh session) and wait until the server acknowledged it.

    The session update is sent first and awaited; the items follow back to back, and the wait
    ends with the last item's ``conversation.item.added``. Raises :class:`ServerError` when the
    server rejects one of them, ``TimeoutError`` after ``timeout`` seconds.

    Cancellation: safe; the connection is left with part of the plan applied.
    """
    await anyio.lowlevel.checkpoint()
    started = anyio.current_time()
    with anyio.fail_after(timeout):
        if plan.session is not None:
            await conn.request(plan.session)
        if plan.items:
            ids = {conn.next_event_id(): event for event in plan.items}
            last = plan.items[-1].item.id

            def settles(event: object) -> bool:
                if isinstance(event, ConversationItemAdded):
                    return event.item.id == last
                return isinstance(event, Error) and event.error.event_id in ids

            with conn.expect(ConversationItemAdded, Error, predicate=settles) as settled:
                for event_id, event in ids.items():
                    await conn.send(msgspec.structs.replace(event, event_id=event_id))
                outcome = await settled.wait()
            if isinstance(outcome, Error):
                details = outcome.error
                raise ServerError(
                    type=details.type,
                    code=details.code if isinstance(details.code, str) else None,
                    message=details.message,
                    event_id=details.event_id if isinstance(details.event_id, str) else None,
                    error=details,
                )
    return RestoreReport(
        items=len(plan.items),
        session_updated=plan.session is not None,
        seconds=anyio.current_time() - started,
    )
