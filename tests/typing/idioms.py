# pyright: strict
"""The documented ways of telling received events apart, as pyright strict sees them.

Checked by ``tests/test_typing_idioms.py``, which runs pyright on this file and compares each
``reveal_type`` with the ``# revealed:`` comment on its line. Never executed.
"""

from __future__ import annotations

from typing_extensions import reveal_type

from realtime_anyio import (
    Conversation,
    InvalidServerEvent,
    RealtimeConnection,
    ReceivedEvent,
    RestoreTarget,
    apply_restore,
    plan_restore,
)
from realtime_anyio.events import (
    MessageItem,
    ResponseDone,
    ResponseOutputAudioDelta,
    ResponseOutputTextDelta,
    UnknownServerEvent,
    has_unknown_fields,
)


async def the_receive_loop(conn: RealtimeConnection) -> None:
    async for event in conn:
        if event.type == "response.done":
            reveal_type(event)  # revealed: ResponseDone
            reveal_type(event.response.status)  # revealed: str | UnsetType
        elif event.type == "response.output_audio.delta":
            reveal_type(event.delta)  # revealed: bytes
        elif event.type == "unknown_server_event":
            reveal_type(event)  # revealed: UnknownServerEvent
            reveal_type(event.wire_type)  # revealed: str
        elif event.type == "invalid_server_event":
            reveal_type(event)  # revealed: InvalidServerEvent
            reveal_type(event.error.path)  # revealed: str | None


def comparing_the_type(event: ReceivedEvent) -> None:
    if event.type != "response.done":
        return
    reveal_type(event)  # revealed: ResponseDone
    usage = event.response.usage
    if usage and usage.output_token_details:
        reveal_type(usage.output_token_details.reasoning_tokens)  # revealed: int | UnsetType


def matching_the_type_string(event: ReceivedEvent) -> None:
    match event.type:
        case "response.output_text.delta":
            reveal_type(event)  # revealed: ResponseOutputTextDelta
        case "response.done" | "response.created":
            reveal_type(event)  # revealed: ResponseDone | ResponseCreated
            reveal_type(event.response.id)  # revealed: str | UnsetType
        case _:
            pass


def matching_classes(event: ReceivedEvent) -> None:
    match event:
        case ResponseOutputAudioDelta(delta=pcm):
            reveal_type(pcm)  # revealed: bytes
        case ResponseDone(response=response):
            reveal_type(response.status)  # revealed: str | UnsetType
        case UnknownServerEvent(wire_type=kind):
            reveal_type(kind)  # revealed: str
        case InvalidServerEvent(raw=raw):
            reveal_type(raw)  # revealed: bytes | str
        case _:
            pass


def isinstance_checks(event: ReceivedEvent) -> None:
    if isinstance(event, (ResponseOutputTextDelta, ResponseOutputAudioDelta)):
        reveal_type(event.item_id)  # revealed: str
    if isinstance(event, ResponseDone) and event.response.output:
        for item in event.response.output:
            if item.type == "message":
                reveal_type(item)  # revealed: MessageItem
                reveal_type(item.phase)  # revealed: str | UnsetType | None


def unknown_members(item: MessageItem) -> None:
    reveal_type(item.unknown_fields)  # revealed: UnknownFields | UnsetType
    reveal_type(has_unknown_fields(item))  # revealed: bool


async def a_connection_is_a_restore_target(conn: RealtimeConnection, history: Conversation) -> None:
    target: RestoreTarget = conn
    report = await apply_restore(target, plan_restore(history), timeout=10)
    reveal_type(report.refused)  # revealed: Mapping[str, str]
