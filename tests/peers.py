"""Independent WebSocket peers for interop and fault tests: a `websockets` asyncio server and a
trio-websocket server, each in its own thread with its own event loop, so that they share no
code and no scheduler with the client under test."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

import anyio
import anyio.abc
import trio
import trio_websocket
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

HELLO = json.dumps(
    {"type": "session.created", "event_id": "event_1", "session": {"type": "realtime"}}
)

Handler = Callable[[ServerConnection], Awaitable[None]]
Process = Callable[[ServerConnection, Request], Response | None]


class Recorded:
    """What the peer saw, shared with the test thread."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.messages: list[str] = []
        self.close_codes: list[int | None] = []


@contextmanager
def websockets_peer(
    handler: Handler, process_request: Process | None = None, **serve_options: Any
) -> Iterator[tuple[str, Recorded]]:
    """A `websockets` asyncio server in a thread; yields its websocket_base_url."""
    recorded = Recorded()
    ready = threading.Event()
    state: dict[str, Any] = {}

    def record(connection: ServerConnection, request: Request) -> Response | None:
        recorded.paths.append(request.path)
        recorded.headers.append({k.lower(): v for k, v in request.headers.raw_items()})
        return process_request(connection, request) if process_request else None

    async def wrapped(ws: ServerConnection) -> None:
        try:
            await handler(ws)
        finally:
            recorded.close_codes.append(ws.protocol.close_code)

    async def main() -> None:
        stop = asyncio.Event()
        state["loop"] = asyncio.get_running_loop()
        state["stop"] = stop
        serve_options.setdefault("max_size", None)
        async with serve(wrapped, "127.0.0.1", 0, process_request=record, **serve_options) as srv:
            state["port"] = srv.sockets[0].getsockname()[1]
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"ws://127.0.0.1:{state['port']}/v1", recorded
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)
        assert not thread.is_alive()


async def echo(ws: ServerConnection) -> None:
    """Send session.created, then answer each event with input_audio_buffer.cleared."""
    await ws.send(HELLO)
    async for message in ws:
        event = json.loads(message)
        await ws.send(
            json.dumps({"type": "input_audio_buffer.cleared", "event_id": event.get("event_id")})
        )


def refuse(status: int, body: str, request_id: str = "req_123") -> Process:
    def process(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(status, body)
        if body.startswith("{"):
            response.headers["Content-Type"] = "application/json"
        response.headers["x-request-id"] = request_id
        return response

    return process


@contextmanager
def trio_websocket_peer(
    handler: Callable[[trio_websocket.WebSocketConnection], Awaitable[None]],
    reject: tuple[int, bytes] | None = None,
) -> Iterator[str]:
    """A trio-websocket server in a thread running trio; yields its websocket_base_url.

    With ``reject=(status, body)`` it refuses every upgrade with that HTTP status instead.
    """
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        async def accept(request: trio_websocket.WebSocketRequest) -> None:
            if reject is not None:
                await request.reject(reject[0], body=reject[1])
                return
            ws = await request.accept()
            with suppress(trio_websocket.ConnectionClosed):
                await handler(ws)

        async with trio.open_nursery() as nursery:
            state["cancel"] = nursery.cancel_scope
            state["token"] = trio.lowlevel.current_trio_token()
            server = await nursery.start(
                trio_websocket.serve_websocket, accept, "127.0.0.1", 0, None
            )
            state["port"] = server.port
            ready.set()

    thread = threading.Thread(target=trio.run, args=(main,), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"ws://127.0.0.1:{state['port']}/v1"
    finally:
        state["token"].run_sync_soon(state["cancel"].cancel)
        thread.join(10)
        assert not thread.is_alive()


GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HELLO_FRAME = bytes([0x81, len(HELLO)]) + HELLO.encode()


def _greet(sock: socket.socket) -> None:
    """One connection of the greeting server: the upgrade, ``session.created``, the close."""
    with sock:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        found = re.search(rb"(?i)\r\nsec-websocket-key:\s*(\S+)", data)
        assert found is not None
        accept = base64.b64encode(hashlib.sha1(found.group(1) + GUID).digest())
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n" + HELLO_FRAME
        )
        # The client's next frame is its (masked) close frame: answer it, then close TCP first,
        # as a server does.
        data = b""
        while len(data) < 2 or len(data) < 6 + (data[1] & 0x7F):
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        if data[0] == 0x88:
            sock.sendall(b"\x88\x02\x03\xe8")
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass


def _serve_greetings() -> None:
    listener = socket.create_server(("127.0.0.1", 0), backlog=256)
    print(listener.getsockname()[1], flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=_greet, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    # `python tests/peers.py`: a bare server in its own process that greets every WebSocket
    # connection with session.created and answers its close (for connect/close cycles, where the
    # server must cost next to nothing); prints its port.
    _serve_greetings()


@asynccontextmanager
async def silent_listener() -> AsyncIterator[int]:
    """A TCP listener that accepts connections and says nothing (no TLS handshake, no HTTP
    answer); yields its port."""
    held: list[anyio.abc.SocketStream] = []

    async def hold(stream: anyio.abc.SocketStream) -> None:
        held.append(stream)
        await anyio.sleep_forever()

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(listener.serve, hold)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.cancel_scope.cancel()
    for stream in held:
        await anyio.aclose_forcefully(stream)
