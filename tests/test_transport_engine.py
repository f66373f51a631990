"""The WebSocket engine on both sides of an in-memory byte pipe (client and server protocols)."""

from __future__ import annotations

import anyio
import pytest
from websockets.client import ClientProtocol
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from realtime_anyio import ConnectionClosed, ConnectionLost, MessageTooLarge
from realtime_anyio.transport import (
    MemoryByteStream,
    Message,
    WebSocketEngine,
    memory_byte_stream_pair,
)


async def _pair(
    max_size: int | None = 2**20, close_timeout: float = 2.0, server_max_size: int | None = 2**20
) -> tuple[WebSocketEngine, WebSocketEngine]:
    a, b = memory_byte_stream_pair()
    client = WebSocketEngine(
        ClientProtocol(parse_uri("ws://test/v1/realtime"), max_size=max_size),
        a,
        max_size=max_size,
        close_timeout=close_timeout,
    )
    server = WebSocketEngine(
        ServerProtocol(max_size=server_max_size),
        b,
        max_size=server_max_size,
        close_timeout=close_timeout,
    )
    await handshake(client, server)
    return client, server


async def handshake(client: WebSocketEngine, server: WebSocketEngine) -> None:
    """Run the opening handshake between a client engine and a server engine."""
    assert isinstance(client.protocol, ClientProtocol)
    assert isinstance(server.protocol, ServerProtocol)
    client.protocol.send_request(client.protocol.connect())
    await client.flush()
    request = await server.receive_handshake()
    assert isinstance(request, Request)
    server.protocol.send_response(server.protocol.accept(request))
    await server.flush()
    response = await client.receive_handshake()
    assert isinstance(response, Response)
    assert response.status_code == 101
    assert client.protocol.handshake_exc is None


async def test_round_trip_both_ways() -> None:
    with anyio.fail_after(5):
        client, server = await _pair()
        await client.send_text(b'{"type":"x"}')
        assert await server.receive_message() == Message(b'{"type":"x"}', True)
        await server.send_text("héllo")
        message = await client.receive_message()
        assert bytes(message.data) == "héllo".encode()
        assert message.text
        await server.send_binary(b"\x00\x01")
        assert await client.receive_message() == Message(b"\x00\x01", False)
        await client.abort()
        await server.abort()


async def test_frames_in_the_same_read_as_the_101_are_kept() -> None:
    with anyio.fail_after(5):
        a, b = memory_byte_stream_pair()
        client = WebSocketEngine(ClientProtocol(parse_uri("ws://test/")), a)
        server_protocol = ServerProtocol()
        assert isinstance(client.protocol, ClientProtocol)
        client.protocol.send_request(client.protocol.connect())
        await client.flush()
        server_protocol.receive_data(await b.receive(65536))
        (request,) = server_protocol.events_received()
        assert isinstance(request, Request)
        server_protocol.send_response(server_protocol.accept(request))
        server_protocol.send_text(b"first")
        server_protocol.send_text(b"second")
        await b.send(b"".join(server_protocol.data_to_send()))
        await client.receive_handshake()
        assert (await client.receive_message()).data == b"first"
        assert (await client.receive_message()).data == b"second"
        await client.abort()
        await b.aclose()


async def test_fragments_are_reassembled() -> None:
    with anyio.fail_after(5):
        client, server = await _pair()
        server.protocol.send_text(b'{"a":', fin=False)
        server.protocol.send_continuation(b'"bc', fin=False)
        server.protocol.send_continuation(b'd"}', fin=True)
        await server.flush()
        assert await client.receive_message() == Message(b'{"a":"bcd"}', True)
        await client.abort()
        await server.abort()


async def test_oversize_message_closes_with_1009() -> None:
    with anyio.fail_after(5):
        client, server = await _pair(max_size=1000, server_max_size=None)
        server.protocol.send_text(b"x" * 600, fin=False)
        server.protocol.send_continuation(b"y" * 600, fin=True)
        await server.flush()
        with pytest.raises(ConnectionClosed) as info:
            await client.receive_message()
        assert info.value.code == 1009
        assert isinstance(info.value.__cause__, MessageTooLarge)
        assert info.value.__cause__.limit == 1000
        # the server sees our 1009 close frame
        with pytest.raises(ConnectionClosed) as server_info:
            await server.receive_message()
        assert server_info.value.code == 1009
        await client.abort()
        await server.abort()


