"""The design's floor: what the connection's shape costs with no library code in it.

Run by hand: ``.venv/bin/python benchmarks/bench_floor.py [--quick]``.

The "floor" client is the smallest program with the shape ``../shared/DESIGN.md`` prescribes
(anyio only, public APIs only, every ``await`` on the send side a checkpoint):

* a sender ``await``-s each event into a bounded anyio memory object stream;
* a writer task drains that stream, frames the events with the ``websockets`` Sans-I/O
  protocol (client frames are masked) and writes them with one ``anyio`` socket stream send;
* a reader task reads the socket, cuts the server's frames out of each read, decodes each one
  with a prebuilt msgspec decoder (audio to ``bytes``) and sends it into a second bounded
  memory object stream, which the consumer reads with ``async for``.

It has none of the library's work: no close handshake, keepalive, error mapping, statistics,
correlation, event validation or size limits. So it is a floor, not a rival: when the library
runs as fast as the floor, the remaining distance to a target is the shape's, not the code's.

For the sessions count there is one more reference, a shape the design rules out: an
``asyncio.Protocol`` (asyncio only) whose ``data_received`` cuts and decodes frames and wakes the
consumer, with sends written straight to the transport: no reader or writer task, no memory
streams, no checkpoint per send.

Against one ``bench_transport.py --serve`` server in another process, side by side:

* burst: ``N`` ``input_audio_buffer.append`` events of 20 ms as fast as the client can send
  them (the server acknowledges the last one). Appends per second.
* duplex CPU: one session, 20 ms chunks both ways at real-time pacing; CPU time of the client
  process per audio-second. As in ``bench_transport.py``, every client's pump sends half-way
  between two of the server's deltas (the phase decides how often a process wakes up).
* scale: the largest number of bare sessions one process keeps in real time (a paced append
  every 20 ms, a 20 ms delta received and decoded every 20 ms; p99 send lateness and receive
  latency both under 20 ms). The library's sessions use ``open_realtime`` with the same two
  loops; the official SDK's are ``bench_audio.official_session``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import msgspec

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_audio  # noqa: E402
import bench_transport  # noqa: E402
from bench_audio import PCM_20MS, Stats  # noqa: E402


class _Delta(msgspec.Struct, tag_field="type", tag="response.output_audio.delta"):
    event_id: str
    delta: bytes
    response_id: str = ""
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0


class _Created(msgspec.Struct, tag_field="type", tag="session.created"):
    session: dict[str, Any] = {}


class _Cleared(msgspec.Struct, tag_field="type", tag="input_audio_buffer.cleared"):
    pass


class _Append(msgspec.Struct, tag_field="type", tag="input_audio_buffer.append"):
    audio: bytes
    event_id: str


_decode = msgspec.json.Decoder(_Delta | _Created | _Cleared).decode
_encode = msgspec.json.Encoder().encode


class FloorConnection:
    """The design's shape and nothing else (see the module docstring)."""

    def __init__(self, stream: Any, leftover: bytes) -> None:
        from websockets.client import ClientProtocol
        from websockets.protocol import State
        from websockets.uri import parse_uri

        self.stream = stream
        self.leftover = leftover
        self.protocol = ClientProtocol(parse_uri("ws://127.0.0.1/"), state=State.OPEN)
        self.outbox, self.outgoing = anyio.create_memory_object_stream[bytes](64)
        self.incoming, self.inbox = anyio.create_memory_object_stream[Any](64)
        self.count = 0

    async def send(self, pcm: bytes) -> None:
        self.count += 1
        await self.outbox.send(_encode(_Append(pcm, f"evt_{self.count}")))

    async def writer(self) -> None:
        protocol, outgoing, stream = self.protocol, self.outgoing, self.stream
        async for data in outgoing:
            protocol.send_text(data)
            while True:
                try:
                    protocol.send_text(outgoing.receive_nowait())
                except anyio.WouldBlock:
                    break
            await stream.send(b"".join(protocol.data_to_send()))

    async def reader(self) -> None:
        rest, stream, found = self.leftover, self.stream, list[bytes]()
        while True:  # the upgrade's read may already hold the first frames
            rest = _cut_frames(rest, found.append)
            for payload in found:
                await self.incoming.send(_decode(payload))
            found.clear()
            rest += await stream.receive()


