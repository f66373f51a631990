"""realtime_anyio's own client against the fake server: requests, audio turns, barge-in."""

from __future__ import annotations

import anyio
import pytest

from realtime_anyio import ServerError, open_realtime
from realtime_anyio.events import (
    ConversationItemAdded,
    InputAudioBufferCommitted,
    InputAudioBufferSpeechStarted,
    ResponseDone,
    ResponseOutputAudioDelta,
    user_text,
)
from realtime_anyio.testing import FakeRealtimeServer, silence, speech


async def test_requests_get_replies_or_server_errors(realtime_server: FakeRealtimeServer) -> None:
    with anyio.fail_after(10):
        async with open_realtime(
            model="gpt-realtime", websocket_base_url=realtime_server.url, api_key="sk-t"
        ) as conn:
            updated = await conn.session.update(
                session={"type": "realtime", "instructions": "Be brief."}, wait=True
            )
            assert getattr(updated.session, "instructions", None) == "Be brief."
            added = await conn.conversation.item.create(item=user_text("Hi"), wait=True)
            assert isinstance(added, ConversationItemAdded)
            item_id = getattr(added.item, "id", None)
            assert isinstance(item_id, str)
            with pytest.raises(ServerError) as caught:
                await conn.conversation.item.truncate(
                    item_id=item_id,
                    content_index=0,
                    audio_end_ms=0,
                    wait=True,
                )
            assert caught.value.code == "unsupported_content_type"
            with pytest.raises(ServerError) as caught:
                await conn.session.update(
                    session={"type": "realtime", "bogus_field": 1},  # pyright: ignore[reportArgumentType]
                    wait=True,
                )
            assert caught.value.code == "unknown_parameter"
            assert caught.value.param == "session.bogus_field"


@pytest.mark.realtime_server(pacing="realtime")
async def test_spoken_turn_and_barge_in(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.script.reply_text("Once upon a time there was a very long story to tell.")
    realtime_server.script.reply_text("Okay.")
    interruption = speech("Stop please") + silence(0.5)
    story: str | None = None
    received_ms = 0.0
    statuses: list[str] = []
    with anyio.fail_after(15):
        async with (
            open_realtime(
                model="gpt-realtime", websocket_base_url=realtime_server.url, api_key="sk-t"
            ) as conn,
            anyio.create_task_group() as tg,
        ):
            await conn.response.create()
            async for event in conn:
                if isinstance(event, ResponseOutputAudioDelta):
                    if story is None:
                        story = event.item_id
                        tg.start_soon(conn.input_audio_buffer.append, interruption)
                    if event.item_id == story:
                        received_ms += len(event.delta) / 48
                elif isinstance(event, InputAudioBufferSpeechStarted):
                    statuses.append("speech")
                elif isinstance(event, InputAudioBufferCommitted):
                    statuses.append("committed")
                elif isinstance(event, ResponseDone):
                    statuses.append(str(event.response.status))
                    if event.response.status == "cancelled":
                        assert story is not None
                        truncated = await conn.conversation.item.truncate(
                            item_id=story,
                            content_index=0,
                            audio_end_ms=int(received_ms) // 2,
                            wait=True,
                        )
                        assert truncated.audio_end_ms == int(received_ms) // 2
                    else:
                        break
    assert statuses == ["speech", "cancelled", "committed", "completed"]
    session = realtime_server.sessions[0]
    assert story is not None
    assert len(session.conversation.audio[(story, 0)]) == (int(received_ms) // 2) * 48


async def test_the_docs_example(realtime_server: FakeRealtimeServer) -> None:
    from realtime_anyio.events import ResponseDone

    realtime_server.script.reply_text("Hi! How can I help?")
    with anyio.fail_after(10):
        async with open_realtime(
            model="gpt-realtime", websocket_base_url=realtime_server.url, api_key="sk-test"
        ) as conn:
            await conn.conversation.item.create(item=user_text("Hello"))
            await conn.response.create()
            done = await conn.wait_for(ResponseDone)
    assert done.response.status == "completed"
    assert realtime_server.sessions[0].conversation.items[-1]["role"] == "assistant"


@pytest.mark.realtime_server(api_key="azure-key")
async def test_azure_paths_and_api_key_header(realtime_server: FakeRealtimeServer) -> None:
    from realtime_anyio.events import SessionCreated

    endpoint = f"http://127.0.0.1:{realtime_server.port}"
    with anyio.fail_after(10):
        for version in ("2025-04-01-preview", None):  # deployment-scoped API, then Azure v1
            async with open_realtime(
                azure_endpoint=endpoint,
                api_key="azure-key",
                azure_deployment="my-deployment",
                api_version=version,
            ) as conn:
                created = await conn.receive()
                assert isinstance(created, SessionCreated)
                assert getattr(created.session, "model", None) == "my-deployment"
