"""The fake server's input audio: commit and clear, VAD timings, barge-in, transcription."""

from __future__ import annotations

import base64
import math
from typing import Any

import anyio
from test_server_helpers import Wire, connect, types

from realtime_anyio.testing import FakeRealtimeServer, silence, speech
from realtime_anyio.testing._audio import encode_g711
from realtime_anyio.testing._vad import frame_levels, threshold_dbfs

QUESTION = "What is the weather like in Paris today"


def session_update(**audio_input: Any) -> dict[str, Any]:
    return {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"input": audio_input}},
    }


def last_voiced_end_ms(pcm: bytes) -> int:
    """End of the last 10 ms frame above the default VAD threshold (computed independently)."""
    levels = frame_levels(pcm)
    voiced = [i for i, level in enumerate(levels) if level > threshold_dbfs(0.5)]
    return (voiced[-1] + 1) * 10


async def configure(wire: Wire, **audio_input: Any) -> dict[str, Any]:
    await wire.send(session_update(**audio_input))
    return (await wire.until("session.updated"))["session"]


async def test_manual_commit_and_clear() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await configure(wire, turn_detection=None)
            await wire.append(silence(0.05))
            await wire.send({"type": "input_audio_buffer.commit", "event_id": "evt_c"})
            assert await wire.error() == {
                "type": "invalid_request_error",
                "code": "input_audio_buffer_commit_empty",
                "message": "Error committing input audio buffer: buffer too small. Expected at "
                "least 100ms of audio, but buffer only has 50.00ms of audio.",
                "param": None,
                "event_id": "evt_c",
            }
            # The buffer keeps counting from the last commit: 50 + 60 ms is enough.
            await wire.append(silence(0.06))
            await wire.send({"type": "input_audio_buffer.commit"})
            events = await wire.collect("conversation.item.done")
            assert types(events) == [
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
            ]
            committed = events[0]
            assert committed["previous_item_id"] is None
            assert events[1]["item"] == {
                "id": committed["item_id"],
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_audio", "transcript": None}],
            }
            # A manual commit starts no response.
            assert await wire.quiet(0.1) == []

            await wire.append(silence(0.2))
            await wire.send({"type": "input_audio_buffer.clear"})
            assert (await wire.recv())["type"] == "input_audio_buffer.cleared"
            await wire.send({"type": "input_audio_buffer.commit"})
            assert "0.00ms" in (await wire.error())["message"]


async def test_server_vad_turn_timings_and_response() -> None:
    voice = speech(QUESTION, voice="echo")
    pcm = silence(0.5) + voice + silence(1.0)
    expected_end = 500 + last_voiced_end_ms(voice) + 200
    with anyio.fail_after(10):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            server.script.reply_text("It is sunny.")
            await wire.append(pcm)
            events = await wire.collect("rate_limits.updated")
            names = types(events)
            assert names[:6] == [
                "input_audio_buffer.speech_started",
                "input_audio_buffer.speech_stopped",
                "input_audio_buffer.committed",
                "conversation.item.added",
                "conversation.item.done",
                "response.created",
            ]
            started, stopped, committed = events[:3]
            assert started["audio_start_ms"] == 500 - 300
            assert abs(stopped["audio_end_ms"] - expected_end) <= 10
            item_id = started["item_id"]
            assert stopped["item_id"] == committed["item_id"] == item_id
            assert events[3]["item"]["content"] == [{"type": "input_audio", "transcript": None}]
            assert events[-2]["response"]["status"] == "completed"
            audio = server.sessions[0].conversation.audio[(item_id, 0)]
            assert len(audio) == (stopped["audio_end_ms"] - 200) * 48


async def test_vad_without_create_response_only_commits() -> None:
    pcm = silence(0.3) + speech("Hello there") + silence(0.6)
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await configure(wire, turn_detection={"type": "server_vad", "create_response": False})
            await wire.append(pcm)
            events = await wire.collect("conversation.item.done")
            assert types(events)[0] == "input_audio_buffer.speech_started"
            assert "response.created" not in types(await wire.quiet(0.2))


async def test_positions_count_all_audio_in_the_session() -> None:
    turn = silence(0.4) + speech("One more thing") + silence(0.5)
    with anyio.fail_after(10):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await configure(
                wire,
                turn_detection={"type": "server_vad", "create_response": False},
            )
            await wire.append(turn)
            first = await wire.until("input_audio_buffer.speech_stopped")
            await wire.until("conversation.item.done")
            await wire.append(turn)
            second_start = await wire.until("input_audio_buffer.speech_started")
            second_stop = await wire.until("input_audio_buffer.speech_stopped")
            length = len(turn) // 48
            assert second_start["audio_start_ms"] == length + 400 - 300
            assert second_stop["audio_end_ms"] == first["audio_end_ms"] + length


async def test_input_transcription_events() -> None:
    pcm = silence(0.3) + speech(QUESTION) + silence(0.6)
    with anyio.fail_after(10):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            server.script.transcripts("What is the weather like in Paris today?")
            await configure(
                wire,
                transcription={"model": "gpt-4o-transcribe"},
                turn_detection={"type": "server_vad", "create_response": False},
            )
            await wire.append(pcm)
            events = await wire.collect("conversation.item.input_audio_transcription.completed")
            deltas = [
                e
                for e in events
                if e["type"] == "conversation.item.input_audio_transcription.delta"
            ]
            completed = events[-1]
            item_id = completed["item_id"]
            assert "".join(d["delta"] for d in deltas) == completed["transcript"]
            assert all(d["item_id"] == item_id and d["obfuscation"] for d in deltas)
            assert completed["transcript"] == "What is the weather like in Paris today?"
            committed_ms = len(server.sessions[0].conversation.audio[(item_id, 0)]) / 48
            assert completed["usage"] == {
                "type": "duration",
                "seconds": math.ceil(committed_ms / 1000),
            }
            await wire.send({"type": "conversation.item.retrieve", "item_id": item_id})
            item = (await wire.until("conversation.item.retrieved"))["item"]
            assert item["content"][0]["transcript"] == completed["transcript"]


