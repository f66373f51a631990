"""open_realtime over real loopback sockets against the bundled FakeRealtimeServer."""

from __future__ import annotations

import anyio
import pytest

from realtime_anyio import (
    AuthenticationError,
    BadRequestError,
    ConnectionClosed,
    ConnectionLost,
    ConnectTimeout,
    InternalServerError,
    InvalidServerEvent,
    MessageTooLarge,
    NotFoundError,
    ServerError,
    SessionExpired,
    open_realtime,
)
from realtime_anyio.events import (
    ConversationItemAdded,
    ConversationItemDeleted,
    ConversationItemRetrieved,
    InputAudioBufferCommitted,
    ResponseCreated,
    ResponseDone,
    SessionCreated,
    SessionUpdated,
    user_text,
)
from realtime_anyio.testing import (
    CloseAfter,
    DelayHandshake,
    DropAfter,
    FakeRealtimeServer,
    RefuseHandshake,
    SendMalformed,
    SendOversized,
    StallAfter,
    silence,
)


async def test_text_turn(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.script.reply_text("Hi!")
    with anyio.fail_after(10):
        async with open_realtime(
            model="gpt-realtime", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            first = await conn.receive()
            assert isinstance(first, SessionCreated)
            await conn.session.update(
                session={"type": "realtime", "output_modalities": ["text"]}, wait=True
            )
            added = await conn.conversation.item.create(item=user_text("Hello"), wait=True)
            assert isinstance(added, ConversationItemAdded)
            created = await conn.response.create(wait=True)
            assert isinstance(created, ResponseCreated)
            done = await conn.wait_for(ResponseDone)
            assert done.response.status == "completed"
            text = ""
            async for event in conn:
                if event.type == "response.output_text.delta":
                    text += event.delta  # type: ignore[union-attr]
                if isinstance(event, ResponseDone):
                    break
            assert text == "Hi!"
            stats = conn.statistics()
            assert stats.events_received["response.done"] == 1
            assert stats.frames_sent == 3


async def test_correlation_helpers_against_the_fake_server(
    realtime_server: FakeRealtimeServer,
) -> None:
    with anyio.fail_after(10):
        async with open_realtime(
            model="gpt-realtime", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            updated = await conn.session.update(session={"type": "realtime"}, wait=True)
            assert isinstance(updated, SessionUpdated)
            added = await conn.conversation.item.create(item=user_text("one"), wait=True)
            item_id = added.item.id
            assert isinstance(item_id, str)
            retrieved = await conn.conversation.item.retrieve(item_id=item_id, wait=True)
            assert isinstance(retrieved, ConversationItemRetrieved)
            deleted = await conn.conversation.item.delete(item_id=item_id, wait=True)
            assert isinstance(deleted, ConversationItemDeleted)
            with pytest.raises(ServerError) as info:
                await conn.conversation.item.delete(item_id="item_nope", wait=True)
            assert info.value.event_id is not None
            with pytest.raises(ServerError):
                await conn.response.cancel(wait=True)
            await conn.input_audio_buffer.append(silence(0.2))
            committed = await conn.input_audio_buffer.commit(wait=True)
            assert isinstance(committed, InputAudioBufferCommitted)
            with pytest.raises(ServerError):
                await conn.output_audio_buffer.clear(wait=True)
            with pytest.raises(ServerError):
                await conn.session.update(session={"type": "realtime", "bogus_field": 1}, wait=True)


async def test_unknown_key_is_refused_after_the_upgrade() -> None:
    async with FakeRealtimeServer(api_key="sk-right") as server:
        with anyio.fail_after(10), pytest.raises(AuthenticationError) as info:
            async with open_realtime(
                model="gpt-realtime", websocket_base_url=server.url, api_key="sk-wrong-key"
            ):
                pytest.fail("entered")
    assert info.value.close_code == 3000
    assert "sk-wrong-key" not in str(info.value)


async def test_unknown_model_is_bad_request() -> None:
    async with FakeRealtimeServer(models={"gpt-realtime"}) as server:
        with anyio.fail_after(10), pytest.raises(BadRequestError) as info:
            async with open_realtime(
                model="not-a-model", websocket_base_url=server.url, api_key="k"
            ):
                pytest.fail("entered")
    assert info.value.close_code == 4000


async def test_handshake_refusals(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.inject(RefuseHandshake(503, b'{"error": {"message": "overloaded"}}'))
    with anyio.fail_after(10), pytest.raises(InternalServerError) as info:
        async with open_realtime(model="m", websocket_base_url=realtime_server.url, api_key="k"):
            pytest.fail("entered")
    assert info.value.status_code == 503
    assert info.value.message == "overloaded"
    realtime_server.inject(RefuseHandshake(404))
    with anyio.fail_after(10), pytest.raises(NotFoundError):
        async with open_realtime(
            call_id="rtc_gone", websocket_base_url=realtime_server.url, api_key="k"
        ):
            pytest.fail("entered")


async def test_handshake_that_never_answers_times_out(
    realtime_server: FakeRealtimeServer,
) -> None:
    realtime_server.inject(DelayHandshake(float("inf")))
    with anyio.fail_after(10), pytest.raises(ConnectTimeout):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k", connect_timeout=0.3
        ):
            pytest.fail("entered")


async def test_malformed_frame_arrives_as_a_value(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.inject(SendMalformed(after=1))
    with anyio.fail_after(10):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            assert (await conn.receive()).type == "session.created"
            bad = await conn.receive()
            assert isinstance(bad, InvalidServerEvent)
            reply = await conn.session.update(session={"type": "realtime"}, wait=True)
            assert isinstance(reply, SessionUpdated)


async def test_oversized_event_over_the_limit(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.inject(SendOversized(after=1, size=2 * 1024 * 1024))
    with anyio.fail_after(10):
        async with open_realtime(
            model="m",
            websocket_base_url=realtime_server.url,
            api_key="k",
            max_message_size=1024 * 1024,
        ) as conn:
            await conn.receive()
            with pytest.raises(ConnectionClosed) as info:
                await conn.receive()
            assert info.value.code == 1009
            assert isinstance(info.value.__cause__, MessageTooLarge)


async def test_oversized_event_within_the_default_limit(
    realtime_server: FakeRealtimeServer,
) -> None:
    realtime_server.inject(SendOversized(after=1, size=4 * 1024 * 1024))
    with anyio.fail_after(10):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            await conn.receive()
            big = await conn.receive()
            assert big.type == "response.output_audio.delta"


async def test_close_codes_and_drops(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.inject(CloseAfter(1, code=1011, reason="boom"))
    with anyio.fail_after(10):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            with pytest.raises(ConnectionClosed) as info:
                async for _ in conn:
                    pass
            assert (info.value.code, info.value.reason) == (1011, "boom")
    realtime_server.inject(CloseAfter(1, code=1000))
    with anyio.fail_after(10):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            assert [e.type async for e in conn] == ["session.created"]
    realtime_server.inject(DropAfter(1))
    with anyio.fail_after(10):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            await conn.receive()
            with pytest.raises(ConnectionLost):
                await conn.receive()


async def test_stalled_server_is_detected_and_close_is_bounded(
    realtime_server: FakeRealtimeServer,
) -> None:
    realtime_server.inject(StallAfter(events=1))
    with anyio.fail_after(10):
        async with open_realtime(
            model="m",
            websocket_base_url=realtime_server.url,
            api_key="k",
            ping_interval=0.1,
            ping_timeout=0.3,
            close_timeout=0.3,
        ) as conn:
            await conn.receive()
            with pytest.raises(ConnectionLost, match="pong"):
                await conn.receive()
            start = anyio.current_time()
        assert anyio.current_time() - start < 1.0


@pytest.mark.realtime_server(session_duration=0.3)
async def test_session_expiry(realtime_server: FakeRealtimeServer) -> None:
    with anyio.fail_after(10):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            with pytest.raises(SessionExpired) as info:
                async for _ in conn:
                    pass
            assert info.value.code == 1001


@pytest.mark.realtime_server(pacing="realtime")
async def test_close_while_the_server_streams_audio(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.script.reply_audio("A long answer " * 40)
    with anyio.fail_after(10):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            await conn.response.create()
            async for event in conn:
                if event.type == "response.output_audio.delta":
                    break
            start = anyio.current_time()
        assert anyio.current_time() - start < 0.5


async def test_many_concurrent_senders(realtime_server: FakeRealtimeServer) -> None:
    with anyio.fail_after(20):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k", send_buffer=8
        ) as conn:

            async def pump() -> None:
                for _ in range(50):
                    await conn.input_audio_buffer.append(silence(0.02))

            async with anyio.create_task_group() as tg:
                for _ in range(4):
                    tg.start_soon(pump)
            committed = await conn.input_audio_buffer.commit(wait=True)
            assert isinstance(committed, InputAudioBufferCommitted)
            assert conn.statistics().events_sent["input_audio_buffer.append"] == 200
            assert "error" not in conn.statistics().events_received


async def test_cancellation_at_any_point_over_real_sockets(
    realtime_server: FakeRealtimeServer,
) -> None:
    for delay in (0.0, 0.001, 0.003, 0.01, 0.02, 0.05):
        realtime_server.script.reply_audio("A fairly long spoken answer. " * 5)
        with anyio.fail_after(10), anyio.move_on_after(delay):
            async with open_realtime(
                model="m", websocket_base_url=realtime_server.url, api_key="k"
            ) as conn:
                await conn.input_audio_buffer.append(silence(0.1))
                await conn.response.create()
                async for _ in conn:
                    pass
    # warnings-as-errors fails the test if a socket was left open