def _upgrade(query: str) -> bytes:
    return (
        f"GET /v1/realtime?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def floor_open(port: int, query: str) -> FloorConnection:
    stream = await anyio.connect_tcp("127.0.0.1", port)
    await stream.send(_upgrade(query))
    head = b""
    while b"\r\n\r\n" not in head:
        head += await stream.receive()
    return FloorConnection(stream, head.split(b"\r\n\r\n", 1)[1])


# -- burst --------------------------------------------------------------------------------------


async def floor_burst(port: int, n: int) -> float:
    conn = await floor_open(port, f"model=burst&n={n}")
    rate = 0.0
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.writer)
        tg.start_soon(conn.reader)
        with anyio.fail_after(60):  # a stuck run fails instead of hanging the benchmark
            assert isinstance(await conn.inbox.receive(), _Created)
            start = time.perf_counter()
            for _ in range(n):
                await conn.send(PCM_20MS)
            assert isinstance(await conn.inbox.receive(), _Cleared)
        rate = n / (time.perf_counter() - start)
        tg.cancel_scope.cancel()
    await conn.stream.aclose()
    return rate


async def ours_burst(base: str, n: int) -> float:
    from realtime_anyio import open_realtime

    query = {"n": str(n)}
    async with open_realtime(
        model="burst", websocket_base_url=base, api_key="x", extra_query=query
    ) as conn:
        await conn.receive()
        append = conn.input_audio_buffer.append
        start = time.perf_counter()
        for _ in range(n):
            await append(PCM_20MS)
        await conn.receive()
        rate = n / (time.perf_counter() - start)
    return rate


async def official_burst(base: str, n: int) -> float:
    import base64

    import openai

    client = openai.AsyncOpenAI(api_key="x", websocket_base_url=base)
    audio = base64.b64encode(PCM_20MS).decode()
    async with client.realtime.connect(model="burst", extra_query={"n": str(n)}) as conn:
        await conn.recv()
        start = time.perf_counter()
        for _ in range(n):
            await conn.input_audio_buffer.append(audio=audio)
        await conn.recv()
        rate = n / (time.perf_counter() - start)
    await client.close()
    return rate


def _run(kind: str, base: str, port: int, arg: float, clients: tuple[Any, Any, Any]) -> float:
    """Run the ``kind`` client of ``clients`` (official, floor, ours) with ``arg``."""
    official, floor, ours = clients
    family, _, backend = kind.partition(":")
    if family == "official":
        return asyncio.run(official(base, arg))
    if family == "floor":
        return anyio.run(floor, port, arg, backend=backend)
    return anyio.run(ours, base, arg, backend=backend)


def burst(kind: str, base: str, port: int, n: int) -> float:
    return _run(kind, base, port, n, (official_burst, floor_burst, ours_burst))


# -- duplex CPU ---------------------------------------------------------------------------------


class _Paced:
    """The duplex scenario's clock: the pump starts at the first delta, then sends half-way
    between two deltas (``bench_transport.pump_time``)."""

    def __init__(self, seconds: float) -> None:
        self.ticks = int(seconds / 0.02)
        self.anchor = 0.0
        self.cpu = 0.0

    def first_delta(self, event_id: str) -> None:
        self.anchor = bench_audio.stamp_ns(event_id) / 1e9
        self.cpu = time.process_time()

    def due(self, i: int) -> float:
        return max(0.0, bench_transport.pump_time(self.anchor, i) - time.monotonic())

    def result(self, seconds: float) -> float:
        return (time.process_time() - self.cpu) * 1000 / seconds


async def floor_duplex(port: int, seconds: float) -> float:
    paced = _Paced(seconds)
    cpu = 0.0
    conn = await floor_open(port, f"model=duplex&seconds={seconds}")
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.writer)
        tg.start_soon(conn.reader)
        assert isinstance(await conn.inbox.receive(), _Created)
        first = anyio.Event()

        async def pump() -> None:
            await first.wait()
            for i in range(paced.ticks):
                await anyio.sleep(paced.due(i))
                await conn.send(PCM_20MS)

        tg.start_soon(pump)
        for i in range(paced.ticks):
            event = await conn.inbox.receive()
            if i == 0:
                paced.first_delta(event.event_id)
                first.set()
        cpu = paced.result(seconds)
        tg.cancel_scope.cancel()
    await conn.stream.aclose()
    return cpu


async def ours_duplex(base: str, seconds: float) -> float:
    from realtime_anyio.events import ResponseOutputAudioDelta

    paced = _Paced(seconds)
    async with bench_audio.open_duplex(base, seconds) as conn:
        await conn.receive()
        first = anyio.Event()

        async def pump() -> None:
            await first.wait()
            for i in range(paced.ticks):
                await anyio.sleep(paced.due(i))
                await conn.input_audio_buffer.append(PCM_20MS)

        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            for i in range(paced.ticks):
                event = await conn.receive()
                assert isinstance(event, ResponseOutputAudioDelta)
                if i == 0:
                    paced.first_delta(str(event.event_id))
                    first.set()
        cpu = paced.result(seconds)  # before the close
    return cpu


