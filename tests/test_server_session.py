"""The fake server's session handling: defaults, session.update, protocol errors, ids."""

from __future__ import annotations

import json
import re
import time

import anyio
import pytest
from test_server_helpers import connect, user_text

from realtime_anyio.testing import FakeRealtimeServer
from realtime_anyio.testing._settings import DEFAULT_INSTRUCTIONS

ID = re.compile(r"^(event|sess|item|resp|conv)_[A-Za-z0-9]{21}$")

SUPPORTED = (
    "'session.update', 'session.close', 'input_audio_buffer.append', "
    "'session.input_audio_buffer.append', 'input_audio_buffer.commit', "
    "'input_audio_buffer.clear', 'conversation.item.create', 'conversation.item.truncate', "
    "'conversation.item.delete', 'conversation.item.retrieve', 'response.create', and "
    "'response.cancel'"
)


async def test_session_created_has_the_service_defaults() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server, created=False) as wire:
            event = await wire.recv()
            assert event["type"] == "session.created"
            assert ID.match(event["event_id"])
            session = event["session"]
            assert ID.match(session["id"]) and session["id"].startswith("sess_")
            assert abs(session["expires_at"] - (time.time() + 3600)) < 5
            del session["id"], session["expires_at"]
            assert session == {
                "type": "realtime",
                "object": "realtime.session",
                "model": "gpt-realtime",
                "output_modalities": ["audio"],
                "instructions": DEFAULT_INSTRUCTIONS,
                "tools": [],
                "tool_choice": "auto",
                "max_output_tokens": "inf",
                "tracing": None,
                "truncation": "auto",
                "prompt": None,
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "transcription": None,
                        "noise_reduction": None,
                        "turn_detection": {
                            "type": "server_vad",
                            "threshold": 0.5,
                            "prefix_padding_ms": 300,
                            "silence_duration_ms": 200,
                            "idle_timeout_ms": None,
                            "create_response": True,
                            "interrupt_response": True,
                        },
                    },
                    "output": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "voice": "alloy",
                        "speed": 1.0,
                    },
                },
                "include": None,
            }
            # GA sends no conversation.created.
            assert await wire.quiet(0.1) == []


async def test_model_comes_from_the_query() -> None:
    with anyio.fail_after(5):
        async with (
            FakeRealtimeServer() as server,
            connect(server, query="model=gpt-realtime-mini", created=False) as wire,
        ):
            event = await wire.recv()
            assert event["session"]["model"] == "gpt-realtime-mini"


async def test_transcription_intent_opens_a_transcription_session() -> None:
    with anyio.fail_after(5):
        async with (
            FakeRealtimeServer() as server,
            connect(server, query="intent=transcription", created=False) as wire,
        ):
            session = (await wire.recv())["session"]
            assert session["type"] == "transcription"
            assert session["object"] == "realtime.transcription_session"
            assert "model" not in session
            await wire.send({"type": "response.create"})
            error = await wire.error()
            assert error["param"] == "type"


async def test_session_update_merges_and_fills_defaults() -> None:
    update = {
        "type": "session.update",
        "event_id": "evt_client_1",
        "session": {
            "type": "realtime",
            "instructions": "Answer in two words.",
            "output_modalities": ["text"],
            "audio": {
                "input": {
                    "turn_detection": {"type": "server_vad", "create_response": False},
                    "transcription": {"model": "whisper-1"},
                },
                "output": {"voice": "marin"},
            },
        },
    }
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send(update)
            event = await wire.until("session.updated")
            assert event["event_id"] != "evt_client_1"
            session = event["session"]
            assert session["instructions"] == "Answer in two words."
            assert session["output_modalities"] == ["text"]
            audio_in = session["audio"]["input"]
            assert audio_in["turn_detection"] == {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 200,
                "idle_timeout_ms": None,
                "create_response": False,
                "interrupt_response": True,
            }
            assert audio_in["transcription"] == {
                "model": "whisper-1",
                "language": None,
                "prompt": None,
            }
            assert session["audio"]["output"] == {
                "format": {"type": "audio/pcm", "rate": 24000},
                "voice": "marin",
                "speed": 1.0,
            }
            # Untouched fields keep their values.
            assert session["tools"] == [] and session["tool_choice"] == "auto"
            assert server.sessions[0].session == session

            await wire.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}},
                    },
                }
            )
            detection = (await wire.until("session.updated"))["session"]["audio"]["input"][
                "turn_detection"
            ]
            assert detection == {
                "type": "semantic_vad",
                "eagerness": "auto",
                "create_response": True,
                "interrupt_response": True,
            }
            await wire.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
                }
            )
            session = (await wire.until("session.updated"))["session"]
            assert session["audio"]["input"]["turn_detection"] is None