async def test_barge_in_cancels_with_turn_detected() -> None:
    interruption = speech("Wait, stop", voice="echo") + silence(0.5)
    with anyio.fail_after(10):
        async with FakeRealtimeServer(pacing="realtime") as server, connect(server) as wire:
            server.script.reply_text("This is a long story about many things that happened.")
            server.script.reply_text("Okay.")
            await wire.send({"type": "response.create"})
            first_delta = await wire.until("response.output_audio.delta")
            item_id = first_delta["item_id"]
            events: list[dict[str, Any]] = []
            async with anyio.create_task_group() as tg:
                tg.start_soon(wire.append, interruption)
                events = await wire.collect("response.done")
            names = types(events)
            assert names.index("input_audio_buffer.speech_started") < names.index("response.done")
            response = events[-1]["response"]
            assert response["status"] == "cancelled"
            assert response["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
            # The client truncates at what it played; then the user's turn gets its answer.
            await wire.send(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": 100,
                }
            )
            seen: list[dict[str, Any]] = []
            while not (
                "conversation.item.truncated" in types(seen) and "response.done" in types(seen)
            ):
                seen.append(await wire.recv())
            assert "input_audio_buffer.committed" in types(seen)
            second = next(e for e in seen if e["type"] == "response.done")
            assert second["response"]["status"] == "completed"


async def test_no_interruption_when_interrupt_response_is_off() -> None:
    interruption = speech("Excuse me") + silence(0.4)
    with anyio.fail_after(10):
        async with FakeRealtimeServer(pacing="realtime") as server, connect(server) as wire:
            await configure(
                wire,
                turn_detection={
                    "type": "server_vad",
                    "interrupt_response": False,
                    "create_response": False,
                },
            )
            server.script.reply_text("A short reply here.")
            await wire.send({"type": "response.create"})
            await wire.until("response.output_audio.delta")
            await wire.append(interruption)
            done = await wire.until("response.done")
            assert done["response"]["status"] == "completed"


async def test_g711_input_is_detected() -> None:
    pcm = silence(0.5) + speech("Hello from the phone") + silence(0.8)
    ulaw = encode_g711(pcm, "audio/pcmu")
    with anyio.fail_after(10):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await configure(
                wire,
                format={"type": "audio/pcmu"},
                turn_detection={"type": "server_vad", "create_response": False},
            )
            await wire.append(ulaw, chunk=800)
            started = await wire.until("input_audio_buffer.speech_started")
            stopped = await wire.until("input_audio_buffer.speech_stopped")
            assert started["audio_start_ms"] == 200
            committed = await wire.until("input_audio_buffer.committed")
            stored = server.sessions[0].conversation.audio[(committed["item_id"], 0)]
            assert len(stored) == (stopped["audio_end_ms"] - 200) * 8


async def test_idle_timeout_triggers_a_turn() -> None:
    with anyio.fail_after(10):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await configure(wire, turn_detection={"type": "server_vad", "idle_timeout_ms": 5000})
            server.script.reply_text("Anyone there?")
            server.script.reply_text("Still here?")
            await wire.send({"type": "response.create"})
            done = await wire.until("response.done")
            played_ms = done["response"]["usage"]["output_token_details"]["audio_tokens"] * 50
            await wire.append(silence(played_ms / 1000 + 5.5))
            triggered = await wire.until("input_audio_buffer.timeout_triggered")
            assert triggered["audio_start_ms"] >= played_ms - 50
            assert 5000 <= triggered["audio_end_ms"] - triggered["audio_start_ms"] <= 5100
            committed = await wire.until("input_audio_buffer.committed")
            assert committed["item_id"] == triggered["item_id"]
            second = await wire.until("response.done")
            assert second["response"]["output"][0]["content"][0]["transcript"] == "Still here?"


async def test_appended_audio_must_be_base64() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send({"type": "input_audio_buffer.append", "audio": "%%%"})
            error = await wire.error()
            assert error["param"] == "audio"
            await wire.send(
                {
                    "type": "session.input_audio_buffer.append",
                    "audio": base64.b64encode(silence(0.2)).decode(),
                }
            )
            await configure(wire, turn_detection=None)
            await wire.send({"type": "input_audio_buffer.commit"})
            await wire.until("input_audio_buffer.committed")


async def test_transcription_session_transcribes_without_responses() -> None:
    pcm = silence(0.3) + speech("Dictation works") + silence(0.6)
    with anyio.fail_after(10):
        async with FakeRealtimeServer() as server:
            server.script.transcripts("Dictation works.")
            async with connect(server, query="intent=transcription") as wire:
                await wire.send(
                    {
                        "type": "session.update",
                        "session": {
                            "type": "transcription",
                            "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
                        },
                    }
                )
                session = (await wire.until("session.updated"))["session"]
                assert session["audio"]["input"]["transcription"]["model"] == "gpt-4o-transcribe"
                await wire.append(pcm)
                events = await wire.collect("conversation.item.input_audio_transcription.completed")
                assert events[-1]["transcript"] == "Dictation works."
                rest = await wire.quiet(0.2)
                assert not any(e["type"].startswith(("response.", "rate_limits")) for e in rest)