async def official_duplex(base: str, seconds: float) -> float:
    import base64

    import openai

    paced = _Paced(seconds)
    client = openai.AsyncOpenAI(api_key="x", websocket_base_url=base)
    audio = base64.b64encode(PCM_20MS).decode()
    async with client.realtime.connect(
        model="duplex", extra_query={"seconds": str(seconds)}
    ) as conn:
        await conn.recv()
        first = asyncio.Event()

        async def pump() -> None:
            await first.wait()
            for i in range(paced.ticks):
                await asyncio.sleep(paced.due(i))
                await conn.input_audio_buffer.append(audio=audio)

        task = asyncio.create_task(pump())
        for i in range(paced.ticks):
            event: Any = await conn.recv()
            base64.b64decode(event.delta)
            if i == 0:
                paced.first_delta(event.event_id)
                first.set()
        await task
        cpu = paced.result(seconds)  # before the close
    await client.close()
    return cpu


def duplex(kind: str, base: str, port: int, seconds: float) -> float:
    return _run(kind, base, port, seconds, (official_duplex, floor_duplex, ours_duplex))


# -- bare sessions ------------------------------------------------------------------------------


async def floor_session(port: int, seconds: float, stats: Stats) -> None:
    n = int(seconds / 0.02)
    conn = await floor_open(port, f"model=duplex&seconds={seconds}")
    async with anyio.create_task_group() as tg:
        tg.start_soon(conn.writer)
        tg.start_soon(conn.reader)

        async def pump() -> None:
            start, due = time.monotonic(), anyio.current_time()
            for i in range(n):
                await anyio.sleep_until(due + i * 0.02)
                stats.send(i, start)
                await conn.send(PCM_20MS)

        tg.start_soon(pump)
        got = 0
        async for event in conn.inbox:
            if isinstance(event, _Delta):
                stats.receive(got, event.event_id)
                got += 1
                if got == n:
                    break
        tg.cancel_scope.cancel()
    await conn.stream.aclose()


async def bare_session(base: str, seconds: float, stats: Stats) -> None:
    from realtime_anyio.events import ResponseOutputAudioDelta

    n = int(seconds / 0.02)
    async with bench_audio.open_duplex(base, seconds) as conn, anyio.create_task_group() as tg:

        async def pump() -> None:
            start, due = time.monotonic(), anyio.current_time()
            for i in range(n):
                await anyio.sleep_until(due + i * 0.02)
                stats.send(i, start)
                await conn.input_audio_buffer.append(PCM_20MS)

        tg.start_soon(pump)
        got = 0
        async for event in conn:
            if isinstance(event, ResponseOutputAudioDelta):
                stats.receive(got, str(event.event_id))
                got += 1
                if got == n:
                    break
        tg.cancel_scope.cancel()


def _cut_frames(data: bytes, found: Callable[[bytes], object]) -> bytes:
    """Pass each complete (unmasked, unfragmented) server frame's payload to ``found``; return
    the incomplete rest."""
    while len(data) >= 2:
        size, start = data[1] & 0x7F, 2
        if size == 126:
            if len(data) < 4:
                break
            (size,), start = struct.unpack_from("!H", data, 2), 4
        elif size == 127:
            if len(data) < 10:
                break
            (size,), start = struct.unpack_from("!Q", data, 2), 10
        end = start + size
        if len(data) < end:
            break
        found(data[start:end])
        data = data[end:]
    return data


