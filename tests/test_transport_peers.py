"""Interop over real loopback sockets with independent peers: a `websockets` asyncio server and a
trio-websocket server (from `peers.py`), each in its own thread with its own event loop."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from contextlib import suppress
from pathlib import Path

import anyio
import pytest
import trio
import trio_websocket
from peers import HELLO, echo, refuse, trio_websocket_peer, websockets_peer
from websockets.asyncio.server import ServerConnection
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Request
from websockets.server import ServerProtocol

from realtime_anyio import (
    APIConnectionError,
    AuthenticationError,
    ConnectionClosed,
    ConnectionLost,
    InternalServerError,
    LocalProtocolError,
    MessageTooLarge,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SessionExpired,
    open_realtime,
)
from realtime_anyio.events import InputAudioBufferCleared, UnknownServerEvent, user_text
from realtime_anyio.transport import connect_trio_websocket


async def test_handshake_headers_path_and_exchange() -> None:
    with websockets_peer(echo) as (url, seen):
        with anyio.fail_after(10):
            async with open_realtime(
                model="gpt-realtime",
                websocket_base_url=url,
                api_key="sk-peer-secret",
                extra_headers={"X-Trace": "abc"},
            ) as conn:
                assert (await conn.receive()).type == "session.created"
                await conn.input_audio_buffer.clear(event_id="c1")
                reply = await conn.receive()
                assert isinstance(reply, InputAudioBufferCleared)
                assert reply.event_id == "c1"
    assert seen.paths == ["/v1/realtime?model=gpt-realtime"]
    headers = seen.headers[0]
    assert headers["authorization"] == "Bearer sk-peer-secret"
    assert headers["x-trace"] == "abc"
    assert headers["user-agent"].startswith("realtime-anyio/")
    assert seen.close_codes == [1000]


async def test_permessage_deflate_when_asked() -> None:
    with websockets_peer(echo) as (url, seen):
        with anyio.fail_after(10):
            async with open_realtime(
                model="m", websocket_base_url=url, api_key="k", compression=True
            ) as conn:
                await conn.receive()
                await conn.conversation.item.create(item=user_text("x" * 10_000))
                assert (await conn.receive()).type == "input_audio_buffer.cleared"
    assert "permessage-deflate" in seen.headers[0]["sec-websocket-extensions"]


async def test_handshake_refusals_map_to_specific_errors() -> None:
    cases: list[tuple[int, str, type[Exception]]] = [
        (
            401,
            '{"error": {"message": "Incorrect API key provided: sk-secret-key", '
            '"type": "invalid_request_error", "code": "invalid_api_key"}}',
            AuthenticationError,
        ),
        (403, '{"error": {"message": "Forbidden", "code": "403"}}', PermissionDeniedError),
        (404, "", NotFoundError),
        (429, '{"error": {"message": "slow down", "type": "rate_limit"}}', RateLimitError),
        (503, "upstream unavailable", InternalServerError),
    ]
    for status, body, cls in cases:
        with (
            websockets_peer(echo, refuse(status, body)) as (url, _seen),
            anyio.fail_after(10),
            pytest.raises(cls) as info,
        ):
            async with open_realtime(
                model="m", call_id="rtc_x", websocket_base_url=url, api_key="sk-secret-key"
            ):
                pytest.fail("entered")
        err = info.value
        assert getattr(err, "status_code", None) == status
        assert getattr(err, "request_id", None) == "req_123"
        assert "sk-secret-key" not in str(err)
        assert "sk-secret-key" not in json.dumps(getattr(err, "body", None))


async def test_refusal_after_upgrade_and_close_codes() -> None:
    async def refuse_after_upgrade(ws: ServerConnection) -> None:
        await ws.send(
            json.dumps(
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "code": None,
                        "message": "Missing bearer or basic authentication in header",
                        "param": None,
                        "event_id": None,
                    },
                }
            )
        )
        await ws.close(3000, "invalid_request_error")

    with (
        websockets_peer(refuse_after_upgrade) as (url, _seen),
        anyio.fail_after(10),
        pytest.raises(AuthenticationError) as info,
    ):
        async with open_realtime(model="m", websocket_base_url=url, api_key="k"):
            pytest.fail("entered")
    assert info.value.close_code == 3000
    assert info.value.status_code is None


async def test_server_close_1000_ends_iteration_and_1011_raises() -> None:
    async def close_with(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.send(json.dumps({"type": "input_audio_buffer.cleared"}))
        code = 1000 if "normal" in (ws.request.path if ws.request else "") else 1011
        await ws.close(code, "bye")

    with websockets_peer(close_with) as (url, _seen):
        with anyio.fail_after(10):
            async with open_realtime(model="normal", websocket_base_url=url, api_key="k") as conn:
                assert [e.type async for e in conn] == [
                    "session.created",
                    "input_audio_buffer.cleared",
                ]
            async with open_realtime(model="other", websocket_base_url=url, api_key="k") as conn:
                with pytest.raises(ConnectionClosed) as info:
                    async for _ in conn:
                        pass
                assert (info.value.code, info.value.reason) == (1011, "bye")


async def test_session_expired_over_a_socket() -> None:
    async def expire(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.send(
            json.dumps(
                {
                    "type": "error",
                    "error": {
                        "type": "invalid_request_error",
                        "code": "session_expired",
                        "message": "Your session hit the maximum duration of 60 minutes.",
                        "event_id": None,
                    },
                }
            )
        )
        await ws.close(1001, "Your session hit the maximum duration of 60 minutes.")

    with websockets_peer(expire) as (url, _seen):
        with anyio.fail_after(10):
            async with open_realtime(model="m", websocket_base_url=url, api_key="k") as conn:
                with pytest.raises(SessionExpired):
                    async for _ in conn:
                        pass


async def test_fragments_and_oversize_messages() -> None:
    async def big(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        payload = json.dumps({"type": "brand.new", "blob": "y" * 5000})
        await ws.send([payload[:100], payload[100:3000], payload[3000:]])
        await ws.send(json.dumps({"type": "brand.new", "blob": "z" * 200_000}))
        await ws.wait_closed()

    with websockets_peer(big) as (url, seen):
        with anyio.fail_after(10):
            async with open_realtime(
                model="m", websocket_base_url=url, api_key="k", max_message_size=100_000
            ) as conn:
                await conn.receive()
                unknown = await conn.receive()
                assert isinstance(unknown, UnknownServerEvent)
                assert unknown.wire_type == "brand.new"
                with pytest.raises(ConnectionClosed) as info:
                    await conn.receive()
                assert info.value.code == 1009
                assert isinstance(info.value.__cause__, MessageTooLarge)
    assert seen.close_codes == [1009]


COMMITTED = [
    json.dumps({"type": "input_audio_buffer.committed", "item_id": f"item_{i}"}) for i in range(400)
]


async def _slow_consumer(url: str) -> None:
    """A small receive buffer and a consumer slower than the peer: every event arrives, in
    order, and the reader restarts about once per half buffer, not once per event."""
    with anyio.fail_after(20):
        async with open_realtime(
            model="m", websocket_base_url=url, api_key="k", receive_buffer=8
        ) as conn:
            await conn.receive()
            ids: list[str] = []
            for i in range(len(COMMITTED)):
                event = await conn.receive()
                ids.append(getattr(event, "item_id", "?"))
                if i % 50 == 0:
                    await anyio.sleep(0.01)  # let the peer fill every buffer on the way
            assert ids == [f"item_{i}" for i in range(len(COMMITTED))]
            stats = conn.statistics()
            assert stats.dropped == 0
            assert 1 <= stats.reader_stalls <= len(COMMITTED) // 4 + 1


async def test_a_slow_consumer_gets_every_event_from_a_websockets_peer() -> None:
    async def flood(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        for message in COMMITTED:
            await ws.send(message)
        await ws.wait_closed()

    with websockets_peer(flood) as (url, _seen):
        await _slow_consumer(url)


async def test_a_slow_consumer_gets_every_event_from_a_trio_websocket_peer() -> None:
    async def flood(ws: trio_websocket.WebSocketConnection) -> None:
        await ws.send_message(HELLO)
        for message in COMMITTED:
            await ws.send_message(message)
        await ws.get_message()

    with trio_websocket_peer(flood) as url:
        await _slow_consumer(url)


async def test_a_15_mib_append_goes_through() -> None:
    sizes: list[int] = []

    async def measure(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        async for message in ws:
            sizes.append(len(message))
            await ws.send(json.dumps({"type": "input_audio_buffer.cleared"}))

    with websockets_peer(measure) as (url, _seen):
        with anyio.fail_after(20):
            async with open_realtime(model="m", websocket_base_url=url, api_key="k") as conn:
                await conn.receive()
                await conn.input_audio_buffer.append(b"\x00" * (15 * 1024 * 1024))
                assert (await conn.receive()).type == "input_audio_buffer.cleared"
    assert sizes[0] > 20 * 1024 * 1024


async def test_dead_peer_is_detected_by_the_keepalive() -> None:
    async def go_silent(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        ws.transport.pause_reading()  # no pongs, no close replies
        await anyio.sleep(1.5)
        ws.transport.abort()

    with websockets_peer(go_silent, ping_interval=None, close_timeout=0.5) as (url, _seen):
        with anyio.fail_after(10):
            async with open_realtime(
                model="m",
                websocket_base_url=url,
                api_key="k",
                ping_interval=0.1,
                ping_timeout=0.2,
                close_timeout=0.2,
            ) as conn:
                await conn.receive()
                start = anyio.current_time()
                with pytest.raises(ConnectionLost):
                    await conn.receive()
                assert anyio.current_time() - start < 2


async def test_tcp_drop_without_close_frame() -> None:
    async def drop(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        ws.transport.abort()

    with websockets_peer(drop) as (url, _seen):
        with anyio.fail_after(10):
            async with open_realtime(model="m", websocket_base_url=url, api_key="k") as conn:
                await conn.receive()
                with pytest.raises(ConnectionLost) as info:
                    await conn.receive()
                assert info.value.code == 1006


async def test_leaving_while_the_server_streams_is_fast() -> None:
    delta = json.dumps(
        {
            "type": "response.output_audio.delta",
            "response_id": "r",
            "item_id": "i",
            "output_index": 0,
            "content_index": 0,
            "delta": "AAAA" * 1200,
        }
    )

    async def stream(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        while True:
            await ws.send(delta)
            # websockets' send does not yield while its buffer has room; without this the peer
            # would never get to read our close frame.
            await asyncio.sleep(0)

    with websockets_peer(stream) as (url, seen):
        with anyio.fail_after(10):
            async with open_realtime(model="m", websocket_base_url=url, api_key="k") as conn:
                for _ in range(20):
                    await conn.receive()
                start = anyio.current_time()
            # The peer shares this process's GIL, so allow for it; the benchmark measures the
            # close against a separate process (well under 50 ms).
            assert anyio.current_time() - start < 1.5
    assert seen.close_codes == [1000]


class _BlockingPeer:
    """One blocking socket in one thread: it writes audio deltas and reads only between writes,
    so while the client does not read, this peer reads nothing either (as a simple synchronous
    server would)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        # Small buffers on the peer's side, so that a few MB fill the path both ways.
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        self.url = f"ws://127.0.0.1:{self.listener.getsockname()[1]}/v1"
        self.texts = 0
        self.close_code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with self.listener, suppress(OSError):
            sock, _ = self.listener.accept()
            with sock:
                sock.settimeout(15)
                self._serve(sock)

    def _serve(self, sock: socket.socket) -> None:
        protocol = ServerProtocol(max_size=None)
        while not self._handshake(sock, protocol):
            pass
        protocol.send_text(HELLO.encode())
        sock.sendall(b"".join(protocol.data_to_send()))
        for _ in range(8):
            protocol.send_text(AUDIO_DELTA.encode())
        chunk = b"".join(protocol.data_to_send())
        while True:
            sock.sendall(chunk)  # blocks while the client does not read
            sock.setblocking(False)
            try:
                data = sock.recv(1 << 20)
            except BlockingIOError:
                continue
            finally:
                sock.settimeout(15)
            if not data:
                return
            protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    self.texts += 1
                elif isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                    self.close_code = Close.parse(event.data).code
            for out in protocol.data_to_send():
                if out:
                    sock.sendall(out)
            if self.close_code is not None:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                    while sock.recv(65536):
                        pass
                return

    def _handshake(self, sock: socket.socket, protocol: ServerProtocol) -> bool:
        protocol.receive_data(sock.recv(65536))
        for event in protocol.events_received():
            if isinstance(event, Request):
                protocol.send_response(protocol.accept(event))
                sock.sendall(b"".join(protocol.data_to_send()))
                return True
        return False