INVALID_UPDATES: list[tuple[dict[str, object], str, str, str]] = [
    (
        {"type": "realtime", "bogus_field": 1},
        "unknown_parameter",
        "Unknown parameter: 'session.bogus_field'.",
        "session.bogus_field",
    ),
    (
        {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "x": 1}}}},
        "unknown_parameter",
        "Unknown parameter: 'session.audio.input.format.x'.",
        "session.audio.input.format.x",
    ),
    (
        {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}},
        "integer_below_min_value",
        "Expected a value >= 24000",
        "session.audio.input.format.rate",
    ),
    (
        {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "bogus"}}}},
        "invalid_value",
        "Invalid value: 'bogus'. Supported values are: 'server_vad' and 'semantic_vad'.",
        "session.audio.input.turn_detection.type",
    ),
    (
        {"type": "realtime", "audio": {"output": {"format": {"type": "audio/mp3"}}}},
        "invalid_value",
        "Invalid value: 'audio/mp3'. Supported values are: 'audio/pcm', 'audio/pcmu', and "
        "'audio/pcma'.",
        "session.audio.output.format.type",
    ),
    (
        {"type": "bogus"},
        "invalid_value",
        "Invalid value: 'bogus'. Supported values are: 'realtime' and 'transcription'.",
        "session.type",
    ),
    (
        {"instructions": "hi"},
        "missing_required_parameter",
        "Missing required parameter: 'session.type'.",
        "session.type",
    ),
    (
        {"type": "realtime", "instructions": 5},
        "invalid_type",
        "Invalid type for 'session.instructions': expected a string, but got an integer instead.",
        "session.instructions",
    ),
    (
        {"type": "realtime", "audio": {"output": {"speed": 2.0}}},
        "decimal_above_max_value",
        "Expected a value <= 1.5",
        "session.audio.output.speed",
    ),
    (
        {"type": "realtime", "max_output_tokens": 0},
        "integer_below_min_value",
        "Expected a value >= 1",
        "session.max_output_tokens",
    ),
]


async def test_invalid_session_update_is_rejected_whole() -> None:
    # (pytest.mark.parametrize does not combine with the anyio backend parametrization here.)
    with anyio.fail_after(10):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            before = json.loads(json.dumps(server.sessions[0].session))
            for update, code, message, param in INVALID_UPDATES:
                if "type" in update and "instructions" not in update:
                    update = {**update, "instructions": "changed"}
                await wire.send({"type": "session.update", "event_id": "evt_7", "session": update})
                event = await wire.until("error")
                assert event["error"] == {
                    "type": "invalid_request_error",
                    "code": code,
                    "message": message,
                    "param": param,
                    "event_id": "evt_7",
                }
                assert server.sessions[0].session == before
            # The session goes on.
            await wire.send({"type": "session.update", "session": {"type": "realtime"}})
            assert (await wire.until("session.updated"))["session"] == before


async def test_voice_cannot_change_after_audio_output() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            server.script.reply_text("Hi.")
            await wire.send({"type": "response.create"})
            await wire.until("response.done")
            await wire.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "audio": {"output": {"voice": "echo"}}},
                }
            )
            error = await wire.error()
            assert error["code"] == "cannot_update_voice"
            assert error["param"] == "session.audio.output.voice"
            # The same voice is fine.
            await wire.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "audio": {"output": {"voice": "alloy"}}},
                }
            )
            await wire.until("session.updated")


async def test_protocol_errors_keep_the_session_up() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send_raw("{nope")
            error = await wire.error()
            assert error["code"] == "invalid_json"
            assert error["message"].startswith("Invalid event: failed to parse JSON value.")
            assert error["event_id"] is None

            await wire.send({"type": "nope", "event_id": "evt_1"})
            assert await wire.error() == {
                "type": "invalid_request_error",
                "code": "invalid_value",
                "message": f"Invalid value: 'nope'. Supported values are: {SUPPORTED}.",
                "param": "type",
                "event_id": "evt_1",
            }

            await wire.send_raw(b"\x00\x01")
            error = await wire.error()
            assert error["code"] == "invalid_event"
            assert error["message"] == (
                "Expected a text WebSocket message; binary frames are not supported."
            )

            await wire.send({"type": "output_audio_buffer.clear", "event_id": "evt_2"})
            error = await wire.error()
            assert error["code"] == "invalid_value" and error["event_id"] == "evt_2"

            await wire.send({"type": "conversation.item.create", "event_id": "evt_3"})
            assert await wire.error() == {
                "type": "invalid_request_error",
                "code": "missing_required_parameter",
                "message": "Missing required parameter: 'item'.",
                "param": "item",
                "event_id": "evt_3",
            }

            await wire.send({"type": "response.cancel", "bogus": True})
            error = await wire.error()
            assert error["code"] == "unknown_parameter" and error["param"] == "bogus"

            await wire.send({"event_id": "evt_4"})
            error = await wire.error()
            assert error["code"] == "missing_required_parameter" and error["param"] == "type"

            await wire.send_raw("[1, 2]")
            assert (await wire.error())["code"] == "invalid_type"

            # Still alive.
            await wire.send({"type": "conversation.item.create", "item": user_text("hi")})
            await wire.until("conversation.item.done")


async def test_session_close_closes_the_socket() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send({"type": "session.close"})
            from realtime_anyio import ConnectionClosed

            with pytest.raises(ConnectionClosed) as caught:
                await wire.recv()
            assert caught.value.code == 1000


async def test_seeded_servers_make_the_same_ids() -> None:
    ids: list[str] = []
    with anyio.fail_after(5):
        for _ in range(2):
            async with FakeRealtimeServer(seed=7) as server, connect(server, created=False) as w:
                ids.append((await w.recv())["session"]["id"])
    assert ids[0] == ids[1]
