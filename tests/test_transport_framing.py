"""The engine's fast framing (client side) against the ``websockets`` protocol parsing alone.

The client engine cuts plain data frames out of each read itself and hands every other frame
to the protocol. Whatever arrives, and however the bytes are split between reads, the result
must be exactly what the protocol alone produces: the same messages, the same replies written
(pongs, close echoes), the same way the connection ends.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
import anyio.abc
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame
from websockets.http11 import Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from realtime_anyio import ConnectionClosed
from realtime_anyio.transport import WebSocketEngine
from realtime_anyio.transport._engine import _FRAMES, _PROTOCOL  # pyright: ignore[reportPrivateUsage]

BACKENDS = ("asyncio", "trio")
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class ScriptedStream(anyio.abc.ByteStream):
    """Hands out the given chunks one per read, then EOF; records what is written."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self.chunks = list(chunks)
        self.sent = bytearray()
        self.eof_sent = False
        self.closed = False

    async def receive(self, max_bytes: int = 65536) -> bytes:
        await anyio.lowlevel.checkpoint()
        if not self.chunks:
            raise anyio.EndOfStream
        chunk = self.chunks.pop(0)
        if len(chunk) > max_bytes:
            self.chunks.insert(0, chunk[max_bytes:])
            chunk = chunk[:max_bytes]
        return chunk

    async def send(self, item: bytes) -> None:
        await anyio.lowlevel.checkpoint()
        self.sent += item

    async def send_eof(self) -> None:
        self.eof_sent = True

    async def aclose(self) -> None:
        self.closed = True


@dataclass
class Outcome:
    messages: list[tuple[bytes, bool]] = field(default_factory=lambda: [])
    ended: tuple[str, int, str, str] | None = None
    written: list[tuple[str, bytes, bool]] = field(default_factory=lambda: [])
    eof_sent: bool = False


def _written_frames(data: bytes) -> list[tuple[str, bytes, bool]]:
    server = ServerProtocol(state=State.OPEN, max_size=None)
    server.receive_data(data)
    return [
        (event.opcode.name, bytes(event.data), event.fin)
        for event in server.events_received()
        if isinstance(event, Frame)
    ]


async def _drive(engine: WebSocketEngine, stream: ScriptedStream) -> Outcome:
    outcome = Outcome()
    with anyio.fail_after(30):
        try:
            while True:
                message = await engine.receive_message()
                outcome.messages.append((bytes(message.data), message.text))
        except ConnectionClosed as exc:
            cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else ""
            outcome.ended = (type(exc).__name__, exc.code, exc.reason, cause)
    outcome.written = _written_frames(bytes(stream.sent))
    outcome.eof_sent = stream.eof_sent
    return outcome


async def _open_run(chunks: Sequence[bytes], fast: bool, max_size: int | None) -> Outcome:
    stream = ScriptedStream(chunks)
    protocol = ClientProtocol(parse_uri("ws://test/"), state=State.OPEN, max_size=max_size)
    engine = WebSocketEngine(protocol, stream, max_size=max_size, fast_framing=fast)
    assert engine._route is (_FRAMES if fast else _PROTOCOL)  # pyright: ignore[reportPrivateUsage]
    return await _drive(engine, stream)