AUDIO_DELTA = json.dumps(
    {
        "type": "response.output_audio.delta",
        "response_id": "r",
        "item_id": "i",
        "output_index": 0,
        "content_index": 0,
        "delta": "AAAA" * 1200,
    }
)


async def test_leaving_flushes_and_closes_although_the_peer_reads_only_between_writes() -> None:
    # The receive buffer is full and the reader stopped, so the peer is stuck writing and reads
    # nothing; the writer holds ~20 MB of accepted appends. Leaving must drain the socket while
    # it flushes: every accepted append and the close frame reach the peer, well before
    # close_timeout.
    peer = _BlockingPeer()
    audio = "A" * (340 * 1024)
    try:
        with anyio.fail_after(20):
            async with open_realtime(
                model="m",
                websocket_base_url=peer.url,
                api_key="k",
                receive_buffer=4,
                close_timeout=8,
                ping_interval=None,
            ) as conn:
                await conn.receive()
                for _ in range(500):
                    if conn.statistics().reader_stalls:
                        break
                    await anyio.sleep(0.01)
                assert conn.statistics().reader_stalls
                for _ in range(60):
                    conn.send_nowait({"type": "input_audio_buffer.append", "audio": audio})
                # Let the writer fill every buffer on the way.
                await anyio.sleep(0.3)
                start = anyio.current_time()
            elapsed = anyio.current_time() - start
    finally:
        await anyio.to_thread.run_sync(peer.thread.join, 20)
    assert not peer.thread.is_alive()
    assert peer.texts == 60
    assert peer.close_code == 1000
    assert elapsed < 4


