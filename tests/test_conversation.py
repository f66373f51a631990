"""The conversation fold: plain synchronous tests over event sequences, then one live session."""

from __future__ import annotations

import json
from typing import Any

import anyio
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime_anyio import open_realtime
from realtime_anyio.conversation import Conversation
from realtime_anyio.events import (
    ConversationItemCreate,
    FunctionCallItem,
    FunctionCallOutputItem,
    InputTextContent,
    MessageItem,
    OutputTextContent,
    ServerEvent,
    UnknownServerEvent,
    decode_client_event,
    decode_server_event,
    encode_event,
    user_text,
)
from realtime_anyio.testing import FakeRealtimeServer


def ev(kind: str, **fields: Any) -> ServerEvent | UnknownServerEvent:
    """A server event decoded from its wire form, as the reader would hand it over."""
    return decode_server_event(json.dumps({"type": kind, "event_id": "event_x", **fields}))


def user_item(item_id: str, text: str) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }


def added(item: dict[str, Any], previous: str | None = None) -> list[Any]:
    return [
        ev("conversation.item.added", previous_item_id=previous, item=item),
        ev("conversation.item.done", previous_item_id=previous, item=item),
    ]


def response_created(resp_id: str, *, out_of_band: bool = False) -> Any:
    return ev(
        "response.created",
        response={
            "id": resp_id,
            "object": "realtime.response",
            "status": "in_progress",
            "output": [],
            "conversation_id": None if out_of_band else "conv_1",
            "usage": None,
        },
    )


def response_done(
    resp_id: str,
    output: list[dict[str, Any]],
    *,
    status: str = "completed",
    out_of_band: bool = False,
    usage: dict[str, Any] | None = None,
) -> Any:
    return ev(
        "response.done",
        response={
            "id": resp_id,
            "object": "realtime.response",
            "status": status,
            "output": output,
            "conversation_id": None if out_of_band else "conv_1",
            "usage": usage,
        },
    )


def text_reply(
    resp_id: str, item_id: str, words: list[str], *, in_conversation: bool = True
) -> tuple[list[Any], dict[str, Any]]:
    """The events of one assistant text message (without response.created/done)."""
    ids = {"response_id": resp_id, "item_id": item_id, "output_index": 0, "content_index": 0}
    start = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant"}
    text = "".join(words)
    final = {**start, "status": "completed", "content": [{"type": "output_text", "text": text}]}
    events: list[Any] = [
        ev(
            "response.output_item.added",
            response_id=resp_id,
            output_index=0,
            item={**start, "content": []},
        ),
    ]
    if in_conversation:
        events.append(ev("conversation.item.added", item={**start, "content": []}))
    events.append(ev("response.content_part.added", **ids, part={"type": "text", "text": ""}))
    events += [ev("response.output_text.delta", **ids, delta=w) for w in words]
    events.append(ev("response.output_text.done", **ids, text=text))
    events.append(ev("response.content_part.done", **ids, part={"type": "text", "text": text}))
    if in_conversation:
        events.append(ev("conversation.item.done", previous_item_id=None, item=final))
    events.append(ev("response.output_item.done", response_id=resp_id, output_index=0, item=final))
    return events, final


