"""Bounds the transport keeps against peers that misbehave, over real loopback sockets.

Closing is bounded over TLS whatever the peer does (answers, never answers, stops reading,
drops TCP); control replies to a ping flood are bounded in memory; a send waiting for the
write lock can be cancelled without sending; a write that cannot finish ends the connection
within its bound; the connect timeout says which phase was missing.
"""

from __future__ import annotations

import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import anyio.lowlevel
import pytest
import trustme
from anyio.streams.tls import TLSStream
from peers import silent_listener
from websockets.client import ClientProtocol
from websockets.http11 import Request
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from realtime_anyio import ConnectionClosed, ConnectionLost, ConnectTimeout
from realtime_anyio.transport import (
    ConnectRequest,
    WebSocketEngine,
    WebSocketTransport,
    connect_websocket,
    memory_byte_stream_pair,
)

#: What closing may take beyond close_timeout: the forceful close and scheduling.
SLACK = 1.5

Peer = Callable[[WebSocketEngine], Awaitable[None]]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _contexts(ca: trustme.CA) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


@asynccontextmanager
async def ws_peer(
    behave: Peer, tls: ssl.SSLContext | None = None, *, read_size: int = 65536
) -> AsyncIterator[int]:
    """A WebSocket server on 127.0.0.1 (TLS when ``tls`` is given) that completes the
    handshake and then runs ``behave``; yields the port."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        byte_stream: anyio.abc.ByteStream = stream
        try:
            if tls is not None:
                byte_stream = await TLSStream.wrap(
                    stream, server_side=True, ssl_context=tls, standard_compatible=False
                )
            protocol = ServerProtocol(max_size=None)
            engine = WebSocketEngine(protocol, byte_stream, max_size=None, read_size=read_size)
            request = await engine.receive_handshake()
            assert isinstance(request, Request)
            protocol.send_response(protocol.accept(request))
            await engine.flush()
            await behave(engine)
        except (ConnectionClosed, anyio.BrokenResourceError, anyio.EndOfStream, OSError):
            pass
        finally:
            await anyio.aclose_forcefully(byte_stream)

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handle)
            yield port
            tg.cancel_scope.cancel()


async def _open(
    port: int, client_tls: ssl.SSLContext | None, close_timeout: float
) -> WebSocketTransport:
    scheme = "wss" if client_tls is not None else "ws"
    return await connect_websocket(
        ConnectRequest(
            url=f"{scheme}://127.0.0.1:{port}/v1/realtime",
            headers={"Authorization": "Bearer sk-bounds"},
            ssl_context=client_tls,
            close_timeout=close_timeout,
            connect_timeout=5,
        )
    )


async def answers(engine: WebSocketEngine) -> None:
    with pytest.raises(ConnectionClosed):
        while True:
            await engine.receive_message()
    await engine.aclose()


async def never_answers(engine: WebSocketEngine) -> None:
    # Reads everything and ignores it, close frame included.
    while True:
        await engine.stream.receive()


async def stops_reading(engine: WebSocketEngine) -> None:
    await anyio.sleep_forever()


async def drops_tcp(engine: WebSocketEngine) -> None:
    await anyio.sleep(0.2)
    await engine.abort()


async def _reader(transport: WebSocketTransport) -> None:
    # The connection's reader task: it runs while the block closes.
    with pytest.raises(ConnectionClosed):
        while True:
            await transport.receive()


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "tcp"])
@pytest.mark.parametrize(
    "behave", [answers, never_answers, stops_reading, drops_tcp], ids=lambda f: f.__name__
)
async def test_closing_is_bounded_whatever_the_peer_does(
    ca: trustme.CA, tls: bool, behave: Peer
) -> None:
    server_tls, client_tls = _contexts(ca) if tls else (None, None)
    close_timeout = 0.5
    took = 0.0
    with anyio.fail_after(20):
        async with ws_peer(behave, server_tls) as port:
            transport = await _open(port, client_tls, close_timeout)
            async with anyio.create_task_group() as tg:
                tg.start_soon(_reader, transport)
                if behave is stops_reading:
                    # Fill every buffer on the way: a writer is stuck in a write when we close.
                    since = [anyio.current_time()]

                    async def flood() -> None:
                        with pytest.raises(ConnectionClosed):
                            while True:
                                since[0] = anyio.current_time()
                                await transport.send_binary(b"\0" * 65536)

                    tg.start_soon(flood)
                    while anyio.current_time() - since[0] < 0.1:  # noqa: ASYNC110 - polls a clock
                        await anyio.sleep(0.02)
                elif behave is drops_tcp:
                    await anyio.sleep(0.4)
                start = anyio.current_time()
                await transport.aclose()
                took = anyio.current_time() - start
        assert took < close_timeout + SLACK
        assert not transport.open
    if behave is answers:
        assert took < 0.4
        assert transport.close_code == 1000


async def test_a_flood_of_pings_from_a_peer_that_does_not_read_is_bounded() -> None:
    # The peer floods pings and never reads. While our writer is stuck (its frame cannot be
    # written), the pongs wait in memory: past the bound the connection fails, long before
    # the 30 s write bound.
    sent = 0
    pong_backlog = 0
    failure: ConnectionLost | None = None

    async def flood(engine: WebSocketEngine) -> None:
        nonlocal sent
        ping = b"\x89\x7d" + b"p" * 125
        batch = ping * 500
        with anyio.move_on_after(15):
            for _ in range(2000):  # at most 1,000,000 pings (127 MB)
                await engine.stream.send(batch)
                sent += 500

    with anyio.fail_after(25):
        async with ws_peer(flood) as port:
            transport = await _open(port, None, close_timeout=30)
            start = anyio.current_time()
            async with anyio.create_task_group() as tg:

                async def stuck_writer() -> None:
                    with pytest.raises(ConnectionClosed):
                        await transport.send_binary(b"\0" * (64 << 20))

                tg.start_soon(stuck_writer)
                with pytest.raises(ConnectionLost) as info:
                    while True:
                        await transport.receive()
                        pong_backlog = max(pong_backlog, transport._unwritten_size)  # pyright: ignore[reportPrivateUsage]
                failure = info.value
            took = anyio.current_time() - start
            await transport.aclose()
    assert failure is not None
    assert "replies" in failure.reason or "replies" in str(failure.__cause__ or "")
    assert took < 10
    assert pong_backlog <= transport.max_unwritten
    assert sent >= transport.max_unwritten // 131


async def test_pongs_to_a_peer_that_does_not_read_end_at_the_write_bound() -> None:
    # No writer of ours is busy: the reader writes the pongs itself until the socket is full,
    # then the shielded write ends at its bound and the connection fails.
    async def flood(engine: WebSocketEngine) -> None:
        batch = (b"\x89\x7d" + b"p" * 125) * 500
        with anyio.move_on_after(15):
            for _ in range(2000):
                await engine.stream.send(batch)

    with anyio.fail_after(25):
        async with ws_peer(flood) as port:
            transport = await _open(port, None, close_timeout=0.5)
            start = anyio.current_time()
            with pytest.raises(ConnectionLost):
                while True:
                    await transport.receive()
            took = anyio.current_time() - start
            await transport.aclose()
    assert took < 10


def _engines(max_buffer: float, write_timeout: float) -> tuple[WebSocketEngine, WebSocketEngine]:
    a, b = memory_byte_stream_pair(max_buffer=max_buffer)
    client = WebSocketEngine(
        ClientProtocol(parse_uri("ws://t/"), state=_OPEN, max_size=None),
        a,
        max_size=None,
        write_timeout=write_timeout,
    )
    server = WebSocketEngine(ServerProtocol(state=_OPEN, max_size=None), b, max_size=None)
    return client, server


from websockets.protocol import State  # noqa: E402

_OPEN = State.OPEN


async def test_a_send_cancelled_while_waiting_for_the_lock_sends_nothing() -> None:
    with anyio.fail_after(10):
        client, server = _engines(max_buffer=1, write_timeout=30)
        got: list[bytes] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.send_binary, b"a" * 10)
            tg.start_soon(client.send_binary, b"b" * 10)  # fills the one-slot pipe, waits
            await anyio.wait_all_tasks_blocked()
            with anyio.move_on_after(0.1) as scope:
                await client.send_text(b"cancelled")
            assert scope.cancelled_caught
            got += [bytes((await server.receive_message()).data) for _ in range(2)]
        await client.send_text(b"after")
        got.append(bytes((await server.receive_message()).data))
        # (trio starts the two senders in either order)
        assert sorted(got[:2]) == [b"a" * 10, b"b" * 10]
        assert got[2:] == [b"after"]
        await client.abort()
        await server.abort()


async def test_a_write_that_cannot_finish_ends_the_connection_at_its_bound() -> None:
    with anyio.fail_after(10):
        client, server = _engines(max_buffer=1, write_timeout=0.3)
        await client.send_binary(b"x")  # the pipe's one slot
        start = anyio.current_time()
        with pytest.raises(ConnectionLost):
            # The caller's cancel does not cut the started write short: it ends at its bound.
            with anyio.move_on_after(0.05):
                await client.send_binary(b"y")
        took = anyio.current_time() - start
        assert 0.25 < took < 0.3 + SLACK
        assert not client.open
        with pytest.raises(ConnectionClosed):
            await client.send_text(b"z")
        await server.abort()


async def test_a_cancelled_caller_waiting_for_a_stuck_write_leaves_within_the_bound() -> None:
    with anyio.fail_after(10):
        client, server = _engines(max_buffer=1, write_timeout=0.5)
        await client.send_binary(b"x")
        async with anyio.create_task_group() as tg:

            async def stuck() -> None:
                with pytest.raises(ConnectionLost):
                    await client.send_binary(b"y")

            tg.start_soon(stuck)
            await anyio.wait_all_tasks_blocked()
            start = anyio.current_time()
            with anyio.move_on_after(0.05):
                await client.send_text(b"waiting for the lock")
            assert anyio.current_time() - start < 0.3
        await server.abort()


async def test_receive_is_a_checkpoint_even_with_messages_buffered() -> None:
    with anyio.fail_after(10):
        client, server = _engines(max_buffer=float("inf"), write_timeout=5)
        for i in range(3):
            server.protocol.send_text(b"%d" % i)
        await server.flush()  # one write: the client reads all three at once
        assert bytes((await client.receive_message()).data) == b"0"
        with anyio.CancelScope() as scope:
            scope.cancel()
            await client.receive_message()
            pytest.fail("a buffered message was returned to a cancelled caller")
        assert bytes((await client.receive_message()).data) == b"1"
        assert client.receive_message_nowait() == (b"2", True)
        await client.abort()
        await server.abort()


# -- connect timeouts --------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["ws", "wss"])
async def test_connect_timeout_names_the_missing_phase(scheme: str) -> None:
    with anyio.fail_after(10):
        async with silent_listener() as port:
            with pytest.raises(ConnectTimeout) as info:
                await connect_websocket(
                    ConnectRequest(
                        url=f"{scheme}://127.0.0.1:{port}/v1/realtime",
                        headers={"Authorization": "Bearer sk-phase"},
                        connect_timeout=0.3,
                    )
                )
    message = str(info.value)
    if scheme == "wss":
        assert "TLS handshake" in message
    else:
        assert "WebSocket upgrade was not answered" in message
    assert "sk-phase" not in message


def test_frame_constants() -> None:
    # The raw pings of the flood tests: FIN + ping, 125-byte payload, unmasked (from a server).
    assert struct.unpack("!BB", b"\x89\x7d") == (0x89, 125)
