"""The engine's sending side.

The protocol frames every message (a fresh masking key per frame) and the engine writes its
output with awaited, bounded writes; a full socket, a slow reader or a dead peer must give
ordering, backpressure and errors, and a write that cannot finish must end the connection
within its bound.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from test_transport_engine import handshake
from test_transport_framing import BACKENDS, ScriptedStream, _accept  # pyright: ignore
from websockets.client import ClientProtocol
from websockets.exceptions import ProtocolError
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame
from websockets.http11 import Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from realtime_anyio import ConnectionClosed
from realtime_anyio.transport import WebSocketEngine
from realtime_anyio.transport._engine import (  # pyright: ignore[reportPrivateUsage]
    _FRAMES,
    _PROTOCOL,
)

#: Payload sizes at the edges of the three length encodings.
EDGES = [0, 1, 125, 126, 127, 65535, 65536, 70000]


def _open_engine(stream: anyio.abc.ByteStream, fast: bool = True) -> WebSocketEngine:
    protocol = ClientProtocol(parse_uri("ws://test/"), state=State.OPEN, max_size=None)
    return WebSocketEngine(protocol, stream, fast_framing=fast)


def _split_frame(wire: bytes) -> tuple[int, bytes, bytes]:
    """(header length, masking key, masked payload) of one client frame."""
    length = wire[1] & 0x7F
    head = 2 + {126: 2, 127: 8}.get(length, 0)
    return head, wire[head : head + 4], wire[head + 4 :]


def _parsed(wire: bytes) -> list[tuple[str, bytes, bool]]:
    server = ServerProtocol(state=State.OPEN, max_size=None)
    server.receive_data(wire)
    assert server.state is State.OPEN
    return [
        (event.opcode.name, bytes(event.data), event.fin)
        for event in server.events_received()
        if isinstance(event, Frame)
    ]


async def _send_each(sends: list[tuple[bool, int]], fast: bool) -> list[bytes]:
    stream = ScriptedStream([])
    engine = _open_engine(stream, fast)
    assert engine._route is (_FRAMES if fast else _PROTOCOL)  # pyright: ignore[reportPrivateUsage]
    wires: list[bytes] = []
    for i, (text, size) in enumerate(sends):
        data = bytes((i + j * 7) % 251 for j in range(size))
        before = len(stream.sent)
        if text:
            await engine.send_text(data)
        else:
            await engine.send_binary(data)
        wires.append(bytes(stream.sent[before:]))
    return wires


@settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sends=st.lists(
        st.tuples(st.booleans(), st.one_of(st.sampled_from(EDGES), st.integers(0, 3000))),
        min_size=1,
        max_size=6,
    )
)
def test_each_send_is_one_masked_frame_a_server_reads_back(sends: list[tuple[bool, int]]) -> None:
    for backend in BACKENDS:
        for fast in (True, False):
            wires = anyio.run(_send_each, sends, fast, backend=backend)
            expected = [
                ("TEXT" if text else "BINARY", bytes((i + j * 7) % 251 for j in range(size)), True)
                for i, (text, size) in enumerate(sends)
            ]
            for wire, frame in zip(wires, expected, strict=True):
                assert wire[1] & 0x80  # masked
                assert _parsed(wire) == [frame]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_frame_gets_a_fresh_masking_key(backend: str) -> None:
    # 600 frames use several pools of random bytes; keys must not repeat (a repeat among 600
    # random 32-bit keys has a chance of about 4e-5).
    wires = anyio.run(_send_each, [(True, 10)] * 600, True, backend=backend)
    keys = {_split_frame(wire)[1] for wire in wires}
    assert len(keys) >= 599
    assert all(len(key) == 4 for key in keys)


async def test_a_fragmented_message_in_progress_keeps_the_protocols_rules() -> None:
    stream = ScriptedStream([])
    engine = _open_engine(stream)
    engine.protocol.send_text(b"a", fin=False)
    # The protocol refuses a new message in the middle of a fragmented one; so does the engine.
    with pytest.raises(ProtocolError):
        await engine.send_text(b"x")
    engine.protocol.send_continuation(b"b", fin=True)
    await engine.send_text(b"c")
    assert _parsed(bytes(stream.sent)) == [
        ("TEXT", b"a", False),
        ("CONT", b"b", True),
        ("TEXT", b"c", True),
    ]


async def test_with_compression_the_protocol_frames_every_send() -> None:
    stream = ScriptedStream([])
    protocol = ClientProtocol(
        parse_uri("ws://test/"), extensions=[ClientPerMessageDeflateFactory()]
    )
    engine = WebSocketEngine(protocol, stream)
    protocol.send_request(protocol.connect())
    await engine.flush()
    stream.chunks = [
        _accept(bytes(stream.sent), "Sec-WebSocket-Extensions: permessage-deflate\r\n")
    ]
    assert isinstance(await engine.receive_handshake(), Response)
    assert engine._route is _PROTOCOL  # pyright: ignore[reportPrivateUsage]
    before = len(stream.sent)
    await engine.send_text(b"x" * 1000)
    wire = bytes(stream.sent[before:])
    assert wire[0] == 0xC1  # FIN, RSV1 (compressed), text
    assert len(wire) < 100


# -- writes over real sockets ----------------------------------------------------------------


@asynccontextmanager
async def tcp_pair() -> AsyncIterator[tuple[WebSocketEngine, WebSocketEngine]]:
    """A client engine and a server engine over a real loopback connection, handshake done."""
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        client_stream = await anyio.connect_tcp("127.0.0.1", port)
        accepting = listener.listeners[0]
        assert isinstance(accepting, anyio.abc.SocketListener)
        server_stream = await accepting.accept()
    client = WebSocketEngine(
        ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/"), max_size=None), client_stream
    )
    server = WebSocketEngine(ServerProtocol(max_size=None), server_stream)
    try:
        with anyio.fail_after(10):
            await handshake(client, server)
        yield client, server
    finally:
        await client.abort()
        await server.abort()


async def test_big_sends_to_a_slow_reader_arrive_whole_and_in_order() -> None:
    # Far more than the socket buffers hold: every later send must wait for the reader, in
    # order, from two tasks.
    big = [bytes([i]) * (3 * 2**20) for i in range(3)]
    small = [b'{"n":%d}' % i for i in range(50)]
    got: list[tuple[bytes, bool]] = []
    async with tcp_pair() as (client, server):
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:

                async def send_big() -> None:
                    for data in big:
                        await client.send_binary(data)

                async def send_small() -> None:
                    for data in small:
                        await client.send_text(data)

                tg.start_soon(send_big)
                tg.start_soon(send_small)
                await anyio.sleep(0.2)  # let the socket fill up before anyone reads
                while len(got) < len(big) + len(small):
                    message = await server.receive_message()
                    got.append((bytes(message.data), message.text))
    assert [data for data, text in got if not text] == big
    assert [data for data, text in got if text] == small


async def test_sending_to_a_vanished_peer_raises_connection_closed() -> None:
    async with tcp_pair() as (client, server):
        await server.abort()
        with anyio.fail_after(10), pytest.raises(ConnectionClosed):
            while True:
                await client.send_text(b"x" * 60000)
                await anyio.sleep(0.001)


async def test_header_lengths_over_a_real_socket() -> None:
    async with tcp_pair() as (client, server):
        with anyio.fail_after(10):
            for size in EDGES:
                await client.send_binary(b"\xaa" * size)
                message = await server.receive_message()
                assert bytes(message.data) == b"\xaa" * size
