"""pump_audio: exact chunks, drift-free pacing (trio MockClock), cancellation, a real connection."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from realtime_anyio import ConnectionClosed, open_realtime
from realtime_anyio.audio import PCMU, chunked, pump_audio, silence, tone
from realtime_anyio.events import InputAudioBufferAppend
from realtime_anyio.transport import ConnectRequest, memory_transport_pair

HELLO = json.dumps({"type": "session.created", "session": {"type": "realtime"}})


class _Buffer:
    def __init__(self) -> None:
        self.sent: list[tuple[float, int]] = []

    async def append(self, audio: bytes, /) -> None:
        self.sent.append((anyio.current_time(), len(audio)))
        await anyio.lowlevel.checkpoint()


class RecordingConn:
    """Stands in for a connection: records when each chunk was appended."""

    def __init__(self) -> None:
        self.input_audio_buffer = _Buffer()

    def send_nowait(self, event: InputAudioBufferAppend) -> None:
        self.input_audio_buffer.sent.append((anyio.current_time(), len(event.audio)))

    async def send(self, event: InputAudioBufferAppend) -> None:
        await self.input_audio_buffer.append(event.audio)


def run_virtual(fn: Any) -> None:
    trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def test_an_hour_of_audio_has_zero_drift() -> None:
    chunk = silence(0.1)

    def microphone_file() -> Iterator[bytes]:
        for _ in range(36_000):  # one hour of 100 ms chunks (20 ms: see the next test)
            yield chunk

    async def main() -> None:
        conn = RecordingConn()
        start = trio.current_time()
        result = await pump_audio(conn, microphone_file(), chunk_ms=100)  # pyright: ignore[reportArgumentType]
        sent = conn.input_audio_buffer.sent
        assert len(sent) == result.chunks == 36_000
        assert result.max_lateness == 0.0
        assert result.audio_ms == pytest.approx(3_600_000)
        # Chunk n left at start + n * 20 ms, to the float's precision, even the last one.
        worst = max(abs(t - (start + n * 0.1)) for n, (t, _) in enumerate(sent))
        assert worst < 1e-9
        assert {size for _, size in sent} == {4800}

    run_virtual(main)


def test_pacing_over_a_real_connection_in_virtual_time() -> None:
    async def main() -> None:
        client, peer = memory_transport_pair(max_buffer=4096)

        async def factory(request: ConnectRequest) -> Any:
            return client

        await peer.send_text(HELLO)
        got: list[tuple[float, int]] = []

        async def server() -> None:
            while True:
                try:
                    event = json.loads(await peer.receive())
                except ConnectionClosed:
                    return
                got.append((trio.current_time(), len(base64.b64decode(event["audio"]))))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(server)
            async with open_realtime(model="m", api_key="k", transport=factory) as conn:
                start = trio.current_time()
                result = await pump_audio(conn, tone(440, 60.0))  # one minute
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
        await peer.aclose()
        assert result.chunks == 3000 and result.max_lateness == 0.0
        assert [size for _, size in got] == [960] * 3000
        assert max(abs(t - (start + n * 0.02)) for n, (t, _) in enumerate(got)) < 1e-9

    run_virtual(main)


async def test_chunks_are_exact_and_whole_samples() -> None:
    pieces = [b"\x01" * 7, b"\x02" * 1000, b"\x03" * 3]  # 1010 bytes, odd-sized pieces

    async def source() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    out = [c async for c in chunked(source())]
    assert [len(c) for c in out] == [960, 50]
    assert b"".join(out) == b"".join(pieces)
    ulaw = [c async for c in chunked(b"\xff" * 401, format=PCMU)]
    assert [len(c) for c in ulaw] == [160, 160, 81]


async def test_cancelling_a_pump_leaves_whole_chunks_and_a_usable_connection() -> None:
    client, peer = memory_transport_pair(max_buffer=4096)

    async def factory(request: ConnectRequest) -> Any:
        return client

    await peer.send_text(HELLO)
    with anyio.fail_after(10):
        async with open_realtime(model="m", api_key="k", transport=factory) as conn:
            audio = tone(440, 0.02)
            with anyio.CancelScope() as scope:

                async def source() -> AsyncIterator[bytes]:
                    for index in range(250):
                        if index == 6:
                            scope.cancel()  # lands while the pump waits for chunk 6's time
                        yield audio

                await pump_audio(conn, source())
            await conn.input_audio_buffer.commit()
            sizes: list[int] = []
            while True:
                event = json.loads(await peer.receive())
                if event["type"] == "input_audio_buffer.commit":
                    break
                sizes.append(len(base64.b64decode(event["audio"])))
            assert sizes == [960] * 6
    await peer.aclose()


async def test_fast_pumping_without_pacing() -> None:
    conn = RecordingConn()
    with anyio.fail_after(5):
        result = await pump_audio(conn, tone(440, 10.0), realtime=False, chunk_ms=100)  # pyright: ignore[reportArgumentType]
    assert result.chunks == 100 and result.bytes == 480_000
