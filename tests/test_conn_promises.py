"""The connection's promises: checkpoints, no lost sends, replies never missed, keys never shown.

Fast tests over the in-memory transport pair, and the same promises over real loopback sockets
against the bundled server.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from trio.testing import MockClock

from realtime_anyio import (
    AuthenticationError,
    BadRequestError,
    ConnectionClosed,
    LocalProtocolError,
    open_realtime,
)
from realtime_anyio._config import ClientConfig
from realtime_anyio.events import (
    InputAudioBufferAppend,
    InputAudioBufferCleared,
    ResponseDone,
    SessionCreated,
    SessionUpdated,
)
from realtime_anyio.testing import FakeRealtimeServer
from realtime_anyio.transport import ConnectRequest, MemoryPeer, memory_transport_pair
from tests.test_conn_memory import SESSION_CREATED, connected, error_frame, frame, recv_json

SECRET = "sk-test-secret"
APPEND = InputAudioBufferAppend(audio=b"\x00\x01" * 480)


@asynccontextmanager
async def bare_pair(
    *, hello: bool = True, peer_buffer: int = 64, **options: Any
) -> AsyncIterator[tuple[Any, MemoryPeer]]:
    """open_realtime over a memory pair with no task group of the test's own around it, so
    that what the block raises on exit comes out as itself."""
    client, peer = memory_transport_pair(max_buffer=peer_buffer)

    async def factory(request: ConnectRequest) -> Any:
        return client

    if hello:
        await peer.send_text(frame(SESSION_CREATED))
    options.setdefault("api_key", SECRET)
    options.setdefault("model", "gpt-realtime")
    try:
        async with open_realtime(transport=factory, **options) as conn:
            yield conn, peer
    finally:
        with anyio.CancelScope(shield=True):
            await peer.aclose()
            await client.abort()


async def buffered(conn: Any, count: int) -> None:
    """Wait until the reader has buffered ``count`` events."""
    for _ in range(500):
        if conn.statistics().receive_buffer_used >= count:
            return
        await anyio.sleep(0.01)
    raise AssertionError(f"fewer than {count} events buffered")


class Ticker:
    """Counts how often a concurrent task gets to run."""

    def __init__(self) -> None:
        self.ticks = 0

    async def run(self) -> None:
        while True:
            self.ticks += 1
            await anyio.lowlevel.checkpoint()


async def test_every_send_is_a_schedule_point() -> None:
    ticker = Ticker()
    with anyio.fail_after(10):
        async with connected(send_buffer=1000) as (conn, peer), anyio.create_task_group() as tg:

            async def drain() -> None:
                while True:
                    await peer.receive()

            tg.start_soon(drain)
            tg.start_soon(ticker.run)
            await anyio.lowlevel.checkpoint()
            before = ticker.ticks
            for _ in range(300):
                await conn.send(APPEND)
            assert ticker.ticks - before >= 290
            for _ in range(500):
                if conn.statistics().frames_sent == 300:
                    break
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        assert conn.statistics().frames_sent == 300


async def test_every_buffered_receive_is_a_schedule_point() -> None:
    ticker = Ticker()
    with anyio.fail_after(10):
        async with connected(receive_buffer=4000) as (conn, peer), anyio.create_task_group() as tg:
            for _ in range(2000):
                await peer.send_text(frame({"type": "input_audio_buffer.cleared"}))
            await conn.receive()
            await buffered(conn, 2000)
            tg.start_soon(ticker.run)
            await anyio.lowlevel.checkpoint()
            before = ticker.ticks
            for _ in range(2000):
                await conn.receive()
            assert ticker.ticks - before >= 1900
            tg.cancel_scope.cancel()


async def test_a_cancelled_scope_stops_a_buffered_receive_at_once() -> None:
    with anyio.fail_after(10):
        async with connected() as (conn, peer):
            for _ in range(50):
                await peer.send_text(frame({"type": "input_audio_buffer.cleared"}))
            await buffered(conn, 51)
            received = 0
            with anyio.CancelScope() as scope:
                scope.cancel()
                await conn.receive()
                received += 1
            assert received == 0
            assert conn.statistics().receive_buffer_used == 51


async def test_receive_nowait_drains_without_waiting() -> None:
    with anyio.fail_after(10):
        async with connected() as (conn, peer):
            for _ in range(10):
                await peer.send_text(frame({"type": "input_audio_buffer.cleared"}))
            await buffered(conn, 11)
            drained = []
            while True:
                try:
                    drained.append(conn.receive_nowait())
                except anyio.WouldBlock:
                    break
            assert isinstance(drained[0], SessionCreated)
            assert [type(e) for e in drained[1:]] == [InputAudioBufferCleared] * 10


async def test_send_honours_the_callers_deadline_when_the_peer_stops_reading() -> None:
    # The peer never reads: its buffer fills, the writer blocks, the queue fills; the sender
    # waits on the queue and its own deadline ends that wait promptly.
    exit_started = 0.0
    conn: Any = None
    with anyio.fail_after(10), pytest.raises(ConnectionClosed) as at_exit:
        async with bare_pair(send_buffer=4, peer_buffer=2, close_timeout=0.5) as (conn, _):
            start = anyio.current_time()
            with anyio.move_on_after(0.3) as scope:
                while True:
                    await conn.send(APPEND)
            assert scope.cancelled_caught
            assert anyio.current_time() - start < 1.0
            exit_started = anyio.current_time()
    # The block's exit gave up flushing after close_timeout and says what was not written.
    assert anyio.current_time() - exit_started < 0.5 + 1.5
    assert at_exit.value.unsent > 0
    assert conn.statistics().unsent == at_exit.value.unsent


async def test_frames_that_could_not_be_written_are_counted_and_named() -> None:
    conn: Any = None
    with anyio.fail_after(10), pytest.raises(ConnectionClosed) as at_exit:
        async with bare_pair(send_buffer=8, peer_buffer=1, close_timeout=0.5) as (conn, peer):
            for _ in range(8):
                conn.send_nowait(APPEND)
            await anyio.sleep(0.05)
            await peer.close(1011, "server error")
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await conn.receive()
            with pytest.raises(ConnectionClosed) as sent:
                await conn.send(APPEND)
            stats = conn.statistics()
            assert stats.unsent > 0
            assert stats.frames_sent + stats.unsent == 8
            assert sent.value.unsent == stats.unsent
            assert f"{stats.unsent} accepted event" in str(sent.value)
            assert info.value.code == 1011
    assert at_exit.value.unsent == conn.statistics().unsent


async def test_a_send_to_an_idle_writer_is_a_cancel_point_and_a_schedule_point() -> None:
    """A send when the writer is idle (every real-time send) takes the quick route, and that
    route is still a full checkpoint: a pending cancel sends nothing; otherwise the call
    yields, the frame is written, and a cancel arriving meanwhile is left for the caller's
    next checkpoint (the frame it accepted is not reported as unsent)."""
    ticker = Ticker()
    with anyio.fail_after(10):
        async with connected() as (conn, peer), anyio.create_task_group() as tg:
            tg.start_soon(ticker.run)
            with anyio.CancelScope() as scope:
                scope.cancel()
                await conn.send(APPEND)
            assert scope.cancelled_caught
            assert conn.statistics().events_sent.get("input_audio_buffer.append", 0) == 0
            yielded = 0
            for _ in range(20):
                await anyio.sleep(0.005)  # the writer goes idle between real-time sends
                before = ticker.ticks
                await conn.send(APPEND)
                # trio runs a batch of ready tasks in random order: a yield lets the ticker
                # run first about every other time.
                yielded += ticker.ticks > before
            assert yielded >= 4
            for _ in range(20):
                assert b"input_audio_buffer.append" in await peer.receive()
            with anyio.move_on_after(1) as late:
                await anyio.sleep(0.05)
                late.cancel()
                await conn.send(APPEND)  # the cancel is already pending: nothing is sent
            assert conn.statistics().events_sent["input_audio_buffer.append"] == 20
            tg.cancel_scope.cancel()


async def test_accepted_sends_are_flushed_when_the_block_is_cancelled() -> None:
    # 50 connections cancelled while sending: every send that returned reaches the peer.
    for _ in range(50):
        accepted = 0
        received = 0
        with anyio.fail_after(10):
            async with connected(send_buffer=16) as (conn, peer):
                async with anyio.create_task_group() as tg:

                    async def count() -> None:
                        nonlocal received
                        try:
                            while True:
                                data = await peer.receive()
                                if b"input_audio_buffer.append" in data:
                                    received += 1
                        except Exception:
                            return

                    tg.start_soon(count)
                    with anyio.move_on_after(0.01):
                        while True:
                            await conn.send(APPEND)
                            accepted += 1
                    await conn.aclose()
                    await anyio.sleep(0.05)
                    tg.cancel_scope.cancel()
                stats = conn.statistics()
        assert stats.unsent == 0
        assert received == accepted == stats.events_sent["input_audio_buffer.append"]


async def test_wait_for_finds_an_event_already_buffered() -> None:
    with anyio.fail_after(5):
        async with connected() as (conn, peer):
            created = await conn.wait_for(SessionCreated)
            assert created.session.id == "sess_1"
            await peer.send_text(frame({"type": "input_audio_buffer.cleared"}))
            await anyio.sleep(0.05)
            cleared = await conn.wait_for("input_audio_buffer.cleared")
            assert isinstance(cleared, InputAudioBufferCleared)
            # Still delivered in order through receive.
            assert isinstance(await conn.receive(), SessionCreated)
            assert isinstance(await conn.receive(), InputAudioBufferCleared)


async def test_expect_registers_before_the_request_is_sent() -> None:
    async def server(peer: object) -> None:
        from realtime_anyio.transport import MemoryPeer

        assert isinstance(peer, MemoryPeer)
        await recv_json(peer)
        await peer.send_text(frame({"type": "session.updated", "session": {"type": "realtime"}}))

    with anyio.fail_after(5):
        async with connected(server) as (conn, _):
            with conn.expect(SessionUpdated) as updated:
                await conn.session.update(session={"type": "realtime"})
                await anyio.sleep(0.05)
                event = await updated.wait()
            assert event.session.type == "realtime"
            assert updated.event is event


async def test_a_bare_close_3000_before_the_session_is_an_authentication_error() -> None:
    client, peer = memory_transport_pair()
    await peer.close(3000, "invalid_request_error.invalid_api_key")
    with anyio.fail_after(5), pytest.raises(AuthenticationError) as info:
        async with open_realtime(model="m", api_key=SECRET, transport=lambda _: _ready(client)):
            pass
    await _close_pair(client, peer)
    assert info.value.close_code == 3000
    assert info.value.error_code == "invalid_api_key"


async def test_a_bare_close_4000_before_the_session_is_a_bad_request() -> None:
    client, peer = memory_transport_pair()
    await peer.close(4000, "invalid_request_error.invalid_model")
    with anyio.fail_after(5), pytest.raises(BadRequestError) as info:
        async with open_realtime(model="m", api_key=SECRET, transport=lambda _: _ready(client)):
            pass
    await _close_pair(client, peer)
    assert info.value.close_code == 4000


async def test_a_refusal_that_echoes_the_key_is_scrubbed() -> None:
    client, peer = memory_transport_pair()
    await peer.send_text(error_frame("invalid_api_key", f"Incorrect API key provided: {SECRET}"))
    await peer.close(3000, f"invalid_request_error.invalid_api_key {SECRET}")
    with anyio.fail_after(5), pytest.raises(AuthenticationError) as info:
        async with open_realtime(model="m", api_key=SECRET, transport=lambda _: _ready(client)):
            pass
    await _close_pair(client, peer)
    exc = info.value
    for text in (str(exc), repr(exc), exc.message, str(exc.body), str(exc.close_reason)):
        assert SECRET not in text


async def test_a_close_reason_that_echoes_the_key_is_scrubbed_mid_session() -> None:
    with anyio.fail_after(5):
        async with connected() as (conn, peer):
            await peer.send_text(error_frame("boom", f"key {SECRET} is bad"))
            await peer.close(4000, f"invalid_request_error {SECRET}")
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await conn.receive()
    exc = info.value
    assert SECRET not in exc.reason and SECRET not in str(exc)
    assert exc.__cause__ is not None and SECRET not in str(exc.__cause__)


@pytest.mark.parametrize("key", [SECRET + "\n", SECRET + "\r\n", " " + SECRET, "sk-a\x00b"])
async def test_a_key_with_a_line_break_is_refused_before_connecting(key: str) -> None:
    client, peer = memory_transport_pair()
    with anyio.fail_after(5), pytest.raises(LocalProtocolError) as info:
        async with open_realtime(model="m", api_key=key, transport=lambda _: _ready(client)):
            pass
    await _close_pair(client, peer)
    assert key.strip() not in str(info.value)


def test_a_base_url_with_a_query_keeps_the_path_first() -> None:
    config = ClientConfig.from_options(
        api_key="k", websocket_base_url="wss://proxy.example/v1?base=1", environ={}
    )
    assert config.websocket_url(model="m") == "wss://proxy.example/v1/realtime?base=1&model=m"


async def test_no_secret_in_debug_logs_over_loopback(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(10):
        async with FakeRealtimeServer(api_key=SECRET) as server:
            async with open_realtime(model="m", websocket_base_url=server.url, api_key=SECRET) as (
                conn
            ):
                await conn.session.update(session={"type": "realtime"}, wait=True)
            with pytest.raises(AuthenticationError):
                async with open_realtime(
                    model="m", websocket_base_url=server.url, api_key=lambda: SECRET + "-wrong"
                ):
                    pass
    assert caplog.records
    for record in caplog.records:
        assert SECRET not in record.getMessage()
    assert SECRET not in caplog.text


async def test_wait_for_after_a_request_never_misses_the_reply(
    realtime_server: FakeRealtimeServer,
) -> None:
    with anyio.fail_after(10):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as (conn):
            await conn.wait_for(SessionCreated)
            await conn.response.create(response={"output_modalities": ["text"]})
            await anyio.sleep(0.3)
            done = await conn.wait_for(ResponseDone)
            assert done.response.status == "completed"


async def _ready(client: Any) -> Any:
    return client


async def _close_pair(client: Any, peer: MemoryPeer) -> None:
    await peer.aclose()
    await client.abort()


@pytest.mark.parametrize(
    "anyio_backend",
    [pytest.param(("trio", {"clock": MockClock(autojump_threshold=0)}), id="trio-mock-clock")],
)
async def test_paced_sending_under_a_mock_clock() -> None:
    # No routing decision looks at the wall clock: three minutes of 20 ms appends paced on
    # trio's virtual clock go out in order and whole.
    received = 0
    async with bare_pair() as (conn, peer), anyio.create_task_group() as tg:

        async def drain() -> None:
            nonlocal received
            while True:
                await peer.receive()
                received += 1

        tg.start_soon(drain)
        start = anyio.current_time()
        for i in range(9000):
            await anyio.sleep_until(start + i * 0.02)
            await conn.send(APPEND)
        for _ in range(1000):
            if received >= 9000:
                break
            await anyio.sleep(0.01)
        assert anyio.current_time() - start >= 179.98
        tg.cancel_scope.cancel()
    assert received == conn.statistics().frames_sent == 9000