async def test_cancel_during_connect_leaves_no_socket() -> None:
    async def slow(ws: ServerConnection) -> None:
        await anyio.sleep(1)

    with websockets_peer(slow) as (url, _seen):
        for delay in (0.0, 0.001, 0.01, 0.05):
            with anyio.fail_after(5), anyio.move_on_after(delay):
                async with open_realtime(model="m", websocket_base_url=url, api_key="k"):
                    pytest.fail("entered")


async def trio_echo(ws: trio_websocket.WebSocketConnection) -> None:
    await ws.send_message(HELLO)
    while True:
        message = await ws.get_message()
        event = json.loads(message)
        if event["type"] == "response.cancel":
            await ws.aclose(4000, "invalid_request_error.nope")
            return
        await ws.send_message(json.dumps({"type": "input_audio_buffer.cleared"}))


async def test_against_a_trio_websocket_server() -> None:
    with trio_websocket_peer(trio_echo) as url:
        with anyio.fail_after(10):
            async with open_realtime(model="m", websocket_base_url=url, api_key="k") as conn:
                assert (await conn.receive()).type == "session.created"
                for _ in range(3):
                    await conn.input_audio_buffer.append(b"\x01" * 960)
                    assert (await conn.receive()).type == "input_audio_buffer.cleared"
            async with open_realtime(model="m", websocket_base_url=url, api_key="k") as conn:
                await conn.receive()
                await conn.response.cancel()
                with pytest.raises(ConnectionClosed) as info:
                    await conn.receive()
                assert info.value.code == 4000