class _ProtocolShape(asyncio.Protocol):
    """Outside the design: frames are cut and decoded in ``data_received``, no tasks."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.rest = b""
        self.upgraded = False
        self.events: deque[Any] = deque()
        self.waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        data = self.rest + data
        if not self.upgraded:
            if b"\r\n\r\n" not in data:
                self.rest = data
                return
            data = data.split(b"\r\n\r\n", 1)[1]
            self.upgraded = True
            self.events.append(None)
        self.rest = _cut_frames(data, lambda payload: self.events.append(_decode(payload)))
        if self.events and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def receive(self) -> Any:
        while not self.events:
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
        return self.events.popleft()


async def protocol_session(port: int, seconds: float, stats: Stats) -> None:
    from websockets.client import ClientProtocol
    from websockets.protocol import State
    from websockets.uri import parse_uri

    loop = asyncio.get_running_loop()
    transport, shape = await loop.create_connection(_ProtocolShape, "127.0.0.1", port)
    transport.write(_upgrade(f"model=duplex&seconds={seconds}"))
    assert await shape.receive() is None  # the upgrade's response
    framer = ClientProtocol(parse_uri("ws://127.0.0.1/"), state=State.OPEN)
    n = int(seconds / 0.02)

    async def pump() -> None:
        start = time.monotonic()
        for i in range(n):
            await asyncio.sleep(max(0.0, start + i * 0.02 - time.monotonic()))
            stats.send(i, start)
            framer.send_text(_encode(_Append(PCM_20MS, f"evt_{i}")))
            transport.write(b"".join(framer.data_to_send()))

    task = asyncio.create_task(pump())
    got = 0
    while got < n:
        event = await shape.receive()
        if isinstance(event, _Delta):
            stats.receive(got, event.event_id)
            got += 1
    await task
    transport.close()


def run_sessions(kind: str, base: str, count: int, seconds: float) -> Stats:
    """``count`` concurrent bare sessions of ``kind`` in this process (after a short warm-up)."""
    family, _, backend = kind.partition(":")
    port = int(base.rsplit(":", 1)[1].split("/")[0])

    def once(count: int, seconds: float, stats: Stats) -> None:
        if family == "official":

            async def main_official() -> None:
                session = bench_audio.official_session
                await asyncio.gather(*(session(base, seconds, stats) for _ in range(count)))

            asyncio.run(main_official())
            return
        if family == "protocol":

            async def main_protocol() -> None:
                await asyncio.gather(
                    *(protocol_session(port, seconds, stats) for _ in range(count))
                )

            asyncio.run(main_protocol())
            return

        async def main() -> None:
            async with anyio.create_task_group() as tg:
                for _ in range(count):
                    if family == "floor":
                        tg.start_soon(floor_session, port, seconds, stats)
                    else:
                        tg.start_soon(bare_session, base, seconds, stats)

        anyio.run(main, backend=backend)

    once(1, 0.2, Stats())
    stats = Stats()
    once(count, seconds, stats)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="smaller runs, no scale search")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per client (best kept)")
    args = parser.parse_args()
    if args.child:
        kind, base, count, seconds = args.child
        print(*run_sessions(kind, base, int(count), float(seconds)).p99(), 0.0)
        return

    kinds = ["official", "ours:asyncio", "floor:asyncio", "ours:trio", "floor:trio"]
    names = {
        "official": "official SDK (asyncio)",
        "ours:asyncio": "realtime_anyio (asyncio)",
        "floor:asyncio": "the design's floor (asyncio)",
        "ours:trio": "realtime_anyio (trio)",
        "floor:trio": "the design's floor (trio)",
        "protocol": "asyncio.Protocol, no tasks (outside the design)",
    }
    server = subprocess.Popen(
        [sys.executable, str(HERE / "bench_transport.py"), "--serve"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        base = f"ws://127.0.0.1:{port}/v1"
        n = 3000 if args.quick else 30000
        seconds = 2.0 if args.quick else 5.0
        rates: dict[str, list[float]] = {kind: [] for kind in kinds}
        cpus: dict[str, list[float]] = {kind: [] for kind in kinds}
        for kind in kinds:  # warm-up: first-use costs are not per-event work
            burst(kind, base, port, 500)
        for round_ in range(args.repeat):  # interleaved, so that background load hits all alike
            for kind in kinds:
                rate = burst(kind, base, port, n // 10 if kind == "official" else n)
                cpu = duplex(kind, base, port, seconds)
                rates[kind].append(rate)
                cpus[kind].append(cpu)
                print(
                    f"round {round_ + 1}: {kind}: burst {rate:,.0f}/s, duplex {cpu:.1f} ms/s",
                    file=sys.stderr,
                )
        counts: dict[str, int] = {}
        if not args.quick:
            probe = functools.partial(bench_audio.in_subprocess, script=__file__)
            for kind in [*kinds, "protocol"]:
                counts[kind] = bench_audio.max_sessions(
                    kind, base, 3.0, start=8, cap=512, probe=probe
                )
    finally:
        server.kill()
        server.wait()
    ref = max(rates["official"])
    ref_cpu = min(cpus["official"])
    print(
        f"\nburst: {n:,} x 20 ms appends (official SDK: {n // 10:,}); duplex: {seconds:g} s; "
        f"best of {args.repeat} interleaved runs"
    )
    header = "| client | burst send (appends/s) | duplex CPU (ms per audio-s) |"
    rule = "| --- | --- | --- |"
    if counts:
        header += " bare sessions kept in real time |"
        rule += " --- |"
    print(header)
    print(rule)
    for kind in [*kinds, *(["protocol"] if counts else [])]:
        rate = max(rates.get(kind, [0.0]))
        cpu = min(cpus.get(kind, [0.0]))
        row = (
            f"| {names[kind]} | {f'{rate:,.0f} ({rate / ref:.1f}x)' if rate else '-'} "
            f"| {f'{cpu:.1f} ({cpu / ref_cpu:.2f}x)' if cpu else '-'} |"
        )
        if counts:
            row += f" {counts[kind]} ({counts[kind] / max(1, counts['official']):.1f}x) |"
        print(row)
    print(
        f"\nPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.2f} (a shared machine: rerun for stable numbers)."
    )


if __name__ == "__main__":
    main()
