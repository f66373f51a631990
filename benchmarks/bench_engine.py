"""Engine receive rate: how many 100 ms audio deltas per second one WebSocket engine takes in.

Run by hand: ``.venv/bin/python benchmarks/bench_engine.py [N]``.

A raw-socket server in a thread answers the upgrade and writes ``N`` pre-framed
``response.output_audio.delta`` events (100 ms of 24 kHz PCM16, base64 in JSON: ~6.6 KB each)
as one blob; the client is :class:`realtime_anyio.transport.WebSocketEngine` over
``anyio.connect_tcp`` on 127.0.0.1. Two ways of receiving, each on asyncio and trio:

* ``receive``: ``await engine.receive_message()`` per message (a checkpoint each);
* ``drain``: ``receive_message_nowait()`` until empty, then one ``await receive_message()``.

Messages are not decoded: this measures the transport alone. The best of a few runs is shown.
"""

from __future__ import annotations

import base64
import hashlib
import inspect
import json
import socket
import struct
import sys
import threading
import time
from typing import Any

import anyio
from websockets.client import ClientProtocol
from websockets.uri import parse_uri

from realtime_anyio.transport import WebSocketEngine

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PCM_100MS = bytes(range(256)) * 18 + bytes(range(192))


def _frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x81, n) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


def _delta(i: int) -> bytes:
    return json.dumps(
        {
            "type": "response.output_audio.delta",
            "event_id": f"event_{i}",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "delta": base64.b64encode(PCM_100MS).decode(),
        },
        separators=(",", ":"),
    ).encode()


def _serve(listener: socket.socket, blob: bytes) -> None:
    sock, _ = listener.accept()
    with sock:
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in data.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest())
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        sock.sendall(blob)
        # Wait for the client to go away.
        while sock.recv(65536):
            pass


async def _run(n: int, blob: bytes, drain: bool) -> float:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    thread = threading.Thread(target=_serve, args=(listener, blob), daemon=True)
    thread.start()
    stream = await anyio.connect_tcp("127.0.0.1", port)
    protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/"), max_size=2**24)
    # The engine before this change had no max_size argument (it read the protocol's).
    has_max_size = "max_size" in inspect.signature(WebSocketEngine).parameters
    kwargs: dict[str, Any] = {"max_size": 2**24} if has_max_size else {}
    engine = WebSocketEngine(protocol, stream, **kwargs)
    protocol.send_request(protocol.connect())
    await engine.flush()
    await engine.receive_handshake()
    got = 0
    start = time.perf_counter()
    if drain:
        nowait = engine.receive_message_nowait
        while got < n:
            await engine.receive_message()
            got += 1
            while got < n and nowait() is not None:
                got += 1
    else:
        while got < n:
            await engine.receive_message()
            got += 1
    took = time.perf_counter() - start
    await engine.abort()
    listener.close()
    thread.join(5)
    return n / took


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    blob = b"".join(_frame(_delta(i)) for i in range(n))
    print(f"{n} deltas of {len(_delta(0))} bytes each\n")
    print("| backend | receive (msg/s) | drain (msg/s) |")
    print("|---|---|---|")
    for backend in ("asyncio", "trio"):
        rates = []
        for drain in (False, True):
            rates.append(max(anyio.run(_run, n, blob, drain, backend=backend) for _ in range(3)))
        print(f"| {backend} | {rates[0]:,.0f} | {rates[1]:,.0f} |")


if __name__ == "__main__":
    main()