async def test_trio_websocket_transport_needs_trio(anyio_backend_name: str) -> None:
    with websockets_peer(echo) as (url, _seen), anyio.fail_after(10):
        if anyio_backend_name == "trio":
            async with open_realtime(
                model="m", websocket_base_url=url, api_key="k", transport=connect_trio_websocket
            ) as conn:
                assert (await conn.receive()).type == "session.created"
        else:
            with pytest.raises(LocalProtocolError, match="trio only"):
                async with open_realtime(
                    model="m", websocket_base_url=url, api_key="k", transport=connect_trio_websocket
                ):
                    pytest.fail("entered")


# trio-websocket runs under trio only: these run trio directly, not through anyio's plugin.


def test_trio_websocket_transport_exchange() -> None:
    async def body(url: str) -> None:
        with anyio.fail_after(10):
            async with open_realtime(
                model="m", websocket_base_url=url, api_key="sk-tw", transport=connect_trio_websocket
            ) as conn:
                assert (await conn.receive()).type == "session.created"
                await conn.input_audio_buffer.clear()
                assert (await conn.receive()).type == "input_audio_buffer.cleared"
                stats = conn.statistics()
                assert stats.bytes_sent > 0
                assert stats.bytes_received > 0

    with websockets_peer(echo) as (url, seen):
        trio.run(body, url)
    assert seen.headers[0]["authorization"] == "Bearer sk-tw"
    assert seen.close_codes == [1000]


