"""Connection benchmark: realtime_anyio (asyncio and trio) side by side with the official SDK.

Run by hand: ``.venv/bin/python benchmarks/bench_transport.py [--quick]``.

One loopback server runs in a separate process (raw sockets, pre-framed data, the ``websockets``
Sans-I/O server protocol to parse what clients send), so the clients do not share a GIL with it.
Every client talks to that same server in the same run; results are printed as a Markdown table
with ratios against the official SDK (``openai.AsyncOpenAI(...).realtime.connect``, asyncio).

Scenarios:

* receive: the server sends ``N`` ``response.output_audio.delta`` events of 100 ms of audio as
  fast as it can; the client receives and decodes each one (audio to bytes). Events per second,
  once with ``await conn.receive()`` per event (a checkpoint each) and once draining with
  ``conn.receive_nowait()`` (awaiting ``receive()`` only when nothing is buffered).
* burst send: the client sends ``N`` ``input_audio_buffer.append`` of 20 ms as fast as it can;
  the server acknowledges the last one. Appends per second.
* duplex: real-time pacing for a few seconds, 20 ms chunks both ways. CPU time of the client
  process per audio-second, and the p99 latency from the server's write to the client having
  the decoded event (the server stamps CLOCK_MONOTONIC into ``event_id``).
* close: the server streams deltas without pause; time for the client to leave its block, over
  plain TCP and over TLS (a ``trustme`` test CA; the official SDK is measured on plain TCP).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

# ---------------------------------------------------------------------------------------------
# The server (runs in a subprocess: ``bench_transport.py --serve``)
# ---------------------------------------------------------------------------------------------

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PCM_100MS = bytes(range(256)) * 18 + bytes(range(192))  # 4800 bytes: 100 ms of 24 kHz PCM16
PCM_20MS = PCM_100MS[:960]


def frame(payload: bytes, opcode: int = 1) -> bytes:
    """One unmasked server frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def delta(audio: bytes, event_id: str = "event_x") -> bytes:
    return json.dumps(
        {
            "type": "response.output_audio.delta",
            "event_id": event_id,
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "delta": base64.b64encode(audio).decode(),
        },
        separators=(",", ":"),
    ).encode()


HELLO = frame(
    json.dumps(
        {
            "type": "session.created",
            "event_id": "event_0",
            "session": {"type": "realtime", "id": "sess_1", "model": "m"},
        }
    ).encode()
)


class Peer:
    """One accepted connection: blocking socket, Sans-I/O parsing of client frames."""

    def __init__(self, sock: socket.socket) -> None:
        from websockets.protocol import State
        from websockets.server import ServerProtocol

        self.sock = sock
        self.lock = threading.Lock()
        self.protocol = ServerProtocol(max_size=None, state=State.OPEN)
        self.closed = threading.Event()
        self.text_frames = 0

    def send(self, data: bytes) -> None:
        with self.lock:
            self.sock.sendall(data)

    def pump(self, on_text: Callable[[int], None] | None = None) -> None:
        """Read client frames until the client closes; echo its close."""
        from websockets.frames import Frame, Opcode

        protocol = self.protocol
        try:
            while True:
                data = self.sock.recv(262144)
                if not data:
                    protocol.receive_eof()
                else:
                    protocol.receive_data(data)
                for event in protocol.events_received():
                    if not isinstance(event, Frame):
                        continue
                    if event.opcode is Opcode.TEXT:
                        self.text_frames += 1
                        if on_text is not None:
                            on_text(self.text_frames)
                    elif event.opcode is Opcode.CLOSE:
                        self.closed.set()
                out = [d for d in protocol.data_to_send() if d]
                if out:
                    self.send(b"".join(out))
                if self.closed.is_set() or not data:
                    break
        except OSError:
            pass
        finally:
            self.closed.set()
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()


def handshake(sock: socket.socket) -> dict[str, list[str]]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("no handshake")
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    accept = base64.b64encode(
        hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()
    ).decode()
    sock.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
    )
    return parse_qs(urlsplit(path).query)