def _split(wire: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    return [wire[a:b] for a, b in itertools.pairwise(points) if b > a]


def _compare(wire: bytes, cuts: Sequence[int], max_size: int | None = 2**20) -> Outcome:
    chunks = _split(wire, cuts)
    slow = Outcome()
    for backend in BACKENDS:
        slow = anyio.run(_open_run, chunks, False, max_size, backend=backend)
        fast = anyio.run(_open_run, chunks, True, max_size, backend=backend)
        assert fast == slow
    return slow


# -- building frames -----------------------------------------------------------------------------


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bytes | None = None,
    length: int | None = None,
    width: int | None = None,
) -> bytes:
    """One frame as raw bytes, valid or not (``length``/``width`` may lie or be non-minimal)."""
    size = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    bit = 0x80 if mask is not None else 0
    if width is None:
        width = 0 if size < 126 else 2 if size < 65536 else 8
    if width == 0:
        head += bytes([bit | size])
    elif width == 2:
        head += bytes([bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", size)
    if mask is not None:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def close_frame(code: int = 1000, reason: bytes = b"") -> bytes:
    return frame(0x8, struct.pack("!H", code) + reason)


PAYLOAD = st.binary(max_size=300) | st.sampled_from(
    [b"", b"x" * 125, b"y" * 126, b"z" * 65535, b"w" * 65536, b'{"type":"a"}']
)

VALID = st.one_of(
    st.builds(lambda p: frame(0x1, p), PAYLOAD),
    st.builds(lambda p: frame(0x2, p), PAYLOAD),
    st.builds(lambda p: frame(0x9, p), st.binary(max_size=125)),
    st.builds(lambda p: frame(0xA, p), st.binary(max_size=125)),
    st.builds(
        lambda first, parts, op: (
            frame(op, first, fin=False)
            + b"".join(frame(0x0, part, fin=False) for part in parts[:-1])
            + frame(0x0, parts[-1] if parts else b"")
        ),
        st.binary(max_size=200),
        st.lists(st.binary(max_size=200), max_size=4),
        st.sampled_from([0x1, 0x2]),
    ),
    st.builds(
        lambda p: frame(0x1, p, width=8) if len(p) < 65536 else frame(0x1, p),
        st.binary(max_size=50),
    ),
)

INVALID = st.one_of(
    st.builds(lambda p: frame(0x1, p, mask=b"\x01\x02\x03\x04"), st.binary(max_size=50)),
    st.builds(lambda p, r: frame(0x1, p, rsv=r), st.binary(max_size=50), st.integers(1, 7)),
    st.builds(lambda op: frame(op, b"abc"), st.sampled_from([3, 4, 5, 6, 7, 0xB, 0xF])),
    st.builds(lambda p: frame(0x0, p), st.binary(max_size=50)),
    st.builds(lambda p: frame(0x1, p, fin=False) + frame(0x1, p), st.binary(max_size=50)),
    st.builds(lambda p: frame(0x9, p, fin=False), st.binary(max_size=20)),
    st.just(frame(0x9, b"p" * 126)),
    st.just(frame(0x1, b"", length=2**20 + 1)),
    st.just(frame(0x2, b"", length=2**63 - 1)),
    st.builds(close_frame, st.sampled_from([1000, 1001, 3000, 4000, 1005, 999, 5000])),
    st.builds(lambda r: close_frame(1000, r), st.sampled_from([b"bye", b"\xff\xfe", b"ok"])),
    st.just(frame(0x8, b"\x03")),
)


@settings(max_examples=examples(250), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(VALID | INVALID, max_size=8),
    st.lists(st.integers(0, 300_000), max_size=12),
    st.binary(max_size=9),
)
def test_fast_framing_matches_the_protocol(
    frames: list[bytes], cuts: list[int], tail: bytes
) -> None:
    _compare(b"".join(frames) + tail, cuts)


@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(VALID | INVALID, max_size=6),
    st.lists(st.integers(0, 3000), max_size=8),
    st.sampled_from([0, 1, 125, 126, 200, 400]),
)
def test_a_small_size_limit_gives_the_same_results(
    frames: list[bytes], cuts: list[int], limit: int
) -> None:
    # Single frames and fragmented messages on both sides of the limit: the engine refuses
    # nothing itself; the protocol does, with the same outcome (1009 and the same reason).
    small = [f for f in frames if len(f) < 5000]
    _compare(b"".join(small), cuts, max_size=limit)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(VALID, min_size=1, max_size=6), st.integers(1, 64))