def audio_reply(
    resp_id: str, item_id: str, words: list[str], pcm_per_word: int
) -> tuple[list[Any], dict[str, Any]]:
    ids = {"response_id": resp_id, "item_id": item_id, "output_index": 0, "content_index": 0}
    start = {"id": item_id, "type": "message", "status": "in_progress", "role": "assistant"}
    transcript = "".join(words)
    final = {
        **start,
        "status": "completed",
        "content": [{"type": "output_audio", "transcript": transcript}],
    }
    events: list[Any] = [
        ev(
            "response.output_item.added",
            response_id=resp_id,
            output_index=0,
            item={**start, "content": []},
        ),
        ev("conversation.item.added", item={**start, "content": []}),
        ev("response.content_part.added", **ids, part={"type": "audio", "transcript": ""}),
    ]
    chunk = msgspec.json.encode(b"\x01\x00" * (pcm_per_word // 2)).decode().strip('"')
    for word in words:
        events.append(ev("response.output_audio_transcript.delta", **ids, delta=word))
        events.append(ev("response.output_audio.delta", **ids, delta=chunk))
    events += [
        ev("response.output_audio.done", **ids),
        ev("response.output_audio_transcript.done", **ids, transcript=transcript),
        ev("response.content_part.done", **ids, part={"type": "audio", "transcript": transcript}),
        ev("conversation.item.done", previous_item_id=None, item=final),
        ev("response.output_item.done", response_id=resp_id, output_index=0, item=final),
    ]
    return events, final


def fold(events: list[Any], **options: Any) -> Conversation:
    conversation = Conversation(**options)
    for event in events:
        conversation.apply(event)
    return conversation


def test_text_turn_usage_and_rate_limits() -> None:
    reply, final = text_reply("resp_1", "item_a", ["Bon", "jour", " !"])
    usage = {
        "total_tokens": 30,
        "input_tokens": 20,
        "output_tokens": 10,
        "input_token_details": {"text_tokens": 15, "audio_tokens": 5, "cached_tokens": 4},
        "output_token_details": {"text_tokens": 7, "audio_tokens": 3, "reasoning_tokens": 2},
    }
    events = [
        ev("session.created", session={"type": "realtime", "id": "sess_1", "model": "m"}),
        *added(user_item("item_u", "Hello")),
        response_created("resp_1"),
        *reply[:5],
    ]
    conversation = fold(events)
    assert conversation.in_progress is not None
    assert conversation.in_progress.id == "resp_1"
    assert conversation["item_a"].text == "Bonjour"  # deltas so far
    for event in [
        *reply[5:],
        response_done("resp_1", [final], usage=usage),
        ev(
            "rate_limits.updated",
            rate_limits=[{"name": "tokens", "limit": 100, "remaining": 70, "reset_seconds": 1}],
        ),
    ]:
        assert conversation.apply(event)
    assert [i.id for i in conversation] == ["item_u", "item_a"]
    assert [i.role for i in conversation] == ["user", "assistant"]
    assert conversation["item_a"].text == "Bonjour !"
    assert conversation["item_a"].status == "completed"
    assert conversation["item_a"].response_id == "resp_1"
    assert conversation.in_progress is None
    assert conversation.finished[-1].status == "completed"
    totals = conversation.usage
    assert (totals.responses, totals.total_tokens, totals.input_tokens) == (1, 30, 20)
    assert (totals.input_audio_tokens, totals.cached_tokens, totals.reasoning_tokens) == (5, 4, 2)
    assert conversation.rate_limits[0].remaining == 70
    assert conversation.session is not None and conversation.session.id == "sess_1"
    assert conversation.ignored == 0


def test_out_of_band_response_kept_apart_while_interleaved() -> None:
    in_band, in_final = text_reply("resp_a", "item_a", ["Main", " answer"])
    oob, oob_final = text_reply("resp_b", "item_b", ["sum", "mary"], in_conversation=False)
    events: list[Any] = [
        *added(user_item("item_u", "Hi")),
        response_created("resp_a"),
        response_created("resp_b", out_of_band=True),
    ]
    # Interleave the two responses' events one by one.
    for pair in zip(in_band, oob, strict=False):
        events.extend(pair)
    events += in_band[len(oob) :] + oob[len(in_band) :]
    conversation = fold(events)
    assert conversation.in_progress is not None and conversation.in_progress.id == "resp_a"
    (side,) = conversation.out_of_band
    assert side.id == "resp_b" and side.out_of_band and side.status == "in_progress"
    assert [i.text for i in side.output] == ["summary"]
    assert [i.id for i in conversation] == ["item_u", "item_a"]
    assert "item_b" not in conversation
    assert conversation.get("item_b") is not None
    conversation.apply(response_done("resp_b", [oob_final], out_of_band=True))
    conversation.apply(response_done("resp_a", [in_final]))
    assert conversation.in_progress is None
    assert [r.id for r in conversation.out_of_band] == ["resp_b"]
    assert [i.id for i in conversation] == ["item_u", "item_a"]
    assert conversation["item_a"].text == "Main answer"


def test_truncation_cuts_audio_and_transcript_to_what_was_heard() -> None:
    words = ["one", " two", " three", " four"]
    reply, final = audio_reply("resp_1", "item_a", words, pcm_per_word=12000)  # 250 ms each
    conversation = fold(
        [
            *added(user_item("item_u", "Count")),
            response_created("resp_1"),
            *reply,
            response_done("resp_1", [final]),
        ],
        keep_audio="all",
    )
    item = conversation["item_a"]
    assert item.audio_ms == 1000
    assert item.parts[0].transcript == "one two three four"
    assert len(item.parts[0].audio) == 48000
    assert conversation.apply(
        ev("conversation.item.truncated", item_id="item_a", content_index=0, audio_end_ms=500)
    )
    part = item.parts[0]
    assert part.truncated and part.truncated_at_ms == 500
    assert item.audio_ms == 500
    assert len(part.audio) == 24000
    assert part.transcript == "one two"
    # The server's later copies carry an empty transcript: what was heard stays.
    conversation.apply(
        ev(
            "conversation.item.done",
            item={**final, "content": [{"type": "output_audio", "transcript": ""}]},
        )
    )
    assert part.transcript == "one two"
    (replayed_user, replayed) = conversation.replay_events()
    assert replayed.item == msgspec.structs.replace(
        replayed.item, content=[OutputTextContent(text="one two")]
    )
    assert replayed_user.previous_item_id == "root"


def test_deletion_removes_the_item_and_later_events_about_it_are_ignored() -> None:
    reply, final = text_reply("resp_1", "item_a", ["Yes"])
    conversation = fold(
        [
            *added(user_item("item_1", "a")),
            *added(user_item("item_2", "b"), "item_1"),
            response_created("resp_1"),
            *reply,
            response_done("resp_1", [final]),
        ]
    )
    assert [i.id for i in conversation] == ["item_1", "item_2", "item_a"]
    assert conversation.apply(ev("conversation.item.deleted", item_id="item_2"))
    assert [i.id for i in conversation] == ["item_1", "item_a"]
    assert conversation.get("item_2") is None
    ignored = conversation.ignored
    assert not conversation.apply(ev("conversation.item.deleted", item_id="item_2"))
    assert not conversation.apply(
        ev("conversation.item.truncated", item_id="item_2", content_index=0, audio_end_ms=1)
    )
    assert conversation.ignored == ignored + 2


def test_input_transcription_arriving_after_the_response() -> None:
    user = {
        "id": "item_u",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    reply, final = text_reply("resp_1", "item_a", ["Sure."])
    events = [
        ev("input_audio_buffer.speech_started", audio_start_ms=1000, item_id="item_u"),
        ev("input_audio_buffer.speech_stopped", audio_end_ms=3500, item_id="item_u"),
        ev("input_audio_buffer.committed", previous_item_id=None, item_id="item_u"),
        *added(user),
        response_created("resp_1"),
        *reply,
        response_done("resp_1", [final]),
        ev(
            "conversation.item.input_audio_transcription.delta",
            item_id="item_u",
            content_index=0,
            delta="What time",
        ),
        ev(
            "conversation.item.input_audio_transcription.delta",
            item_id="item_u",
            content_index=0,
            delta=" is it",
        ),
    ]
    conversation = fold(events)
    user_part = conversation["item_u"].parts[0]
    assert user_part.type == "input_audio"
    assert user_part.audio_ms == 2500
    assert user_part.transcript == "What time is it"
    conversation.apply(
        ev(
            "conversation.item.input_audio_transcription.completed",
            item_id="item_u",
            content_index=0,
            transcript="What time is it?",
            usage={"type": "duration", "seconds": 3},
        )
    )
    assert conversation["item_u"].text == "What time is it?"
    assert conversation.usage.transcription_seconds == 3
    # The final item copy says null: the transcript stays.
    conversation.apply(ev("conversation.item.done", item=user))
    assert conversation["item_u"].text == "What time is it?"
    create = conversation.replay_events()[0]
    assert create.item == msgspec.structs.replace(
        create.item, content=[InputTextContent(text="What time is it?")]
    )


def test_transcription_overtaking_its_item_is_applied_when_the_item_arrives() -> None:
    user = {
        "id": "item_u",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }
    conversation = fold(
        [
            ev(
                "conversation.item.input_audio_transcription.completed",
                item_id="item_u",
                content_index=0,
                transcript="early",
            ),
            *added(user),
        ]
    )
    assert conversation["item_u"].text == "early"


def test_previous_item_id_orders_items() -> None:
    conversation = fold(
        [
            *added(user_item("b", "second")),
            *added(user_item("d", "fourth"), "b"),
            *added(user_item("a", "first"), "root"),
            *added(user_item("c", "third"), "b"),
            *added(user_item("e", "fifth"), None),
            *added(user_item("f", "sixth"), "nonexistent"),
        ]
    )
    assert [i.id for i in conversation] == ["a", "b", "c", "d", "e", "f"]
    assert conversation["c"].previous_item_id == "b"


def function_call_events(resp_id: str) -> list[Any]:
    call = {
        "id": "item_c",
        "type": "function_call",
        "status": "in_progress",
        "name": "add",
        "call_id": "call_1",
        "arguments": "",
    }
    done = {**call, "status": "completed", "arguments": '{"a": 1, "b": 2}'}
    base = {"response_id": resp_id, "item_id": "item_c", "output_index": 0, "call_id": "call_1"}
    return [
        response_created(resp_id),
        ev("response.output_item.added", response_id=resp_id, output_index=0, item=call),
        ev("conversation.item.added", item=call),
        ev("response.function_call_arguments.delta", **base, delta='{"a": 1,'),
        ev("response.function_call_arguments.delta", **base, delta=' "b": 2}'),
        ev(
            "response.function_call_arguments.done",
            **base,
            name="add",
            arguments='{"a": 1, "b": 2}',
        ),
        ev("conversation.item.done", item=done),
        ev("response.output_item.done", response_id=resp_id, output_index=0, item=done),
        response_done(resp_id, [done]),
        *added(
            {"id": "item_o", "type": "function_call_output", "call_id": "call_1", "output": "3"}
        ),
    ]


def test_function_call_arguments_accumulate() -> None:
    events = function_call_events("resp_1")
    conversation = fold([*added(user_item("item_u", "add")), *events[:5]])
    assert conversation["item_c"].arguments == '{"a": 1, "b": 2}'
    conversation = fold([*added(user_item("item_u", "add")), *events])
    assert [i.type for i in conversation] == ["message", "function_call", "function_call_output"]
    assert conversation["item_o"].text == "3"


def test_export_and_replay_round_trip() -> None:
    reply, final = text_reply("resp_2", "item_a", ["It is ", "3."])
    audio, audio_final = audio_reply("resp_3", "item_s", ["Anything", " else?"], 4800)
    events = [
        ev("session.created", session={"type": "realtime", "id": "sess_1"}),
        *added(user_item("item_u", "add 1 and 2")),
        *function_call_events("resp_1"),
        response_created("resp_2"),
        *reply,
        response_done("resp_2", [final]),
        response_created("resp_3"),
        *audio,
        response_done("resp_3", [audio_final]),
        ev("conversation.item.truncated", item_id="item_s", content_index=0, audio_end_ms=150),
    ]
    original = fold(events)
    creates = original.replay_events()
    assert [c.item.id for c in creates] == ["item_u", "item_c", "item_o", "item_a", "item_s"]
    assert [c.previous_item_id for c in creates] == ["root", "item_u", "item_c", "item_o", "item_a"]
    call = creates[1].item
    assert isinstance(call, FunctionCallItem) and call.call_id == "call_1"
    assert isinstance(creates[2].item, FunctionCallOutputItem)
    spoken = creates[4].item
    assert isinstance(spoken, MessageItem)
    assert spoken.content == [OutputTextContent(text="Anything")]
    # Each event survives the wire, and a server that applies them rebuilds the same history.
    rebuilt = Conversation()
    for create in creates:
        sent = decode_client_event(encode_event(create))
        assert isinstance(sent, ConversationItemCreate)
        assert sent == create
        rebuilt.apply(
            ev(
                "conversation.item.added",
                previous_item_id=sent.previous_item_id,
                item=msgspec.to_builtins(sent.item),
            )
        )
    assert [(i.id, i.type, i.role, i.text) for i in rebuilt] == [
        (i.id, i.type, i.role, i.text) for i in original
    ]
    assert rebuilt.replay_events() == creates
    data = json.loads(original.to_json())
    assert [item["id"] for item in data["items"]] == [i.id for i in original]
    assert data["items"][-1]["_state"]["truncated"] is True
    assert data["usage"]["responses"] == 3
    assert data["session"]["id"] == "sess_1"
    assert original.to_builtins() == data


def test_last_seconds_of_audio_stay_bounded() -> None:
    events: list[Any] = []
    for turn in range(6):
        reply, final = audio_reply(f"resp_{turn}", f"item_{turn}", ["a", " b"], 24000)  # 1 s
        events += [response_created(f"resp_{turn}"), *reply, response_done(f"resp_{turn}", [final])]
    conversation = fold(events, keep_audio=1.5)
    held = sum(len(p.audio) for i in conversation for p in i.parts)
    assert held == 72000  # 1.5 s of 24 kHz PCM16
    assert conversation.audio_held_ms == 1500
    assert conversation["item_5"].parts[0].audio_complete
    assert not conversation["item_4"].parts[0].audio_complete
    assert sum(i.audio_ms for i in conversation) == 6000
    assert all(not p.audio for i in fold(events) for p in i.parts)  # default: none kept


def test_apply_never_raises() -> None:
    conversation = Conversation()
    weird: list[object] = [
        object(),
        None,
        ev("some.future.event", anything=1),
        ev(
            "response.output_text.delta",
            response_id="r",
            item_id="nope",
            output_index=0,
            content_index=0,
            delta="x",
        ),
        ev(
            "conversation.item.input_audio_transcription.failed",
            item_id="x",
            content_index=0,
            error={"message": "no"},
        ),
    ]
    for event in weird:
        conversation.apply(event)
    assert conversation.applied == 0
    assert conversation.ignored == len(weird)
    with pytest.raises(ValueError):
        Conversation(keep_audio="some")  # type: ignore[arg-type]


async def test_folds_a_live_session_and_replays_it_into_a_new_one(
    realtime_server: FakeRealtimeServer,
) -> None:
    realtime_server.script.reply("Hello there, how are you doing today my friend?")
    conversation = Conversation(keep_audio="all")
    with anyio.fail_after(20):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            await conn.conversation.item.create(item=user_text("Hi"))
            await conn.response.create()
            async for event in conn:
                conversation.apply(event)
                if event.type == "response.done":
                    break
            assistant = conversation.items[-1]
            assert assistant.audio_ms > 1000
            await conn.conversation.item.truncate(
                item_id=assistant.id, content_index=0, audio_end_ms=500, wait=True
            )
            async for event in conn:
                conversation.apply(event)
                if event.type == "conversation.item.truncated":
                    break
        assert assistant.truncated and assistant.audio_ms == 500
        assert len(assistant.parts[0].audio) == 500 * 48
        creates = conversation.replay_events()
        rebuilt = Conversation()
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            for create in creates:
                await conn.send(create)
            async for event in conn:
                rebuilt.apply(event)
                if len(rebuilt) == len(creates) and rebuilt.items[-1].status == "completed":
                    break
    assert [(i.id, i.role, i.text) for i in rebuilt] == [
        (i.id, i.role, i.text) for i in conversation
    ]


def test_finished_out_of_band_output_is_dropped_with_its_response() -> None:
    events: list[Any] = []
    for n in range(5):
        reply, final = text_reply(f"resp_{n}", f"item_{n}", ["x"], in_conversation=False)
        events += [
            response_created(f"resp_{n}", out_of_band=True),
            *reply,
            response_done(f"resp_{n}", [final], out_of_band=True),
        ]
    conversation = fold(events, keep_responses=2)
    assert [r.id for r in conversation.out_of_band] == ["resp_3", "resp_4"]
    assert conversation.get("item_0") is None
    assert conversation.get("item_4") is not None
    assert fold(events, keep_responses=0).out_of_band == []


@given(st.randoms(use_true_random=False))
@settings(max_examples=60, deadline=None)
def test_any_interleaving_of_two_responses_folds_the_same(rng: Any) -> None:
    in_band, in_final = text_reply("resp_a", "item_a", ["Main", " answer", "."])
    oob, oob_final = text_reply("resp_b", "item_b", ["side", " note"], in_conversation=False)
    first = [response_created("resp_a"), *in_band, response_done("resp_a", [in_final])]
    second = [
        response_created("resp_b", out_of_band=True),
        *oob,
        response_done("resp_b", [oob_final], out_of_band=True),
    ]
    merged: list[Any] = []
    i = j = 0
    while i < len(first) or j < len(second):
        if j >= len(second) or (i < len(first) and rng.random() < 0.5):
            merged.append(first[i])
            i += 1
        else:
            merged.append(second[j])
            j += 1
    conversation = fold([*added(user_item("item_u", "Hi")), *merged])
    assert [(i.id, i.text) for i in conversation] == [("item_u", "Hi"), ("item_a", "Main answer.")]
    (side,) = conversation.out_of_band
    assert [i.text for i in side.output] == ["side note"]
    assert conversation.in_progress is None and conversation.ignored == 0


def test_phase_and_unknown_fields_survive_export_and_replay() -> None:
    reply, final = text_reply("resp_1", "item_a", ["Checking", " that."])
    final = {
        **final,
        "phase": "commentary",
        "future_item_field": {"x": 1},
        "content": [{"type": "output_text", "text": "Checking that.", "future_part": True}],
    }
    conversation = fold(
        [
            *added(user_item("item_u", "Hi")),
            response_created("resp_1"),
            *reply[:-2],
            ev("conversation.item.done", previous_item_id=None, item=final),
            ev("response.output_item.done", response_id="resp_1", output_index=0, item=final),
            response_done("resp_1", [final]),
        ]
    )
    assert conversation["item_a"].phase == "commentary"
    _, create = conversation.replay_events()
    sent = json.loads(encode_event(create))
    assert sent["item"]["phase"] == "commentary"
    assert sent["item"]["future_item_field"] == {"x": 1}
    assert sent["item"]["content"] == [
        {"type": "output_text", "text": "Checking that.", "future_part": True}
    ]
    exported = json.loads(conversation.to_json())["items"][1]
    assert exported["phase"] == "commentary"
    assert exported["future_item_field"] == {"x": 1}
    assert exported["content"][0]["future_part"] is True


async def test_phase_survives_a_live_replay(realtime_server: FakeRealtimeServer) -> None:
    spoken = MessageItem(
        role="assistant", content=[OutputTextContent(text="Let me check.")], phase="commentary"
    )
    history = Conversation()
    with anyio.fail_after(10):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            await conn.conversation.item.create(item=user_text("Hi"), wait=True)
            await conn.conversation.item.create(item=spoken, wait=True)
            async for event in conn:
                history.apply(event)
                if len(history) == 2 and history.items[-1].status == "completed":
                    break
        assert history.items[-1].phase == "commentary"
        rebuilt = Conversation()
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            for create in history.replay_events():
                await conn.send(create)
            async for event in conn:
                rebuilt.apply(event)
                if len(rebuilt) == 2 and rebuilt.items[-1].status == "completed":
                    break
    assert [(i.role, i.text, i.phase) for i in rebuilt] == [
        ("user", "Hi", None),
        ("assistant", "Let me check.", "commentary"),
    ]