_BLOBS: dict[int, bytes] = {}


def _recv_blob(n: int) -> bytes:
    """``n`` audio deltas, framed, built once per ``n`` (131 MB for 20,000: ~60 ms to build)."""
    blob = _BLOBS.get(n)
    if blob is None:
        blob = _BLOBS[n] = frame(delta(PCM_100MS)) * n
    return blob


def serve_connection(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    query = handshake(sock)
    mode = query["model"][0]
    n = int(query.get("n", ["0"])[0])
    peer = Peer(sock)
    if mode == "recv":
        # Built before the first event: the client's clock starts when it has that event, so
        # the server's own setup must not fall inside the measured window.
        blob = _recv_blob(n)
        peer.send(HELLO)
        threading.Thread(target=peer.send, args=(blob,), daemon=True).start()
        peer.pump()
        return
    peer.send(HELLO)
    if mode == "burst":
        ack = frame(json.dumps({"type": "input_audio_buffer.cleared"}).encode())

        def on_text(count: int) -> None:
            if count == n:
                peer.send(ack)

        peer.pump(on_text)
    elif mode == "duplex":
        seconds = float(query["seconds"][0])

        def write() -> None:
            start = time.monotonic()
            for i in range(int(seconds / 0.02)):
                target = start + i * 0.02
                pause = target - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                if peer.closed.is_set():
                    return
                peer.send(frame(delta(PCM_20MS, f"event_{time.monotonic_ns()}")))

        threading.Thread(target=write, daemon=True).start()
        peer.pump()
    elif mode == "stream":
        chunk = frame(delta(PCM_100MS)) * 20

        def write() -> None:
            try:
                while not peer.closed.is_set():
                    peer.send(chunk)
            except OSError:
                pass

        threading.Thread(target=write, daemon=True).start()
        peer.pump()


async def _tls_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """The ``stream`` scenario over TLS: deltas without pause until the client closes."""
    from websockets.frames import Frame, Opcode
    from websockets.protocol import State
    from websockets.server import ServerProtocol

    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)
    }
    accept = base64.b64encode(
        hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()
    ).decode()
    writer.write(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
        + HELLO
    )
    protocol = ServerProtocol(max_size=None, state=State.OPEN)
    closed = asyncio.Event()

    async def pump() -> None:
        while not closed.is_set():
            data = await reader.read(262144)
            if not data:
                protocol.receive_eof()
            else:
                protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                    closed.set()
            out = b"".join(protocol.data_to_send())
            if out:
                writer.write(out)
            if not data:
                closed.set()

    task = asyncio.create_task(pump())
    chunk = frame(delta(PCM_100MS)) * 20
    try:
        while not closed.is_set():
            writer.write(chunk)
            await writer.drain()
        await task
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        task.cancel()
        writer.close()


def _serve_tls(cert_file: str, key_file: str) -> None:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)

    async def run() -> None:
        server = await asyncio.start_server(_tls_stream, "127.0.0.1", 0, ssl=context)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(run())


def serve(tls: tuple[str, str] | None = None) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    if tls is not None:
        threading.Thread(target=_serve_tls, args=tls, daemon=True).start()
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(sock,), daemon=True).start()


# ---------------------------------------------------------------------------------------------
# The clients
# ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    receive_eps: float = 0.0
    drain_eps: float = 0.0
    send_eps: float = 0.0
    cpu_ms_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    #: Every latency sample of the run, so that percentiles can be taken over all runs.
    latencies: list[float] = field(default_factory=list[float])
    close_ms: float = 0.0
    tls_close_ms: float = 0.0


