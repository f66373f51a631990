"""plan_restore over plain event lists (no I/O), then apply_restore's recovery paths live."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import anyio
import pytest

from realtime_anyio import (
    ConnectionClosed,
    Conversation,
    RealtimeConnection,
    RestorePlan,
    apply_restore,
    open_realtime,
    plan_restore,
)
from realtime_anyio.events import (
    ConversationItemCreate,
    ConversationItemDone,
    FunctionCallOutputItem,
    InputAudioContent,
    InputTextContent,
    MessageItem,
    RealtimeSession,
    ServerEvent,
    SessionUpdate,
    UnknownServerEvent,
    decode_server_event,
    encode_event,
    user_text,
)
from realtime_anyio.testing import CloseAfter, DropAfter, FakeRealtimeServer

# -- building histories from wire events -------------------------------------------------------


def ev(kind: str, **fields: Any) -> ServerEvent | UnknownServerEvent:
    return decode_server_event(json.dumps({"type": kind, "event_id": "event_x", **fields}))


def message(item_id: str, role: str, *parts: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": role,
        "content": list(parts),
        **extra,
    }


def said(text: str) -> dict[str, Any]:
    return {"type": "input_text", "text": text}


def spoken(transcript: str | None) -> dict[str, Any]:
    return {"type": "output_audio", "transcript": transcript}


def heard(transcript: str | None) -> dict[str, Any]:
    return {"type": "input_audio", "transcript": transcript}


def call(item_id: str, call_id: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "name": "lookup",
        "call_id": call_id,
        "arguments": '{"q": 1}',
    }


def output(item_id: str, call_id: str) -> dict[str, Any]:
    return {"id": item_id, "type": "function_call_output", "call_id": call_id, "output": "42"}


def started(item_id: str) -> dict[str, Any]:
    return {**message(item_id, "assistant"), "status": "in_progress"}


def done(item: dict[str, Any]) -> Any:
    return ev("conversation.item.done", previous_item_id=None, item=item)


def session_created(**fields: Any) -> Any:
    session = {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_1",
        "model": "gpt-realtime",
        "expires_at": 1_800_000_000,
        "output_modalities": ["audio"],
        "instructions": "Be brief.",
        "tools": [],
        "tool_choice": "auto",
        "audio": {"output": {"voice": "verse", "format": {"type": "audio/pcm", "rate": 24000}}},
        **fields,
    }
    return ev("session.created", session=session)


def fold(*events: Any, keep_audio: Any = "none") -> Conversation:
    history = Conversation(keep_audio=keep_audio)
    history.apply_all(events)
    return history


def sent_items(plan: RestorePlan) -> list[dict[str, Any]]:
    return [json.loads(encode_event(create))["item"] for create in plan.items]


# -- plan_restore ------------------------------------------------------------------------------


def test_an_empty_history_plans_nothing_but_says_so() -> None:
    plan = plan_restore(Conversation())
    assert plan.session is None and plan.items == [] and plan.owed_call_ids == ()
    assert dict(plan.replayed) == {} and plan.anchor_audio_output is False
    assert plan.lost == ("the session configuration (none was reported)",)


def test_the_session_is_reapplied_without_read_only_fields() -> None:
    history = fold(session_created(future_setting={"on": True}))
    plan = plan_restore(history)
    assert isinstance(plan.session, SessionUpdate)
    sent = json.loads(encode_event(plan.session))["session"]
    for read_only in ("id", "object", "expires_at", "model"):
        assert read_only not in sent
    assert sent["instructions"] == "Be brief." and sent["audio"]["output"]["voice"] == "verse"
    assert sent["future_setting"] == {"on": True}  # kept: apply_restore drops it if refused
    assert plan.anchor_audio_output is True and plan.lost == ()


def test_an_explicit_session_wins_and_text_sessions_need_no_audio_anchor() -> None:
    history = fold(session_created())
    plan = plan_restore(
        history, session=RealtimeSession(instructions="Other.", output_modalities=["text"])
    )
    assert plan.session is not None
    assert isinstance(plan.session.session, RealtimeSession)
    assert plan.session.session.instructions == "Other."
    assert plan.anchor_audio_output is False


def test_only_items_in_progress_plan_no_items() -> None:
    history = fold(
        ev(
            "conversation.item.added",
            previous_item_id=None,
            item={**message("item_a", "assistant"), "status": "in_progress"},
        ),
        ev(
            "conversation.item.added",
            previous_item_id=None,
            item=call("item_c", "call_1", "in_progress"),
        ),
    )
    plan = plan_restore(history)
    assert plan.items == [] and plan.owed_call_ids == ()
    assert "2 items still in progress" in plan.lost


def test_deleted_items_are_gone_and_an_output_without_its_call_is_left_out() -> None:
    history = fold(
        done(message("item_u", "user", said("Hi"))),
        done(call("item_c", "call_1")),
        done(output("item_o", "call_1")),
        done(message("item_x", "user", said("forget me"))),
        ev("conversation.item.deleted", item_id="item_x"),
        ev("conversation.item.deleted", item_id="item_c"),
    )
    plan = plan_restore(history)
    assert [c.item.id for c in plan.items] == ["item_u"]
    assert "1 function output whose call is gone" in plan.lost


def test_items_chain_in_server_order_with_their_ids_and_call_ids() -> None:
    history = fold(
        done(message("item_u", "user", said("Weather?"))),
        done(call("item_c1", "call_1")),
        done(output("item_o1", "call_1")),
        done(message("item_a", "assistant", {"type": "output_text", "text": "Sunny."})),
        done(message("item_s", "system", said("Be nice."))),
        done(call("item_c2", "call_2")),
    )
    plan = plan_restore(history)
    assert [(c.item.id, c.previous_item_id) for c in plan.items] == [
        ("item_u", "root"),
        ("item_c1", "item_u"),
        ("item_o1", "item_c1"),
        ("item_a", "item_o1"),
        ("item_s", "item_a"),
        ("item_c2", "item_s"),
    ]
    assert plan.owed_call_ids == ("call_2",)
    assert dict(plan.replayed) == {
        "user_text": 1,
        "function_call": 2,
        "function_call_output": 1,
        "assistant": 1,
        "system": 1,
    }
    items = sent_items(plan)
    assert items[1]["call_id"] == "call_1" and items[2]["call_id"] == "call_1"


def test_assistant_audio_is_replayed_as_what_was_heard() -> None:
    pcm = base64.b64encode(b"\x01\x00" * 24_000).decode()  # one second
    ids = {"response_id": "resp_1", "item_id": "item_a", "output_index": 0, "content_index": 0}
    history = fold(
        done(message("item_u", "user", said("Story?"))),
        ev(
            "conversation.item.added",
            item={**message("item_a", "assistant"), "status": "in_progress"},
        ),
        ev("response.content_part.added", **ids, part={"type": "audio", "transcript": ""}),
        ev("response.output_audio_transcript.delta", **ids, delta="Once upon a time there"),
        ev("response.output_audio.delta", **ids, delta=pcm),
        done(
            message("item_a", "assistant", spoken("Once upon a time there"), phase="final_answer")
        ),
        ev("conversation.item.truncated", item_id="item_a", content_index=0, audio_end_ms=500),
    )
    plan = plan_restore(history)
    (_, assistant) = sent_items(plan)
    assert assistant["content"] == [{"type": "output_text", "text": "Once upon a"}]
    assert assistant["phase"] == "final_answer" and assistant["role"] == "assistant"
    assert plan.lost == (
        "assistant audio of 1 item (kept as their heard transcripts)",
        "the session configuration (none was reported)",
    )


def test_a_reply_truncated_at_zero_ms_was_never_heard() -> None:
    pcm = base64.b64encode(b"\x01\x00" * 4800).decode()
    ids = {"response_id": "resp_1", "item_id": "item_a", "output_index": 0, "content_index": 0}
    history = fold(
        done(message("item_u", "user", said("Hi"))),
        ev(
            "conversation.item.added",
            item={**message("item_a", "assistant"), "status": "in_progress"},
        ),
        ev("response.output_audio.delta", **ids, delta=pcm),
        done(message("item_a", "assistant", spoken("Hello there"))),
        ev("conversation.item.truncated", item_id="item_a", content_index=0, audio_end_ms=0),
        done(message("item_v", "user", said("Hello?"))),
    )
    plan = plan_restore(history)
    assert [(c.item.id, c.previous_item_id) for c in plan.items] == [
        ("item_u", "root"),
        ("item_v", "item_u"),
    ]
    assert "1 assistant reply cut before a word was heard" in plan.lost


def retrieved(item_id: str, transcript: str, audio: bytes) -> Any:
    part = {**heard(transcript), "audio": base64.b64encode(audio).decode()}
    return ev("conversation.item.retrieved", item=message(item_id, "user", part))


def test_the_last_user_turn_keeps_its_own_audio_earlier_ones_their_transcripts() -> None:
    voice = b"\x02\x00" * 2400
    history = fold(
        done(message("item_1", "user", heard("First."))),
        done(message("item_2", "user", heard(None))),
        done(message("item_3", "user", heard("Third."))),
        ev(
            "conversation.item.retrieved",
            item=message(
                "item_1", "user", {**heard("First."), "audio": base64.b64encode(voice).decode()}
            ),
        ),
        ev(
            "conversation.item.retrieved",
            item=message(
                "item_3", "user", {**heard("Third."), "audio": base64.b64encode(voice).decode()}
            ),
        ),
        keep_audio="all",
    )
    plan = plan_restore(history)
    first, last = (c.item for c in plan.items)
    assert isinstance(first, MessageItem) and first.content == [InputTextContent(text="First.")]
    assert isinstance(last, MessageItem)
    assert last.content == [InputAudioContent(audio=voice, transcript="Third.")]
    assert plan.audio_anchor_item_id == "item_3"
    assert dict(plan.replayed) == {"user_transcript": 1, "user_audio": 1}
    assert "1 user audio turn with no transcript" in plan.lost
    assert "user audio of 1 turn (kept as their transcripts)" in plan.lost
    no_audio = plan_restore(history, include_audio=False)
    assert no_audio.items[-1].item == MessageItem(
        role="user",
        content=[InputTextContent(text="Third.")],
        id="item_3",
        object="realtime.item",
        status="completed",
    )
    assert no_audio.audio_anchor_item_id is None


def test_mcp_items_are_listed_as_lost() -> None:
    mcp = {
        "id": "item_m",
        "type": "mcp_list_tools",
        "server_label": "docs",
        "tools": [],
    }
    history = fold(done(message("item_u", "user", said("Hi"))), done(mcp))
    plan = plan_restore(history)
    assert [c.item.id for c in plan.items] == ["item_u"]
    assert "1 MCP item" in plan.lost


def test_unknown_fields_and_phase_survive_byte_for_byte() -> None:
    original = message(
        "item_a",
        "assistant",
        {"type": "output_text", "text": "Checking.", "future_part": [1, {"x": None}]},
        phase="commentary",
        future_item_field={"nested": {"deep": "value"}, "list": [3, 2, 1]},
    )
    history = fold(done(original))
    (sent,) = sent_items(plan_restore(history))
    assert sent == original
    frame = encode_event(plan_restore(history).items[0])
    assert json.loads(frame)["item"] == original
    assert b'"future_part":[1,{"x":null}]' in frame


# -- apply_restore against the bundled server --------------------------------------------------


def connect(server: FakeRealtimeServer, **options: Any) -> Any:
    return open_realtime(
        model="gpt-realtime", websocket_base_url=server.url, api_key="sk-test", **options
    )


def plan_of(*items: Any, session: SessionUpdate | None = None) -> RestorePlan:
    creates: list[ConversationItemCreate] = []
    previous = "root"
    for item in items:
        creates.append(ConversationItemCreate(item=item, previous_item_id=previous))
        previous = item.id
    return RestorePlan(session=session, items=creates)


async def test_an_unknown_field_is_dropped_and_the_chain_goes_on(
    realtime_server: FakeRealtimeServer,
) -> None:
    wire = {**message("item_2", "user", said("odd")), "future": 1}
    odd = decode_server_event(json.dumps({"type": "conversation.item.done", "item": wire}))
    assert isinstance(odd, ConversationItemDone)
    plan = plan_of(user_text("one", id="item_1"), odd.item, user_text("three", id="item_3"))
    with anyio.fail_after(10):
        async with connect(realtime_server) as conn:
            report = await apply_restore(conn, plan, timeout=5)
    assert report.complete and report.restored == ("item_1", "item_2", "item_3")
    assert report.dropped_fields == ("item_2: item.future",) and report.passes == 2
    fake = realtime_server.sessions[-1]
    assert [i["id"] for i in fake.conversation.items] == ["item_1", "item_2", "item_3"]


async def test_a_refused_item_is_reported_and_the_rest_rechained(
    realtime_server: FakeRealtimeServer,
) -> None:
    orphan = FunctionCallOutputItem(call_id="call_nowhere", output="{}", id="item_2")
    plan = plan_of(user_text("one", id="item_1"), orphan, user_text("three", id="item_3"))
    with anyio.fail_after(10):
        async with connect(realtime_server) as conn:
            report = await apply_restore(conn, plan, timeout=5)
    assert report.restored == ("item_1", "item_3") and not report.complete
    assert list(report.refused) == ["item_2"]
    assert report.refused["item_2"].startswith("invalid_value: No function call found")
    fake = realtime_server.sessions[-1]
    assert [i["id"] for i in fake.conversation.items] == ["item_1", "item_3"]


async def test_refusal_messages_are_scrubbed(realtime_server: FakeRealtimeServer) -> None:
    secret = "sk-proj-Abcdef0123456789"
    plan = plan_of(FunctionCallOutputItem(call_id=secret, output="{}", id="item_1"))
    with anyio.fail_after(10):
        async with connect(realtime_server) as conn:
            report = await apply_restore(conn, plan, timeout=5)
    (reason,) = report.refused.values()
    assert secret not in reason and "<redacted>" in reason


async def test_a_session_field_the_server_calls_unknown_is_dropped(
    realtime_server: FakeRealtimeServer,
) -> None:
    history = fold(session_created(future_setting={"on": True}))
    plan = plan_restore(history)
    with anyio.fail_after(10):
        async with connect(realtime_server, history=True) as conn:
            report = await apply_restore(conn, plan, timeout=5)
            assert conn.history.session is not None
            assert isinstance(conn.history.session, RealtimeSession)
            assert conn.history.session.instructions == "Be brief."
    assert report.session_applied and report.dropped_fields == ("session.future_setting",)
    assert report.complete and report.passes == 0
    assert [e.type for e in report.unclaimed] == ["session.created"]


async def test_consume_false_leaves_every_event_to_the_app(
    realtime_server: FakeRealtimeServer,
) -> None:
    plan = plan_of(*(user_text(f"line {n}", id=f"item_{n}") for n in range(20)))
    seen: list[str] = []

    async def watch(conn: RealtimeConnection) -> None:
        async for event in conn:
            seen.append(event.type)

    with anyio.fail_after(10):
        async with connect(realtime_server) as conn, anyio.create_task_group() as tg:
            tg.start_soon(watch, conn)
            report = await apply_restore(conn, plan, timeout=5, consume=False)
            assert report.unclaimed == ()
            with conn.expect(
                "conversation.item.done", predicate=lambda e: e.item.id == "item_19"
            ) as last:
                await last.wait()
            tg.cancel_scope.cancel()
    assert seen.count("conversation.item.added") == 20


async def test_the_timeout_raises_and_a_cancel_leaves_a_usable_connection(
    realtime_server: FakeRealtimeServer,
) -> None:
    plan = plan_of(*(user_text(f"line {n}", id=f"item_{n}") for n in range(500)))
    with anyio.fail_after(15):
        async with connect(realtime_server) as conn, anyio.create_task_group() as tg:
            tg.start_soon(drain, conn)
            with pytest.raises(TimeoutError):
                await apply_restore(conn, plan, timeout=0.001)
            with anyio.move_on_after(0.01):
                await apply_restore(conn, plan, timeout=5)
            reply = await conn.conversation.item.create(item=user_text("still here"), wait=True)
            assert reply.item.type == "message"
            tg.cancel_scope.cancel()


async def drain(conn: RealtimeConnection) -> None:
    async for _ in conn:
        pass


def test_an_interrupted_call_is_owed_by_nobody_unless_it_was_answered() -> None:
    history = fold(
        done(message("item_u", "user", said("Book it."))),
        done(call("item_c1", "call_1", "incomplete")),
        done(call("item_c2", "call_2", "incomplete")),
        done(output("item_o2", "call_2")),
    )
    plan = plan_restore(history)
    assert [c.item.id for c in plan.items] == ["item_u", "item_c2", "item_o2"]
    assert plan.owed_call_ids == ()
    assert "1 function call cut off before running" in plan.lost


def test_replay_events_leaves_out_an_output_whose_call_is_gone() -> None:
    history = fold(
        done(call("item_c", "call_1")),
        done(output("item_o", "call_1")),
        ev("conversation.item.deleted", item_id="item_c"),
        done(message("item_u", "user", said("Hi"))),
    )
    assert [e.item.id for e in history.replay_events()] == ["item_u"]


def test_the_bundled_server_tracks_call_ids_through_deletes() -> None:
    from realtime_anyio.testing._conversation import Conversation as ServerConversation

    server = ServerConversation()
    server.insert(call("item_c", "call_1"), None)
    server.insert(call("item_d", "call_1"), "item_c")
    server.insert({"id": "item_u", "type": "message"}, "root")
    assert [i["id"] for i in server.items] == ["item_u", "item_c", "item_d"]
    assert server.get("item_d") is server.items[2] and server.index("item_c") == 1
    assert server.delete("item_c") and server.has_function_call("call_1")
    assert server.delete("item_d") and not server.has_function_call("call_1")
    assert server.get("item_d") is None and server.index("item_d") is None
    assert not server.delete("item_d")


async def test_consume_takes_every_reply_so_none_reaches_the_app_later(
    realtime_server: FakeRealtimeServer,
) -> None:
    plan = plan_of(*(user_text(f"line {n}", id=f"item_{n}") for n in range(50)))
    with anyio.fail_after(10):
        async with connect(realtime_server) as conn:
            report = await apply_restore(conn, plan, timeout=5)
            assert len(report.restored) == 50
            await conn.send(
                {"type": "conversation.item.create", "item": user_text("next", id="item_next")}
            )
            later: list[Any] = []
            while not later or later[-1].type != "conversation.item.done":
                later.append(await conn.receive())
    assert [(e.type, e.item.id) for e in later] == [
        ("conversation.item.added", "item_next"),
        ("conversation.item.done", "item_next"),
    ]
    assert [e.type for e in report.unclaimed] == ["session.created"]


@pytest.mark.parametrize("consume", [True, False])
@pytest.mark.parametrize("fault", [CloseAfter(40, code=1011, reason="boom"), DropAfter(40)])
async def test_a_connection_lost_mid_restore_raises_connection_closed(
    realtime_server: FakeRealtimeServer, consume: bool, fault: CloseAfter | DropAfter
) -> None:
    realtime_server.inject(fault)
    plan = plan_of(*(user_text(f"line {n}", id=f"item_{n}") for n in range(200)))
    raised: list[BaseException] = []
    with anyio.fail_after(10), contextlib.suppress(ConnectionClosed):
        # (the block's exit may report the frames that were accepted but never written)
        async with connect(realtime_server) as conn, anyio.create_task_group() as tg:
            if not consume:
                tg.start_soon(drain_quietly, conn)
            with pytest.raises(ConnectionClosed) as caught:
                await apply_restore(conn, plan, timeout=5, consume=consume)
            raised.append(caught.value)
            tg.cancel_scope.cancel()
    assert len(raised) == 1


async def drain_quietly(conn: RealtimeConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in conn:
            pass
