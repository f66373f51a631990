"""The fake server's conversation: item create / delete / retrieve / truncate and their errors."""

from __future__ import annotations

import base64
import re

import anyio
from test_server_helpers import connect, types, user_text

from realtime_anyio.testing import FakeRealtimeServer, silence, tone

ITEM = re.compile(r"^item_[A-Za-z0-9]{21}$")
NO_VAD = {
    "type": "session.update",
    "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
}


async def test_create_answers_added_then_done_with_a_server_id() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send({"type": "conversation.item.create", "item": user_text("Hello")})
            added, done = await wire.recv(), await wire.recv()
            assert types([added, done]) == ["conversation.item.added", "conversation.item.done"]
            item = added["item"]
            assert ITEM.match(item["id"])
            assert item == {
                "id": item["id"],
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hello"}],
            }
            assert added["previous_item_id"] is None and done["item"] == item
            assert await wire.quiet(0.05) == []


async def test_previous_item_id_places_the_item() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            for name in ("a", "b"):
                await wire.send(
                    {"type": "conversation.item.create", "item": user_text(name, id=name)}
                )
                await wire.until("conversation.item.done")
            await wire.send(
                {
                    "type": "conversation.item.create",
                    "previous_item_id": "root",
                    "item": user_text("first", id="first"),
                }
            )
            assert (await wire.until("conversation.item.added"))["previous_item_id"] is None
            await wire.send(
                {
                    "type": "conversation.item.create",
                    "previous_item_id": "a",
                    "item": user_text("middle", id="middle"),
                }
            )
            assert (await wire.until("conversation.item.added"))["previous_item_id"] == "a"
            ids = [item["id"] for item in server.sessions[0].conversation.items]
            assert ids == ["first", "a", "middle", "b"]

            await wire.send(
                {
                    "type": "conversation.item.create",
                    "event_id": "evt_9",
                    "previous_item_id": "missing",
                    "item": user_text("lost"),
                }
            )
            error = await wire.error()
            assert error["param"] == "previous_item_id" and error["event_id"] == "evt_9"
            assert len(server.sessions[0].conversation.items) == 4

            await wire.send({"type": "conversation.item.create", "item": user_text("dup", id="a")})
            assert (await wire.error())["param"] == "item.id"


async def test_invalid_items_are_refused() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            cases = [
                ({"type": "message", "content": []}, "missing_required_parameter", "item.role"),
                (
                    {"type": "message", "role": "robot", "content": []},
                    "invalid_value",
                    "item.role",
                ),
                (
                    {"type": "message", "role": "user", "content": [{"type": "output_text"}]},
                    "invalid_value",
                    "item.content[0].type",
                ),
                (
                    {"type": "message", "role": "assistant", "content": [{"type": "output_audio"}]},
                    "invalid_value",
                    "item.content[0].type",
                ),
                (
                    {"type": "function_call_output", "call_id": "call_nope", "output": "x"},
                    "invalid_value",
                    "item.call_id",
                ),
                (
                    {"type": "message", "role": "user", "content": "hi"},
                    "invalid_type",
                    "item.content",
                ),
                (
                    {"type": "message", "role": "user", "content": [], "color": "red"},
                    "unknown_parameter",
                    "item.color",
                ),
            ]
            for item, code, param in cases:
                await wire.send({"type": "conversation.item.create", "item": item})
                error = await wire.error()
                assert (error["code"], error["param"]) == (code, param), item
            assert server.sessions[0].conversation.items == []


async def test_delete_and_retrieve() -> None:
    pcm = tone(440, 0.2)
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            item = {
                "id": "voice",
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_audio", "audio": base64.b64encode(pcm).decode()},
                ],
            }
            await wire.send({"type": "conversation.item.create", "item": item})
            added = await wire.until("conversation.item.added")
            assert added["item"]["content"] == [{"type": "input_audio", "transcript": None}]

            await wire.send({"type": "conversation.item.retrieve", "item_id": "voice"})
            retrieved = (await wire.until("conversation.item.retrieved"))["item"]
            assert base64.b64decode(retrieved["content"][0]["audio"]) == pcm

            await wire.send({"type": "conversation.item.delete", "item_id": "voice"})
            assert (await wire.until("conversation.item.deleted"))["item_id"] == "voice"
            assert server.sessions[0].conversation.items == []

            await wire.send({"type": "conversation.item.delete", "item_id": "voice"})
            assert await wire.error() == {
                "type": "invalid_request_error",
                "code": "item_delete_invalid_item_id",
                "message": "Error deleting item: the item with id 'voice' does not exist.",
                "param": "item_id",
                "event_id": None,
            }
            await wire.send({"type": "conversation.item.retrieve", "item_id": "voice"})
            assert (await wire.error())["code"] == "item_retrieve_invalid_item_id"


async def test_truncate_assistant_audio() -> None:
    with anyio.fail_after(10):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            server.script.reply_text("Here is a fairly long answer to truncate.")
            await wire.send({"type": "response.create"})
            done = await wire.until("response.done")
            item_id = done["response"]["output"][0]["id"]
            audio = server.sessions[0].conversation.audio[(item_id, 0)]
            length_ms = len(audio) // 48

            await wire.send(
                {
                    "type": "conversation.item.truncate",
                    "event_id": "evt_t",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": length_ms + 500,
                }
            )
            assert await wire.error() == {
                "type": "invalid_request_error",
                "code": "invalid_value",
                "message": f"Audio content of {length_ms}ms is already shorter than "
                f"{length_ms + 500}ms",
                "param": "audio_end_ms",
                "event_id": "evt_t",
            }

            await wire.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": 300,
                }
            )
            truncated = await wire.until("conversation.item.truncated")
            assert truncated == {
                "type": "conversation.item.truncated",
                "event_id": truncated["event_id"],
                "item_id": item_id,
                "content_index": 0,
                "audio_end_ms": 300,
            }
            await wire.send({"type": "conversation.item.retrieve", "item_id": item_id})
            part = (await wire.until("conversation.item.retrieved"))["item"]["content"][0]
            assert part["type"] == "output_audio" and part["transcript"] == ""
            assert len(base64.b64decode(part["audio"])) == 300 * 48


async def test_truncate_errors() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send({"type": "conversation.item.create", "item": user_text("hi", id="u")})
            await wire.until("conversation.item.done")
            truncate = {"type": "conversation.item.truncate", "content_index": 0, "audio_end_ms": 0}
            await wire.send({**truncate, "item_id": "u"})
            assert await wire.error() == {
                "type": "invalid_request_error",
                "code": "unsupported_content_type",
                "message": "Only model output audio messages can be truncated",
                "param": "item_id",
                "event_id": None,
            }
            await wire.send({**truncate, "item_id": "ghost"})
            assert (await wire.error())["code"] == "item_truncate_invalid_item_id"
            await wire.send({**truncate, "item_id": "u", "audio_end_ms": -1})
            assert (await wire.error())["code"] == "integer_below_min_value"


async def test_committed_user_audio_is_retrievable() -> None:
    pcm = tone(300, 0.3) + silence(0.1)
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send(NO_VAD)
            await wire.until("session.updated")
            await wire.append(pcm)
            await wire.send({"type": "input_audio_buffer.commit"})
            committed = await wire.until("input_audio_buffer.committed")
            await wire.send({"type": "conversation.item.retrieve", "item_id": committed["item_id"]})
            item = (await wire.until("conversation.item.retrieved"))["item"]
            assert base64.b64decode(item["content"][0]["audio"]) == pcm