def best(results: list[Result]) -> Result:
    """Best throughput and CPU over the runs (the least disturbed run: on a shared machine
    other processes only ever slow a client down); for latency and close, the median over the
    runs (a p99 is the third-worst of a run's 250 samples: one disturbed run must not decide
    it, and pooling the samples lets it)."""

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    return Result(
        receive_eps=max(r.receive_eps for r in results),
        drain_eps=max(r.drain_eps for r in results),
        send_eps=max(r.send_eps for r in results),
        cpu_ms_per_s=min(r.cpu_ms_per_s for r in results),
        p50_ms=median([r.p50_ms for r in results]),
        p99_ms=median([r.p99_ms for r in results]),
        close_ms=median([r.close_ms for r in results]),
        tls_close_ms=median([r.tls_close_ms for r in results]),
        latencies=[sample for r in results for sample in r.latencies],
    )


def pump_time(anchor: float, i: int) -> float:
    """When the client sends its ``i``-th 20 ms append in the duplex scenario (``time.monotonic``).

    Half-way between two of the server's deltas (``anchor`` is the first one's send time, the
    same clock in both processes), for every client alike: left free, each client's audio
    pump lands at its own phase against the server's writes, and on a VM that phase alone
    moved a client's median latency by 0.3 ms from run to run (an idle vCPU wakes up slower
    than a busy one).
    """
    return anchor + 0.01 + i * 0.02


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def ours(
    base: str,
    n_recv: int,
    n_send: int,
    seconds: float,
    tls: tuple[str, str] | None = None,
    **options: Any,
) -> Result:
    import ssl

    import anyio

    from realtime_anyio import open_realtime

    result = Result()
    opts: dict[str, Any] = {"websocket_base_url": base, "api_key": "x", **options}

    async with open_realtime(model="recv", extra_query={"n": str(n_recv)}, **opts) as conn:
        await conn.receive()
        start = time.perf_counter()
        total = 0
        for _ in range(n_recv):
            event = await conn.receive()
            total += len(event.delta)  # type: ignore[union-attr]
        result.receive_eps = n_recv / (time.perf_counter() - start)
        assert total == n_recv * len(PCM_100MS)

    async with open_realtime(model="recv", extra_query={"n": str(n_recv)}, **opts) as conn:
        await conn.receive()
        start = time.perf_counter()
        total = 0
        for _ in range(n_recv):
            try:
                event = conn.receive_nowait()
            except anyio.WouldBlock:
                event = await conn.receive()
            total += len(event.delta)  # type: ignore[union-attr]
        result.drain_eps = n_recv / (time.perf_counter() - start)
        assert total == n_recv * len(PCM_100MS)

    async with open_realtime(model="burst", extra_query={"n": str(n_send)}, **opts) as conn:
        await conn.receive()
        append = conn.input_audio_buffer.append
        start = time.perf_counter()
        for _ in range(n_send):
            await append(PCM_20MS)
        await conn.receive()
        result.send_eps = n_send / (time.perf_counter() - start)

    async with open_realtime(model="duplex", extra_query={"seconds": str(seconds)}, **opts) as conn:
        await conn.receive()
        latencies: list[float] = []
        first = anyio.Event()
        anchor: list[float] = []

        async def pump() -> None:
            await first.wait()
            for i in range(int(seconds / 0.02)):
                await anyio.sleep(max(0.0, pump_time(anchor[0], i) - time.monotonic()))
                await conn.input_audio_buffer.append(PCM_20MS)

        cpu = time.process_time()
        async with anyio.create_task_group() as tg:
            tg.start_soon(pump)
            for _ in range(int(seconds / 0.02)):
                event = await conn.receive()
                pcm: Any = event.delta  # type: ignore[union-attr]
                assert len(pcm) == len(PCM_20MS)
                sent = int(event.event_id.split("_")[1])  # type: ignore[union-attr]
                latencies.append((time.monotonic_ns() - sent) / 1e6)
                if not anchor:
                    anchor.append(sent / 1e9)
                    first.set()
        result.cpu_ms_per_s = (time.process_time() - cpu) * 1000 / seconds
        result.p50_ms = percentile(latencies, 0.5)
        result.p99_ms = percentile(latencies, 0.99)
        result.latencies = latencies

    async with open_realtime(model="stream", **opts) as conn:
        for _ in range(200):
            await conn.receive()
        start = time.perf_counter()
    result.close_ms = (time.perf_counter() - start) * 1000

    if tls is not None and "transport" not in options:
        tls_base, ca_file = tls
        context = ssl.create_default_context(cafile=ca_file)
        async with open_realtime(
            model="stream", **{**opts, "websocket_base_url": tls_base}, ssl_context=context
        ) as conn:
            for _ in range(200):
                await conn.receive()
            start = time.perf_counter()
        result.tls_close_ms = (time.perf_counter() - start) * 1000
    return result


