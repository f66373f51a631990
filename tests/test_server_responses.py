"""The fake server's responses: event order, audio, usage, cancel, out-of-band, tools, limits."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import anyio
import anyio.lowlevel
from test_server_helpers import connect, types, user_text

from realtime_anyio.testing import (
    FakeRealtimeServer,
    Reply,
    Say,
    ToolCall,
    TurnContext,
)
from realtime_anyio.testing._audio import level_dbfs

TEXT = {"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}}
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Look up the weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def collapse(names: list[str]) -> list[str]:
    """Event types with runs of the same delta type folded into one entry ending in ``*``."""
    out: list[str] = []
    for name in names:
        folded = name + "*" if name.endswith(".delta") else name
        if not out or out[-1] != folded or not folded.endswith("*"):
            out.append(folded)
    return out


async def test_text_turn_event_order() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            server.script.reply_text("Hi there, friend.")
            await wire.send(TEXT)
            await wire.until("session.updated")
            await wire.send({"type": "conversation.item.create", "item": user_text("Hello")})
            await wire.send({"type": "response.create"})
            events = await wire.collect("rate_limits.updated")
            assert collapse(types(events)) == [
                "conversation.item.added",
                "conversation.item.done",
                "response.created",
                "response.output_item.added",
                "conversation.item.added",
                "response.content_part.added",
                "response.output_text.delta*",
                "response.output_text.done",
                "response.content_part.done",
                "conversation.item.done",
                "response.output_item.done",
                "response.done",
                "rate_limits.updated",
            ]
            by_type = {e["type"]: e for e in events}
            created = by_type["response.created"]["response"]
            assert re.match(r"^resp_[A-Za-z0-9]{21}$", created["id"])
            assert created["status"] == "in_progress" and created["output"] == []
            assert created["usage"] is None and created["status_details"] is None
            assert created["conversation_id"].startswith("conv_")
            assert created["output_modalities"] == ["text"]
            deltas = [e for e in events if e["type"] == "response.output_text.delta"]
            assert "".join(d["delta"] for d in deltas) == "Hi there, friend."
            assert all(isinstance(d["obfuscation"], str) and d["obfuscation"] for d in deltas)
            assert by_type["response.content_part.added"]["part"] == {"type": "text", "text": ""}
            user_item = events[0]["item"]
            assistant_added = events[4]
            assert assistant_added["previous_item_id"] == user_item["id"]
            assert assistant_added["item"]["status"] == "in_progress"
            assert by_type["conversation.item.done"]["previous_item_id"] is None
            done = by_type["response.done"]["response"]
            assert done["status"] == "completed"
            assert done["output"][0]["content"] == [
                {"type": "output_text", "text": "Hi there, friend."}
            ]
            usage = done["usage"]
            assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] > 0
            assert set(usage["input_token_details"]) == {
                "text_tokens",
                "audio_tokens",
                "image_tokens",
                "cached_tokens",
                "cached_tokens_details",
            }
            limits = by_type["rate_limits.updated"]["rate_limits"]
            assert limits == [
                {
                    "name": "tokens",
                    "limit": 15000000,
                    "remaining": 15000000 - usage["total_tokens"],
                    "reset_seconds": 0.001,
                }
            ]


async def test_audio_turn_streams_real_pcm_with_a_transcript() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            server.script.reply_text("Hello! Nice to hear from you.")
            await wire.send({"type": "response.create"})
            events = await wire.collect("rate_limits.updated")
            names = types(events)
            assert names[:4] == [
                "response.created",
                "response.output_item.added",
                "conversation.item.added",
                "response.content_part.added",
            ]
            tail = [n for n in names if not n.endswith(".delta") and n not in names[:4]]
            assert tail == [
                "response.output_audio.done",
                "response.output_audio_transcript.done",
                "response.content_part.done",
                "conversation.item.done",
                "response.output_item.done",
                "response.done",
                "rate_limits.updated",
            ]
            transcript = [
                e for e in events if e["type"] == "response.output_audio_transcript.delta"
            ]
            audio = [e for e in events if e["type"] == "response.output_audio.delta"]
            assert names.index("response.output_audio_transcript.delta") < names.index(
                "response.output_audio.delta"
            )
            assert "".join(e["delta"] for e in transcript) == "Hello! Nice to hear from you."
            assert all("obfuscation" in e for e in transcript)
            assert all("obfuscation" not in e for e in audio)
            pcm = b"".join(base64.b64decode(e["delta"]) for e in audio)
            assert len(pcm) % 2 == 0 and len(pcm) / 48 > 1000  # over a second of speech
            assert -40 < level_dbfs(pcm) < -6
            part_added = events[3]["part"]
            assert part_added == {"type": "audio", "transcript": ""}
            done = events[-2]["response"]
            assert done["output"][0]["content"] == [
                {"type": "output_audio", "transcript": "Hello! Nice to hear from you."}
            ]
            assert done["usage"]["output_token_details"]["audio_tokens"] > 0


async def test_one_active_response_per_conversation_and_out_of_band_in_parallel() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send(TEXT)
            await wire.until("session.updated")
            server.script.reply(Say("Slow answer."), delay=0.5)
            server.script.reply_text("Side answer.")
            await wire.send({"type": "response.create"})
            created = await wire.until("response.created")
            await wire.send({"type": "response.create", "event_id": "evt_2"})
            error = await wire.error()
            assert error["code"] == "conversation_already_has_active_response"
            assert error["message"] == (
                "Conversation already has an active response in progress: "
                f"{created['response']['id']}. Wait until the response is finished before "
                "creating a new one."
            )
            assert error["event_id"] == "evt_2"
            await wire.send(
                {
                    "type": "response.create",
                    "response": {
                        "conversation": "none",
                        "metadata": {"topic": "side"},
                        "input": [],
                        "output_modalities": ["text"],
                    },
                }
            )
            oob: list[dict[str, Any]] = []
            while True:
                event = await wire.recv()
                oob.append(event)
                if event["type"] == "response.done" and event["response"]["metadata"]:
                    break
            side = oob[-1]["response"]
            assert side["conversation_id"] is None and side["metadata"] == {"topic": "side"}
            assert side["status"] == "completed"
            # Out-of-band output never enters the conversation.
            assert "conversation.item.added" not in types(oob)
            main = await wire.until("response.done")
            assert main["response"]["id"] == created["response"]["id"]
            assert len(server.sessions[0].conversation.items) == 1


async def test_cancel_mid_stream_and_with_nothing_active() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer(pacing="realtime") as server, connect(server) as wire:
            server.script.reply_text("A long answer that takes a while to say out loud.")
            await wire.send({"type": "response.create"})
            await wire.until("response.output_audio.delta")
            await wire.send({"type": "response.cancel", "event_id": "evt_c"})
            events = await wire.collect("response.done")
            tail = [n for n in types(events) if not n.endswith(".delta")]
            assert tail == [
                "response.output_audio.done",
                "response.output_audio_transcript.done",
                "response.content_part.done",
                "conversation.item.done",
                "response.output_item.done",
                "response.done",
            ]
            response = events[-1]["response"]
            assert response["status"] == "cancelled"
            assert response["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
            assert response["output"][0]["status"] == "incomplete"
            await wire.until("rate_limits.updated")

            await wire.send({"type": "response.cancel", "event_id": "evt_d"})
            assert await wire.error() == {
                "type": "invalid_request_error",
                "code": "response_cancel_not_active",
                "message": "Cancellation failed: no active response found",
                "param": None,
                "event_id": "evt_d",
            }
            # A new response can start at once.
            server.script.reply_text("Again.")
            await wire.send({"type": "response.create"})
            assert (await wire.until("response.done"))["response"]["status"] == "completed"


async def test_function_call_and_continuation() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "output_modalities": ["text"],
                        "tools": [WEATHER_TOOL],
                    },
                }
            )
            session = (await wire.until("session.updated"))["session"]
            assert session["tools"] == [WEATHER_TOOL]
            server.script.reply_tool_call("get_weather", {"city": "Paris"})
            await wire.send({"type": "conversation.item.create", "item": user_text("Weather?")})
            await wire.send({"type": "response.create"})
            events = await wire.collect("response.done")
            names = collapse(types(events))
            assert names[names.index("response.created") :] == [
                "response.created",
                "response.output_item.added",
                "conversation.item.added",
                "response.function_call_arguments.delta*",
                "response.function_call_arguments.done",
                "conversation.item.done",
                "response.output_item.done",
                "response.done",
            ]
            added = next(e for e in events if e["type"] == "response.output_item.added")["item"]
            assert added["type"] == "function_call" and added["arguments"] == ""
            assert re.match(r"^call_[A-Za-z0-9]{16}$", added["call_id"])
            arguments_done = next(
                e for e in events if e["type"] == "response.function_call_arguments.done"
            )
            assert arguments_done["name"] == "get_weather"
            assert json.loads(arguments_done["arguments"]) == {"city": "Paris"}
            deltas = [e for e in events if e["type"] == "response.function_call_arguments.delta"]
            assert all(d["call_id"] == added["call_id"] for d in deltas)

            await wire.send(
                {
                    "type": "conversation.item.create",
                    "item": {
                        "type": "function_call_output",
                        "call_id": added["call_id"],
                        "output": "Sunny, 21 C",
                    },
                }
            )
            output_item = (await wire.until("conversation.item.added"))["item"]
            assert output_item == {
                "id": output_item["id"],
                "type": "function_call_output",
                "call_id": added["call_id"],
                "output": "Sunny, 21 C",
            }
            await wire.send({"type": "response.create"})
            done = await wire.until("response.done")
            text = done["response"]["output"][0]["content"][0]["text"]
            assert text == "The tool answered: Sunny, 21 C"


async def test_responder_callable_sees_the_context() -> None:
    seen: list[TurnContext] = []

    def responder(context: TurnContext) -> Reply:
        seen.append(context)
        return Reply.of(f"Turn {context.turn}: {context.last_user_text}")

    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            server.script.respond_with(responder)
            await wire.send(TEXT)
            await wire.send({"type": "conversation.item.create", "item": user_text("Ping")})
            await wire.send({"type": "response.create", "response": {"instructions": "Be brief"}})
            done = await wire.until("response.done")
            assert done["response"]["output"][0]["content"][0]["text"] == "Turn 0: Ping"
            assert seen[0].response == {"instructions": "Be brief"}
            assert seen[0].session["output_modalities"] == ["text"]
            assert [i["role"] for i in seen[0].input] == ["user"]

            await wire.send(
                {
                    "type": "response.create",
                    "response": {
                        "conversation": "none",
                        "input": [
                            user_text("Out of band"),
                            {"type": "item_reference", "id": seen[0].input[0]["id"]},
                        ],
                    },
                }
            )
            done = await wire.until("response.done")
            assert seen[1].last_user_text == "Ping"
            assert (
                len(seen[1].input) == 2 and seen[1].input[0]["content"][0]["text"] == "Out of band"
            )

            await wire.send(
                {
                    "type": "response.create",
                    "response": {"input": [{"type": "item_reference", "id": "nope"}]},
                }
            )
            error = await wire.error()
            assert error["param"] == "response.input[0].id"


async def test_async_responder_and_multi_item_reply() -> None:
    async def responder(context: TurnContext) -> Reply:
        await anyio.lowlevel.checkpoint()
        return Reply.of("Let me check.", ToolCall("lookup", '{"q": 1}', call_id="call_fixed"))

    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            server.script.respond_with(responder)
            await wire.send(TEXT)
            await wire.send({"type": "response.create"})
            done = (await wire.until("response.done"))["response"]
            assert [o["type"] for o in done["output"]] == ["message", "function_call"]
            assert done["output"][1]["call_id"] == "call_fixed"


async def test_max_output_tokens_and_failures() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send(TEXT)
            server.script.reply_text("one two three four five six seven eight nine ten")
            await wire.send({"type": "response.create", "response": {"max_output_tokens": 3}})
            done = (await wire.until("response.done"))["response"]
            assert done["status"] == "incomplete"
            assert done["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
            assert done["output"][0]["content"][0]["text"] == "one two three"
            assert done["max_output_tokens"] == 3

            server.script.fail("insufficient_quota", "You exceeded your current quota.")
            await wire.send({"type": "response.create"})
            done = (await wire.until("response.done"))["response"]
            assert done["status"] == "failed"
            assert done["status_details"] == {
                "type": "failed",
                "error": {
                    "type": "requests",
                    "code": "insufficient_quota",
                    "message": "You exceeded your current quota.",
                },
            }

            def broken(context: TurnContext) -> str:
                raise RuntimeError("boom")

            server.script.respond_with(broken)
            await wire.send({"type": "response.create"})
            done = (await wire.until("response.done"))["response"]
            assert done["status"] == "failed"
            assert "boom" in done["status_details"]["error"]["message"]


async def test_response_parameters_are_validated() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send(
                {"type": "response.create", "response": {"output_modalities": ["text", "audio"]}}
            )
            assert (await wire.error())["param"] == "response.output_modalities"
            await wire.send({"type": "response.create", "response": {"conversation": "other"}})
            assert (await wire.error())["param"] == "response.conversation"
            await wire.send({"type": "response.create", "response": {"temperature": 0.2}})
            assert (await wire.error())["code"] == "unknown_parameter"
            assert server.sessions[0].conversation.items == []


async def test_g711_output_format() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "audio": {"output": {"format": {"type": "audio/pcmu"}}},
                    },
                }
            )
            server.script.reply_text("Hello caller.")
            await wire.send({"type": "response.create"})
            events = await wire.collect("response.done")
            audio = b"".join(
                base64.b64decode(e["delta"])
                for e in events
                if e["type"] == "response.output_audio.delta"
            )
            # 8 kHz, one byte per sample: a sixth of the PCM16 24 kHz size.
            assert audio and events[-1]["response"]["audio"]["output"]["format"] == {
                "type": "audio/pcmu"
            }
            assert len(audio) / 8 > 500


async def test_cancel_that_overtakes_response_created_cancels_nothing() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            server.script.reply_text("Still here.")
            # Both frames in one write: the cancel reaches the server before response.created
            # has gone out, as in livekit/agents#6244.
            await wire.transport.send_texts(
                [
                    json.dumps({"type": "response.create"}).encode(),
                    json.dumps({"type": "response.cancel", "event_id": "evt_early"}).encode(),
                ]
            )
            error = await wire.error()
            assert (error["code"], error["event_id"]) == ("response_cancel_not_active", "evt_early")
            done = await wire.until("response.done")
            assert done["response"]["status"] == "completed"


async def test_session_controls_for_tests() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            session = server.sessions[0]
            await session.send_event(
                {
                    "type": "rate_limits.updated",
                    "rate_limits": [
                        {"name": "tokens", "limit": 10, "remaining": 0, "reset_seconds": 1.5}
                    ],
                }
            )
            event = await wire.recv()
            assert event["rate_limits"][0]["remaining"] == 0
            assert event["event_id"].startswith("event_")
            await session.close(4000, "invalid_request_error.custom")
            from realtime_anyio import ConnectionClosed

            try:
                await wire.recv()
            except ConnectionClosed as closed:
                assert (closed.code, closed.reason) == (4000, "invalid_request_error.custom")
            else:
                raise AssertionError("the connection stayed open")
            await session.closed.wait()


async def test_waiting_for_client_events() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            session = await server.wait_for_session()
            async with anyio.create_task_group() as tg:
                tg.start_soon(session.wait_for_received, "conversation.item.create", 2)
                await wire.send({"type": "conversation.item.create", "item": user_text("a")})
                await wire.send({"type": "conversation.item.create", "item": user_text("b")})
            assert session.received_count("conversation.item.create") == 2
            assert [e["type"] for e in session.received] == ["conversation.item.create"] * 2