async def test_ping_is_answered_and_pong_wakes_the_pinger() -> None:
    with anyio.fail_after(5):
        client, server = await _pair()
        async with anyio.create_task_group() as tg:

            async def serve() -> None:
                with pytest.raises(ConnectionClosed):
                    while True:
                        await server.receive_message()

            async def read() -> None:
                with pytest.raises(ConnectionClosed):
                    while True:
                        await client.receive_message()

            tg.start_soon(serve)
            tg.start_soon(read)
            await client.ping()
            await server.ping(b"srv!")
            await client.aclose()
            await server.aclose()


async def test_client_close_handshake_completes() -> None:
    with anyio.fail_after(5):
        client, server = await _pair()
        async with anyio.create_task_group() as tg:

            async def serve() -> None:
                with pytest.raises(ConnectionClosed) as info:
                    while True:
                        await server.receive_message()
                assert info.value.code == 1000
                await server.aclose()

            tg.start_soon(serve)
            await client.aclose(1000, "bye")
        assert client.protocol.state.name == "CLOSED"
        assert (server.close_code, server.close_reason) == (1000, "bye")


async def test_server_close_is_echoed_and_reported() -> None:
    with anyio.fail_after(5):
        client, server = await _pair()
        await server.send_text(b"last")
        server.protocol.send_close(4000, "invalid_request_error.invalid_model")
        await server.flush()
        assert (await client.receive_message()).data == b"last"
        with pytest.raises(ConnectionClosed) as info:
            await client.receive_message()
        assert (info.value.code, info.value.reason) == (4000, "invalid_request_error.invalid_model")
        assert client.close_code == 4000
        # the echo reached the server (pitfall 1: flush after receive)
        with pytest.raises(ConnectionClosed):
            await server.receive_message()
        assert server.close_code == 4000
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.aclose)
            await client.aclose()


async def test_eof_without_close_is_connection_lost() -> None:
    with anyio.fail_after(5):
        client, server = await _pair()
        await server.stream.aclose()
        with pytest.raises(ConnectionLost) as info:
            await client.receive_message()
        assert info.value.code == 1006
        with pytest.raises(ConnectionClosed):
            await client.send_text(b"x")
        await client.aclose()


async def test_close_timeout_bounds_a_silent_peer() -> None:
    with anyio.fail_after(5):
        client, server = await _pair(close_timeout=0.2)
        start = anyio.current_time()
        await client.aclose()
        assert anyio.current_time() - start < 1.0
        assert isinstance(client.stream, MemoryByteStream)
        await server.abort()


async def test_concurrent_senders_never_interleave() -> None:
    with anyio.fail_after(10):
        a, b = memory_byte_stream_pair(max_buffer=2)
        client = WebSocketEngine(ClientProtocol(parse_uri("ws://t/")), a)
        server_protocol = ServerProtocol()
        server = WebSocketEngine(server_protocol, b)
        assert isinstance(client.protocol, ClientProtocol)
        client.protocol.send_request(client.protocol.connect())
        request: object = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.flush)
            request = await server.receive_handshake()
        assert isinstance(request, Request)
        server_protocol.send_response(server_protocol.accept(request))
        await server.flush()
        await client.receive_handshake()
        received: list[bytes] = []

        async def sender(tag: str) -> None:
            for i in range(50):
                await client.send_text(f"{tag}:{i}:".encode() + b"z" * 3000)

        async with anyio.create_task_group() as tg:

            async def collect() -> None:
                while len(received) < 150:
                    received.append(bytes((await server.receive_message()).data))

            tg.start_soon(collect)
            for tag in "abc":
                tg.start_soon(sender, tag)
        for tag in "abc":
            mine = [int(m.split(b":")[1]) for m in received if m.startswith(tag.encode())]
            assert mine == list(range(50))
        await client.abort()
        await server.abort()


async def test_engine_ignores_unsolicited_pong_and_control_frames() -> None:
    with anyio.fail_after(5):
        client, server = await _pair()
        server.protocol.send_pong(b"nope")
        server.protocol.send_text(b"after")
        await server.flush()
        assert (await client.receive_message()).data == b"after"
        await client.abort()
        await server.abort()