async def official(base: str, n_recv: int, n_send: int, seconds: float) -> Result:
    import openai

    client = openai.AsyncOpenAI(api_key="x", websocket_base_url=base)
    result = Result()
    b64_20ms = base64.b64encode(PCM_20MS).decode()

    async with client.realtime.connect(model="recv", extra_query={"n": str(n_recv)}) as conn:
        await conn.recv()
        start = time.perf_counter()
        total = 0
        for _ in range(n_recv):
            event: Any = await conn.recv()
            total += len(base64.b64decode(event.delta))
        result.receive_eps = n_recv / (time.perf_counter() - start)
        assert total == n_recv * len(PCM_100MS)

    async with client.realtime.connect(model="burst", extra_query={"n": str(n_send)}) as conn:
        await conn.recv()
        start = time.perf_counter()
        for _ in range(n_send):
            await conn.input_audio_buffer.append(audio=b64_20ms)
        await conn.recv()
        result.send_eps = n_send / (time.perf_counter() - start)

    async with client.realtime.connect(
        model="duplex", extra_query={"seconds": str(seconds)}
    ) as conn:
        await conn.recv()
        latencies: list[float] = []
        first = asyncio.Event()
        anchor: list[float] = []

        async def pump() -> None:
            await first.wait()
            for i in range(int(seconds / 0.02)):
                await asyncio.sleep(max(0.0, pump_time(anchor[0], i) - time.monotonic()))
                await conn.input_audio_buffer.append(audio=b64_20ms)

        cpu = time.process_time()
        task = asyncio.create_task(pump())
        for _ in range(int(seconds / 0.02)):
            event = await conn.recv()
            pcm = base64.b64decode(event.delta)
            assert len(pcm) == len(PCM_20MS)
            sent = int(event.event_id.split("_")[1])
            latencies.append((time.monotonic_ns() - sent) / 1e6)
            if not anchor:
                anchor.append(sent / 1e9)
                first.set()
        await task
        result.cpu_ms_per_s = (time.process_time() - cpu) * 1000 / seconds
        result.p50_ms = percentile(latencies, 0.5)
        result.p99_ms = percentile(latencies, 0.99)
        result.latencies = latencies

    start = time.perf_counter()
    async with client.realtime.connect(model="stream") as conn:
        for _ in range(200):
            await conn.recv()
        start = time.perf_counter()
    result.close_ms = (time.perf_counter() - start) * 1000
    await client.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cert", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument("--seconds", type=float, default=5.0, help="duplex duration")
    parser.add_argument("--repeat", type=int, default=5, help="runs per client (best is kept)")
    args = parser.parse_args()
    if args.serve:
        serve(tuple(args.cert) if args.cert else None)
        return

    import tempfile

    import anyio
    import trustme

    n_recv, n_send, seconds = (2000, 5000, 2.0) if args.quick else (20000, 50000, args.seconds)
    certs = tempfile.TemporaryDirectory()
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca_file = os.path.join(certs.name, "ca.pem")
    cert_file = os.path.join(certs.name, "cert.pem")
    key_file = os.path.join(certs.name, "key.pem")
    ca.cert_pem.write_to_path(ca_file)
    cert.cert_chain_pems[0].write_to_path(cert_file)
    cert.private_key_pem.write_to_path(key_file)
    server = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve", "--cert", cert_file, key_file],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        tls_port = int(server.stdout.readline())
        base = f"ws://127.0.0.1:{port}/v1"
        tls = (f"wss://127.0.0.1:{tls_port}/v1", ca_file)
        from realtime_anyio.transport import connect_trio_websocket

        clients: dict[str, Callable[[], Result]] = {
            "official SDK (asyncio)": lambda: asyncio.run(official(base, n_recv, n_send, seconds)),
            "realtime_anyio (asyncio)": lambda: anyio.run(
                ours, base, n_recv, n_send, seconds, tls, backend="asyncio"
            ),
            "realtime_anyio (trio)": lambda: anyio.run(
                ours, base, n_recv, n_send, seconds, tls, backend="trio"
            ),
            "realtime_anyio (trio-websocket)": lambda: anyio.run(
                lambda: ours(base, n_recv, n_send, seconds, transport=connect_trio_websocket),
                backend="trio",
            ),
        }
        runs: dict[str, list[Result]] = {name: [] for name in clients}
        # Interleave the clients so that background load hits them alike.
        for round_ in range(args.repeat):
            for name, run in clients.items():
                result = run()
                runs[name].append(result)
                print(
                    f"round {round_ + 1}: {name}: receive {result.receive_eps:,.0f}/s, "
                    f"drain {result.drain_eps:,.0f}/s, "
                    f"burst {result.send_eps:,.0f}/s, CPU {result.cpu_ms_per_s:.1f} ms/s, "
                    f"p99 {result.p99_ms:.2f} ms, close {result.close_ms:,.1f} ms, "
                    f"TLS close {result.tls_close_ms:,.1f} ms",
                    file=sys.stderr,
                )
        rows = {name: best(results) for name, results in runs.items()}
    finally:
        server.kill()
        server.wait()
        certs.cleanup()
    ref = rows["official SDK (asyncio)"]
    load = os.getloadavg()[0]
    print(
        f"\nreceive: {n_recv} x 100 ms deltas; burst: {n_send} x 20 ms appends; "
        f"duplex: {seconds:g} s of 20 ms chunks both ways at real-time pacing. "
        f"{args.repeat} interleaved runs per client: best throughput and CPU, median over "
        f"the runs for latency percentiles and close. Python "
        f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, load {load:.2f}.\n"
    )
    print(
        "| client | receive (events/s) | drain with receive_nowait (events/s) "
        "| burst send (appends/s) | duplex CPU (ms per audio-s) "
        "| latency p50 / p99 (ms) | close while streaming, plain / TLS (ms) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, r in rows.items():
        drain = "-" if r is ref else f"{r.drain_eps:,.0f} ({r.drain_eps / ref.receive_eps:.1f}x)"
        tls_close = f"{r.tls_close_ms:,.1f}" if r.tls_close_ms else "-"
        print(
            f"| {name} | {r.receive_eps:,.0f} ({r.receive_eps / ref.receive_eps:.1f}x) "
            f"| {drain} "
            f"| {r.send_eps:,.0f} ({r.send_eps / ref.send_eps:.1f}x) "
            f"| {r.cpu_ms_per_s:.1f} ({r.cpu_ms_per_s / ref.cpu_ms_per_s:.2f}x) "
            f"| {r.p50_ms:.2f} / {r.p99_ms:.2f} "
            f"| {r.close_ms:,.1f} / {tls_close} |"
        )
    print("\nTargets (issue 10), each against the official SDK in this run:")
    for name, r in rows.items():
        if r is ref:
            continue
        checks = [
            ("receive >= 5x", r.receive_eps >= 5 * ref.receive_eps),
            ("drain >= 7x", r.drain_eps >= 7 * ref.receive_eps),
            ("burst >= 20x", r.send_eps >= 20 * ref.send_eps),
            ("CPU <= 0.65x", r.cpu_ms_per_s <= 0.65 * ref.cpu_ms_per_s),
            ("close < 50 ms", r.close_ms < 50),
            ("TLS close < 50 ms", r.tls_close_ms < 50 if r.tls_close_ms else True),
        ]
        marks = ", ".join(f"{label} {'yes' if ok else 'NO'}" for label, ok in checks)
        print(f"- {name}: {marks}")


if __name__ == "__main__":
    main()
