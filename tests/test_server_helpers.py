"""A raw wire client for the fake-server tests: JSON in, JSON out, nothing in between.

The server tests speak the protocol directly (over the project's own WebSocket engine) so that
they check exactly what goes over the wire. Every server event received is also decoded with
``realtime_anyio.events.decode_server_event`` and must be a known, valid event.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from realtime_anyio.events import UnknownServerEvent, decode_server_event
from realtime_anyio.testing import FakeRealtimeServer
from realtime_anyio.transport import ConnectRequest, WebSocketTransport, connect_websocket


class Wire:
    """One client connection to the fake server."""

    def __init__(self, transport: WebSocketTransport) -> None:
        self.transport = transport
        self.events: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any]) -> None:
        await self.transport.send_text(json.dumps(event))

    async def send_raw(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.transport.send_binary(data)
        else:
            await self.transport.send_text(data)

    async def append(self, pcm: bytes, chunk: int = 4800) -> None:
        """Append audio in ``chunk``-byte pieces (100 ms of 24 kHz PCM16 by default)."""
        for start in range(0, len(pcm), chunk):
            piece = base64.b64encode(pcm[start : start + chunk]).decode()
            await self.send({"type": "input_audio_buffer.append", "audio": piece})

    async def recv(self) -> dict[str, Any]:
        message = await self.transport.receive()
        assert message.text, "the server sent a binary frame"
        typed = decode_server_event(message.data)
        assert not isinstance(typed, UnknownServerEvent), f"unknown server event {typed.type}"
        event: dict[str, Any] = json.loads(bytes(message.data))
        self.events.append(event)
        return event

    async def until(self, kind: str) -> dict[str, Any]:
        """Receive until an event of type ``kind`` arrives; return it."""
        while True:
            event = await self.recv()
            if event["type"] == kind:
                return event

    async def collect(self, kind: str) -> list[dict[str, Any]]:
        """Receive up to and including the next ``kind`` event; return them all."""
        collected: list[dict[str, Any]] = []
        while True:
            event = await self.recv()
            collected.append(event)
            if event["type"] == kind:
                return collected

    async def error(self) -> dict[str, Any]:
        """The error object of the next ``error`` event."""
        event = await self.until("error")
        error: dict[str, Any] = event["error"]
        return error

    async def quiet(self, seconds: float = 0.1) -> list[dict[str, Any]]:
        """Whatever arrives within ``seconds`` (to check that nothing does)."""
        got: list[dict[str, Any]] = []
        with anyio.move_on_after(seconds):
            while True:
                got.append(await self.recv())
        return got


def ws_url(server: FakeRealtimeServer, query: str = "model=gpt-realtime") -> str:
    return f"{server.url}/realtime" + (f"?{query}" if query else "")


@asynccontextmanager
async def connect(
    server: FakeRealtimeServer,
    *,
    query: str = "model=gpt-realtime",
    headers: dict[str, str] | None = None,
    created: bool = True,
    max_message_size: int | None = 32 * 1024 * 1024,
) -> AsyncIterator[Wire]:
    """Connect to ``server``; by default also consume ``session.created``."""
    request = ConnectRequest(
        url=ws_url(server, query),
        headers={"Authorization": "Bearer sk-test"} if headers is None else headers,
        close_timeout=1.0,
        max_message_size=max_message_size,
    )
    transport = await connect_websocket(request)
    wire = Wire(transport)
    try:
        if created:
            first = await wire.recv()
            assert first["type"] == "session.created", first
        yield wire
    finally:
        await transport.aclose()


def user_text(text: str, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": text}],
    }
    item.update(extra)
    return item


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]
