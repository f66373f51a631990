"""The official ``openai`` client against the fake server: proof of fidelity from a peer's side.

The SDK's realtime client is asyncio-only, so it runs in a worker thread with its own event
loop, while the server runs in the test's loop on either backend.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import anyio
import anyio.to_thread

from realtime_anyio.testing import FakeRealtimeServer, silence, speech


async def _text_and_audio_turns(url: str) -> dict[str, Any]:
    from openai import AsyncOpenAI

    results: dict[str, Any] = {}
    client = AsyncOpenAI(api_key="sk-openai-peer", websocket_base_url=url, max_retries=0)
    async with client.realtime.connect(model="gpt-realtime") as conn:
        created = await conn.recv()
        results["first"] = created.type
        await conn.session.update(
            session={"type": "realtime", "output_modalities": ["text"], "instructions": "Hi"}
        )
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Hello"}],
            }
        )
        await conn.response.create()
        text: list[str] = []
        async for event in conn:
            if event.type == "response.output_text.delta":
                text.append(event.delta)
            elif event.type == "response.done":
                results["text_status"] = event.response.status
                break
        results["text"] = "".join(text)

        await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})
        pcm = silence(0.4) + speech("What time is it") + silence(0.6)
        for start in range(0, len(pcm), 4800):
            await conn.input_audio_buffer.append(
                audio=base64.b64encode(pcm[start : start + 4800]).decode()
            )
        audio = bytearray()
        transcript: list[str] = []
        seen: list[str] = []
        async for event in conn:
            seen.append(event.type)
            if event.type == "response.output_audio.delta":
                audio += base64.b64decode(event.delta)
            elif event.type == "response.output_audio_transcript.delta":
                transcript.append(event.delta)
            elif event.type == "response.done":
                results["audio_status"] = event.response.status
                break
        results["audio_bytes"] = len(audio)
        results["transcript"] = "".join(transcript)
        results["audio_events"] = seen

        await conn.send(
            {
                "type": "conversation.item.truncate",
                "event_id": "evt_bad_truncate",
                "item_id": "item_missing",
                "content_index": 0,
                "audio_end_ms": 10,
            }
        )
        async for event in conn:
            if event.type == "error":
                results["error"] = event.error.model_dump()
                break
    await client.close()
    return results


def _run_peer(url: str) -> dict[str, Any]:
    async def bounded() -> dict[str, Any]:
        return await asyncio.wait_for(_text_and_audio_turns(url), timeout=20)

    return asyncio.run(bounded())


async def test_official_client_text_audio_and_error() -> None:
    with anyio.fail_after(30):
        async with FakeRealtimeServer() as server:
            server.script.reply_text("Hello from the fake.")
            server.script.reply_text("It is noon.")
            results = await anyio.to_thread.run_sync(_run_peer, server.url)
    assert results["first"] == "session.created"
    assert results["text_status"] == "completed"
    assert results["text"] == "Hello from the fake."
    assert results["audio_status"] == "completed"
    assert results["transcript"] == "It is noon."
    assert results["audio_bytes"] > 24000
    vad = [name for name in results["audio_events"] if name.startswith("input_audio_buffer.")]
    assert vad == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
    ]
    error = results["error"]
    assert error["event_id"] == "evt_bad_truncate"
    assert error["code"] == "item_truncate_invalid_item_id"
    assert error["param"] == "item_id"
