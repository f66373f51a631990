"""Restoring a real conversation into a second connection of the bundled server, both backends."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from realtime_anyio import (
    Conversation,
    RealtimeConnection,
    apply_restore,
    open_realtime,
    plan_restore,
    retrieve_last_user_audio,
)
from realtime_anyio.audio import silence, speech
from realtime_anyio.events import (
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemRetrieved,
    FunctionCallItem,
    FunctionCallOutputItem,
    InputAudioContent,
    MessageItem,
    OutputTextContent,
    ResponseDone,
    decode_server_event,
    function_call_output,
    user_text,
)
from realtime_anyio.testing import FakeRealtimeServer

SESSION: dict[str, Any] = {
    "type": "realtime",
    "instructions": "Answer briefly, in French.",
    "output_modalities": ["audio"],
    "tools": [
        {
            "type": "function",
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ],
    "tool_choice": "auto",
    "audio": {
        "input": {
            "transcription": {"model": "whisper-1"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 300},
        },
        "output": {"voice": "verse", "speed": 1.1},
    },
}


async def drain(conn: RealtimeConnection) -> None:
    async for _ in conn:
        pass


def connect(server: FakeRealtimeServer, history: bool | Conversation = True) -> Any:
    return open_realtime(
        model="gpt-realtime", websocket_base_url=server.url, api_key="sk-test", history=history
    )


async def respond(conn: RealtimeConnection) -> ResponseDone:
    with conn.expect(ResponseDone) as done:
        await conn.response.create()
        return await done.wait()


async def build_history(server: FakeRealtimeServer) -> Conversation:
    """A real session: text turns, a phase, a tool call answered, a truncated spoken reply,
    a spoken user turn (server VAD) and a tool call still owed."""
    script = server.script
    script.reply_text("Bonjour !")
    script.reply_tool_call("get_weather", {"city": "Rome"}, call_id="call_rome")
    script.reply_audio("Il fait beau a Rome et il fera chaud toute la journee.")
    script.reply_tool_call("get_weather", {"city": "Paris"}, call_id="call_paris")
    script.transcripts("And in Paris?")
    history = Conversation(keep_audio="all")
    async with connect(server, history) as conn, anyio.create_task_group() as tg:
        tg.start_soon(drain, conn)
        await conn.session.update(session=SESSION, wait=True)
        await conn.conversation.item.create(item=user_text("Hi", id="item_hi"), wait=True)
        await respond(conn)
        said = MessageItem(
            role="assistant",
            id="item_phase",
            content=[OutputTextContent(text="Je regarde.")],
            phase="commentary",
        )
        await conn.conversation.item.create(item=said, wait=True)
        await conn.conversation.item.create(item=user_text("Weather in Rome?"), wait=True)
        await respond(conn)
        await conn.conversation.item.create(
            item=function_call_output("call_rome", '{"sky": "sunny"}'), wait=True
        )
        spoken = await respond(conn)
        output = spoken.response.output
        assert isinstance(output, list)
        (reply,) = output
        assert isinstance(reply.id, str)
        await conn.conversation.item.truncate(
            item_id=reply.id, content_index=0, audio_end_ms=1200, wait=True
        )
        with (
            conn.expect(ResponseDone) as done,
            conn.expect(ConversationItemInputAudioTranscriptionCompleted) as heard,
        ):
            await conn.input_audio_buffer.append(speech("And in Paris?") + silence(1.0))
            await done.wait()
            await heard.wait()
        # Item events carry no audio: the server's copy brings the user's own voice into the
        # history, so the restore can anchor the last turn with it.
        assert not any(p.audio for p in history.items[-2].parts)
        assert await retrieve_last_user_audio(conn, history)
        assert await retrieve_last_user_audio(conn, history)  # already there: no request
        tg.cancel_scope.cancel()
    return history


async def test_a_real_conversation_comes_back_whole(realtime_server: FakeRealtimeServer) -> None:
    with anyio.fail_after(30):
        history = await build_history(realtime_server)
        plan = plan_restore(history)
        assert dict(plan.replayed) == {
            "user_text": 2,
            "assistant": 3,
            "function_call": 2,
            "function_call_output": 1,
            "user_audio": 1,
        }
        assert plan.owed_call_ids == ("call_paris",)
        assert plan.anchor_audio_output is True
        assert plan.lost == ("assistant audio of 2 items (kept as their heard transcripts)",)
        truncated = next(i for i in history if i.truncated)
        assert (
            0 < len(truncated.text) < len("Il fait beau a Rome et il fera chaud toute la journee.")
        )
        async with connect(realtime_server) as conn:
            report = await apply_restore(conn, plan, timeout=10)
            assert report.complete and report.session_applied and report.passes == 1
            assert report.restored == tuple(i.id for i in history)
            assert report.sent == len(history)
            copies: list[ConversationItemRetrieved] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain, conn)
                for item in history:
                    copies.append(await conn.conversation.item.retrieve(item_id=item.id, wait=True))
                tg.cancel_scope.cancel()
            for original, copy in zip(history, copies, strict=True):
                check_copy(original, copy)
            assert conn.history.session is not None
            restored_session = conn.history.session
        fake_new = realtime_server.sessions[-1]
        assert [i["id"] for i in fake_new.conversation.items] == [i.id for i in history]
    assert isinstance(restored_session, type(history.session))
    for field in ("instructions", "tools", "tool_choice", "output_modalities", "audio"):
        assert getattr(restored_session, field) == getattr(history.session, field), field


def check_copy(original: Any, copy: ConversationItemRetrieved) -> None:
    item = copy.item
    assert item.id == original.id
    if isinstance(item, MessageItem):
        assert item.role == original.role
        assert (item.phase if isinstance(item.phase, str) else None) == original.phase
        if original.role == "user" and isinstance(item.content[0], InputAudioContent):
            assert item.content[0].audio == original.parts[0].audio  # the real audio
            assert item.content[0].transcript == "And in Paris?"
        else:
            texts = [getattr(c, "text", None) for c in item.content]
            assert " ".join(t for t in texts if t) == original.text
    elif isinstance(item, FunctionCallItem):
        assert (item.call_id, item.name, item.arguments) == (
            original.wire.call_id,
            original.wire.name,
            original.arguments,
        )
    else:
        assert isinstance(item, FunctionCallOutputItem)
        assert (item.call_id, item.output) == (original.wire.call_id, original.wire.output)


@pytest.mark.parametrize("consume", [True, False])
async def test_a_thousand_items_restore_pipelined(
    realtime_server: FakeRealtimeServer, consume: bool
) -> None:
    history = Conversation()
    async with connect(realtime_server, history) as conn, anyio.create_task_group() as tg:
        tg.start_soon(drain, conn)
        for n in range(5):
            await conn.conversation.item.create(item=user_text(f"turn {n}"), wait=True)
        tg.cancel_scope.cancel()
    many = Conversation()
    many.apply_all(history_events(1000))
    plan = plan_restore(many)
    with anyio.fail_after(30):
        async with connect(realtime_server, history=False) as conn, anyio.create_task_group() as tg:
            if not consume:
                tg.start_soon(drain, conn)
            report = await apply_restore(conn, plan, timeout=20, consume=consume)
            tg.cancel_scope.cancel()
            assert report.complete and len(report.restored) == 1000 and report.passes == 1
    fake = realtime_server.sessions[-1]
    assert [i["id"] for i in fake.conversation.items] == [c.item.id for c in plan.items]


def history_events(count: int) -> list[Any]:
    events: list[Any] = []
    previous = None
    for n in range(count):
        item = {
            "id": f"item_{n:05d}",
            "type": "message",
            "status": "completed",
            "role": "user" if n % 2 == 0 else "assistant",
            "content": [
                {"type": "input_text" if n % 2 == 0 else "output_text", "text": f"line {n}"}
            ],
        }
        events.append(
            decode_server_event(
                json.dumps(
                    {"type": "conversation.item.done", "previous_item_id": previous, "item": item}
                )
            )
        )
        previous = item["id"]
    return events


async def test_the_last_user_turn_is_fetched_into_a_history_of_your_own(
    realtime_server: FakeRealtimeServer,
) -> None:
    mine = Conversation(keep_audio="all")
    answered = anyio.Event()

    async def fold_into_mine(conn: RealtimeConnection) -> None:
        async for event in conn:
            mine.apply(event)
            if isinstance(event, ResponseDone):
                answered.set()  # folded: the spoken turn is in our history now

    realtime_server.script.reply_text("Oui.")
    realtime_server.script.transcripts("Bonjour.")
    with anyio.fail_after(15):
        async with connect(realtime_server, history=False) as conn, anyio.create_task_group() as tg:
            tg.start_soon(fold_into_mine, conn)
            await conn.conversation.item.create(item=user_text("typed"), wait=True)
            assert not await retrieve_last_user_audio(conn, mine)  # a typed turn has no audio
            await conn.input_audio_buffer.append(speech("Bonjour.") + silence(1.0))
            await answered.wait()
            assert await retrieve_last_user_audio(conn, mine)
            tg.cancel_scope.cancel()
    plan = plan_restore(mine)
    assert plan.audio_anchor_item_id == mine.items[-2].id
    assert dict(plan.replayed) == {"user_text": 1, "user_audio": 1, "assistant": 1}