def test_every_read_size_gives_the_same_messages(frames: list[bytes], step: int) -> None:
    wire = b"".join(frames) + close_frame()
    # At most ~3,000 reads per run, so that a 64 KiB frame read byte by byte stays within the
    # time limit on a loaded machine.
    outcome = _compare(wire, list(range(0, len(wire), max(step, len(wire) // 3000))))
    assert outcome.ended is not None
    assert outcome.ended[:2] == ("ConnectionClosed", 1000)


def test_each_byte_boundary_of_a_mixed_stream() -> None:
    wire = (
        frame(0x1, b'{"a":1}')
        + frame(0x9, b"ping")
        + frame(0x2, b"\x00" * 300)
        + frame(0x1, b"x" * 70000)
        + frame(0x1, b"frag", fin=False)
        + frame(0xA, b"")
        + frame(0x0, b"ment")
        + frame(0x1, b"last")
        + close_frame(1000, b"done")
        + frame(0x1, b"after the close")
    )
    whole = _compare(wire, [])
    assert [m for m, _ in whole.messages] == [
        b'{"a":1}',
        b"\x00" * 300,
        b"x" * 70000,
        b"fragment",
        b"last",
    ]
    assert whole.written == [("PONG", b"ping", True), ("CLOSE", b"\x03\xe8done", True)]
    for cut in range(1, 40):
        _compare(wire, [cut])
    for cut in range(len(wire) - 80, len(wire)):
        _compare(wire, [cut])
    _compare(wire, list(range(0, len(wire), 7)))


def test_views_stay_valid_after_later_reads() -> None:
    async def main() -> None:
        parts = [frame(0x1, bytes([65 + i]) * 100) for i in range(20)]
        stream = ScriptedStream(_split(b"".join(parts), list(range(0, 2100, 333))))
        engine = WebSocketEngine(ClientProtocol(parse_uri("ws://test/"), state=State.OPEN), stream)
        kept = [await engine.receive_message() for _ in range(20)]
        assert [bytes(m.data) for m in kept] == [bytes([65 + i]) * 100 for i in range(20)]

    for backend in BACKENDS:
        anyio.run(main, backend=backend)


# -- the opening handshake -----------------------------------------------------------------------


def _accept(request: bytes, extra: str = "") -> bytes:
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID.encode()).digest()).decode()
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
    ).encode()


class HandshakeStream(ScriptedStream):
    """Answers the client's request with ``respond(request) + after``, split at ``cuts``."""

    def __init__(self, after: bytes, cuts: Sequence[int], extra: str = "") -> None:
        super().__init__([])
        self.after = after
        self.cuts = cuts
        self.head_lines = extra

    async def send(self, item: bytes) -> None:
        if not self.sent:
            wire = _accept(bytes(item), self.head_lines) + self.after
            self.chunks = _split(wire, self.cuts)
        await super().send(item)


async def _handshake_run(
    after: bytes, cuts: Sequence[int], fast: bool, extensions: bool = False, extra: str = ""
) -> tuple[Outcome, str]:
    stream = HandshakeStream(after, cuts, extra)
    factories = [ClientPerMessageDeflateFactory()] if extensions else None
    protocol = ClientProtocol(parse_uri("ws://test/"), extensions=factories)
    engine = WebSocketEngine(protocol, stream, fast_framing=fast)
    protocol.send_request(protocol.connect())
    await engine.flush()
    with anyio.fail_after(5):
        response = await engine.receive_handshake()
    assert isinstance(response, Response)
    assert protocol.handshake_exc is None
    outcome = await _drive(engine, stream)
    return outcome, engine._route  # pyright: ignore[reportPrivateUsage]


@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_behind_the_101_in_any_split(backend: str) -> None:
    after = frame(0x1, b"hello") + frame(0x9, b"hi") + frame(0x1, b"x" * 200) + close_frame()
    for cuts in [[], [10], [100], [140], [150], *[[n] for n in range(155, 200)], [3, 50, 160]]:
        slow, _ = anyio.run(_handshake_run, after, cuts, False, backend=backend)
        fast, route = anyio.run(_handshake_run, after, cuts, True, backend=backend)
        assert fast == slow
        assert route == _PROTOCOL  # the close frame hands everything to the protocol
        assert [m for m, _ in fast.messages] == [b"hello", b"x" * 200]


@pytest.mark.parametrize("backend", BACKENDS)
def test_compression_leaves_everything_to_the_protocol(backend: str) -> None:
    after = frame(0x1, b"plain")  # an uncompressed frame is legal with the extension too
    extra = "Sec-WebSocket-Extensions: permessage-deflate\r\n"
    fast, route = anyio.run(_handshake_run, after, [], True, True, extra, backend=backend)
    slow, _ = anyio.run(_handshake_run, after, [], False, True, extra, backend=backend)
    assert route == _PROTOCOL
    assert fast == slow
    assert fast.messages == [(b"plain", True)]


def test_server_engines_leave_everything_to_the_protocol() -> None:
    engine = WebSocketEngine(ServerProtocol(), ScriptedStream([]))
    assert engine._route == _PROTOCOL  # pyright: ignore[reportPrivateUsage]