def test_trio_websocket_transport_when_the_server_closes_first() -> None:
    async def close_first(ws: ServerConnection) -> None:
        await ws.send(HELLO)
        await ws.close(1011, "bye")

    async def body(url: str) -> None:
        with anyio.fail_after(10):
            async with open_realtime(
                model="m", websocket_base_url=url, api_key="k", transport=connect_trio_websocket
            ) as conn:
                await conn.receive()
                with pytest.raises(ConnectionClosed) as info:
                    await conn.receive()
                assert info.value.code == 1011

    # warnings-as-errors fails the test if the socket is left open
    with websockets_peer(close_first) as (url, _seen):
        trio.run(body, url)


def test_trio_websocket_transport_refusal() -> None:
    async def body(url: str) -> None:
        with anyio.fail_after(10), pytest.raises(NotFoundError):
            async with open_realtime(
                model="m",
                call_id="rtc_gone",
                websocket_base_url=url,
                api_key="k",
                transport=connect_trio_websocket,
            ):
                pytest.fail("entered")

    with websockets_peer(echo, refuse(404, "")) as (url, _seen):
        trio.run(body, url)


DATA = Path(__file__).parent / "data"


def server_tls() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(DATA / "conn_tls_cert.pem", DATA / "conn_tls_key.pem")
    return context


async def test_tls_is_verified_by_default_and_a_custom_context_works() -> None:
    with websockets_peer(echo, ssl=server_tls()) as (url, _seen):
        wss = url.replace("ws://", "wss://")
        with anyio.fail_after(10), pytest.raises(APIConnectionError, match="TLS"):
            async with open_realtime(model="m", websocket_base_url=wss, api_key="k"):
                pytest.fail("entered")
        trusting = ssl.create_default_context(cafile=str(DATA / "conn_tls_cert.pem"))
        with anyio.fail_after(10):
            async with open_realtime(
                model="m", websocket_base_url=wss, api_key="k", ssl_context=trusting
            ) as conn:
                assert (await conn.receive()).type == "session.created"
                await conn.input_audio_buffer.commit()
                assert (await conn.receive()).type == "input_audio_buffer.cleared"


def test_tls_with_the_trio_websocket_transport() -> None:
    trusting = ssl.create_default_context(cafile=str(DATA / "conn_tls_cert.pem"))

    async def body(url: str) -> None:
        with anyio.fail_after(10):
            async with open_realtime(
                model="m",
                websocket_base_url=url,
                api_key="k",
                ssl_context=trusting,
                transport=connect_trio_websocket,
            ) as conn:
                assert (await conn.receive()).type == "session.created"

    with websockets_peer(echo, ssl=server_tls()) as (url, _seen):
        trio.run(body, url.replace("ws://", "wss://"))
