"""Audio benchmark: conversions, and full-duplex voice sessions with the pumps and the player,
side by side with the official SDK doing the same work the way a user would write it.

Run by hand: ``.venv/bin/python benchmarks/bench_audio.py [--quick]``.

The server is ``bench_transport.py --serve`` in a separate process (no shared GIL): in its
duplex mode it sends a 20 ms ``response.output_audio.delta`` every 20 ms, stamped with its
CLOCK_MONOTONIC time, and reads what the client appends.

* conversions: multiples of real time for 20 ms chunks (G.711 both ways, resampling with each
  engine).
* one session: CPU of the client process per second of full-duplex audio (24 kHz both ways,
  20 ms chunks): ours = ``pump_audio`` + ``AudioPlayer`` into a ``VirtualSpeaker`` + the app's
  own ``async for`` loop (``:fed``: that loop feeds the player instead of a subscription);
  the official SDK = a paced append task (base64 by hand) + a ``recv``
  loop that decodes each delta and queues it for a speaker.
* scale: the largest number of such sessions one process keeps in real time (p99 send lateness
  and p99 receive latency both under 20 ms), found by doubling then bisecting.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import functools
import os
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PCM_20MS = (bytes(range(256)) * 18 + bytes(range(192)))[:960]
LIMIT_MS = 20.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# -- conversions ----------------------------------------------------------------------------


def conversions() -> list[tuple[str, float]]:
    from realtime_anyio.audio import (
        Resampler,
        pcm16_to_alaw,
        pcm16_to_ulaw,
        soxr_available,
        speech,
        ulaw_to_pcm16,
    )

    rows: list[tuple[str, float]] = []
    pcm24 = speech("A few seconds of speech to convert, chunk by chunk, twenty milliseconds each.")
    pcm8 = pcm24[: len(pcm24) // 3 // 2 * 2]
    chunks8 = [pcm8[i : i + 320] for i in range(0, len(pcm8), 320)]
    ulaw = pcm16_to_ulaw(pcm8)
    uchunks = [ulaw[i : i + 160] for i in range(0, len(ulaw), 160)]

    def timed(label: str, audio_seconds: float, fn: Callable[[], object]) -> None:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        rows.append((label, audio_seconds / best))

    # pcm8 holds a third of the samples, played at a third of the rate: as many seconds.
    seconds8 = len(pcm8) / 2 / 8000
    timed("PCM16 -> µ-law (8 kHz)", seconds8, lambda: [pcm16_to_ulaw(c) for c in chunks8])
    timed("PCM16 -> A-law (8 kHz)", seconds8, lambda: [pcm16_to_alaw(c) for c in chunks8])
    timed("µ-law -> PCM16 (8 kHz)", seconds8, lambda: [ulaw_to_pcm16(c) for c in uchunks])
    engines = ["python", *(["soxr"] if soxr_available() else [])]
    for engine in engines:
        for src, dst in ((24000, 8000), (8000, 24000), (48000, 24000), (24000, 16000)):
            data = pcm24 if src == 24000 else (pcm8 if src == 8000 else pcm24 + pcm24)
            size = src // 50 * 2
            pieces = [data[i : i + size] for i in range(0, len(data), size)]
            audio_s = len(data) / 2 / src

            def run(
                pieces: list[bytes] = pieces, src: int = src, dst: int = dst, engine: str = engine
            ) -> None:
                resampler = Resampler(src, dst, engine=engine)  # type: ignore[arg-type]
                for piece in pieces:
                    resampler.process(piece)
                resampler.flush()

            timed(f"resample {src} -> {dst} ({engine})", audio_s, run)
    return rows


# -- sessions -------------------------------------------------------------------------------


#: Ticks at the start of each session left out of the percentiles: N sessions connecting at
#: once is a start-up burst, not the steady state being measured.
SETTLE = 25


@dataclass
class Stats:
    send_late: list[float] = field(default_factory=list[float])
    receive_late: list[float] = field(default_factory=list[float])

    def p99(self) -> tuple[float, float]:
        return percentile(self.send_late, 0.99), percentile(self.receive_late, 0.99)

    def send(self, index: int, start: float) -> None:
        """The ``index``-th 20 ms send of a pump that started at ``start`` (``time.monotonic``)
        happens now: record how late it is."""
        if index >= SETTLE:
            self.send_late.append((time.monotonic() - start - index * 0.02) * 1000)

    def receive(self, index: int, event_id: str) -> None:
        """The ``index``-th delta arrived now: record its latency from the server's stamp."""
        if index >= SETTLE:
            self.receive_late.append((time.monotonic_ns() - stamp_ns(event_id)) / 1e6)


def stamp_ns(event_id: str) -> int:
    """When the server sent a duplex delta (its ``event_id`` is ``event_<CLOCK_MONOTONIC ns>``)."""
    return int(event_id.split("_")[1])


def open_duplex(base: str, seconds: float) -> Any:
    """``open_realtime`` on the benchmark server's duplex scenario for ``seconds``."""
    from realtime_anyio import open_realtime

    query = {"seconds": str(seconds)}
    return open_realtime(model="duplex", websocket_base_url=base, api_key="x", extra_query=query)


async def ours_session(base: str, seconds: float, stats: Stats, feed: bool = False) -> None:
    import anyio

    from realtime_anyio.audio import AudioPlayer, VirtualSpeaker, pump_audio
    from realtime_anyio.events import ResponseOutputAudioDelta

    n = int(seconds / 0.02)
    async with open_duplex(base, seconds) as conn, anyio.create_task_group() as tg:
        player = AudioPlayer(VirtualSpeaker(buffer_ms=200))
        await tg.start(functools.partial(player.run, conn, feed=feed))

        class Timed:  # records each append's lateness against its due time
            def __init__(self) -> None:
                self.start: float | None = None
                self.count = 0

            def _stamp(self) -> None:
                if self.start is None:
                    self.start = time.monotonic()
                stats.send(self.count, self.start)
                self.count += 1

            def send_nowait(self, event: Any) -> None:
                conn.send_nowait(event)
                self._stamp()

            async def send(self, event: Any) -> None:
                self._stamp()
                await conn.send(event)

        Proxy = Timed
        tg.start_soon(pump_audio, Proxy(), PCM_20MS * n)  # type: ignore[arg-type]
        got = 0
        async for event in conn:
            if feed:
                player.feed(event)
            if isinstance(event, ResponseOutputAudioDelta):
                stats.receive(got, str(event.event_id))
                got += 1
                if got == n:
                    break
        tg.cancel_scope.cancel()


async def official_session(base: str, seconds: float, stats: Stats) -> None:
    import openai

    client = openai.AsyncOpenAI(api_key="x", websocket_base_url=base)
    n = int(seconds / 0.02)
    speaker: deque[bytes] = deque(maxlen=500)
    async with client.realtime.connect(
        model="duplex", extra_query={"seconds": str(seconds)}
    ) as conn:

        async def pump() -> None:
            start = time.monotonic()
            for i in range(n):
                await asyncio.sleep(max(0.0, start + i * 0.02 - time.monotonic()))
                stats.send(i, start)
                await conn.input_audio_buffer.append(audio=base64.b64encode(PCM_20MS).decode())

        task = asyncio.create_task(pump())
        got = 0
        async for event in conn:
            if event.type == "response.output_audio.delta":
                speaker.append(base64.b64decode(event.delta))
                stats.receive(got, str(event.event_id))
                got += 1
                if got == n:
                    break
        await task
    await client.close()


def run_sessions(kind: str, base: str, count: int, seconds: float) -> tuple[Stats, float]:
    """``count`` concurrent sessions in this process; returns the stats and CPU ms per second."""
    stats = Stats()
    # Imports and first-use set-up are not the session's work: done before the clock starts.
    import anyio
    import openai  # noqa: F401

    import realtime_anyio.audio
    import realtime_anyio.events  # noqa: F401

    # One short session first: first-use costs (decoders, validators) are not per-session work.
    warm = Stats()
    if kind == "official":
        asyncio.run(official_session(base, 0.2, warm))
    else:
        anyio.run(ours_session, base, 0.2, warm, backend=kind.partition("+")[0].split(":")[0])
    cpu = time.process_time()
    if kind == "official":

        async def main_official() -> None:
            await asyncio.gather(*(official_session(base, seconds, stats) for _ in range(count)))

        asyncio.run(main_official())
    else:
        name, _, mode = kind.partition(":")
        backend, _, loop = name.partition("+")
        feed = mode == "fed"

        async def main_ours() -> None:
            async with anyio.create_task_group() as tg:
                for _ in range(count):
                    tg.start_soon(ours_session, base, seconds, stats, feed)

        options: dict[str, Any] = {"use_uvloop": True} if loop == "uvloop" else {}
        anyio.run(main_ours, backend=backend, backend_options=options)
    return stats, (time.process_time() - cpu) * 1000 / seconds / count


def in_subprocess(
    kind: str, base: str, count: int, seconds: float, script: str = __file__
) -> tuple[float, float, float]:
    """Runs ``script``'s ``run_sessions`` in a fresh process (no state carried between
    measurements): p99 send lateness, p99 receive latency, CPU ms per second per session."""
    out = subprocess.run(
        [sys.executable, script, "--child", kind, base, str(count), str(seconds)],
        capture_output=True,
        text=True,
        check=True,
    )
    send, receive, cpu = map(float, out.stdout.split())
    return send, receive, cpu


def max_sessions(
    kind: str,
    base: str,
    seconds: float,
    start: int,
    cap: int,
    probe: Callable[[str, str, int, float], tuple[float, float, float]] | None = None,
) -> int:
    """The largest count of ``kind`` sessions with both p99s under the limit, as measured by
    ``probe`` (``in_subprocess`` by default): doubling, then bisecting."""

    def ok(count: int) -> bool:
        send, receive, _ = (probe or in_subprocess)(kind, base, count, seconds)
        good = send < LIMIT_MS and receive < LIMIT_MS
        print(
            f"  {kind}: {count} sessions: p99 send {send:.1f} ms, receive {receive:.1f} ms"
            f" -> {'ok' if good else 'late'}",
            file=sys.stderr,
        )
        return good

    low, high = 0, start
    while high <= cap and ok(high):
        low, high = high, high * 2
    high = min(high, cap + 1)
    while high - low > max(1, low // 10):
        mid = (low + high) // 2
        if ok(mid):
            low = mid
        else:
            high = mid
    return low


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="shorter runs, no scale search")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if args.child:
        kind, base, count, seconds = args.child
        stats, cpu = run_sessions(kind, base, int(count), float(seconds))
        send, receive = stats.p99()
        print(send, receive, cpu)
        return

    print("| conversion (20 ms chunks) | x real time |\n| --- | --- |")
    for label, speed in conversions():
        print(f"| {label} | {speed:,.0f} |")

    server = subprocess.Popen(
        [sys.executable, str(HERE / "bench_transport.py"), "--serve"],
        stdout=subprocess.PIPE,
        text=True,
    )
    # ":fed": the app's loop feeds the player (no subscription, one wake-up fewer per event).
    kinds = ["official", "asyncio", "asyncio:fed", "asyncio+uvloop:fed", "trio", "trio:fed"]
    try:
        assert server.stdout is not None
        base = f"ws://127.0.0.1:{int(server.stdout.readline())}/v1"
        seconds = 2.0 if args.quick else args.seconds
        print("\n| client (one full-duplex session) | CPU ms per audio-s | p99 send / receive ms |")
        print("| --- | --- | --- |")
        cpu_rows: dict[str, float] = {}
        for kind in kinds:
            runs = [in_subprocess(kind, base, 1, seconds) for _ in range(3)]
            send, receive, cpu = min(runs, key=lambda r: r[2])
            cpu_rows[kind] = cpu
            print(
                f"| {kind} | {cpu:.1f} ({cpu / cpu_rows['official']:.2f}x) | {send:.1f} / "
                f"{receive:.1f} |"
            )
        if args.quick:
            return
        print("\n| client | sessions kept in real time (p99 < 20 ms both ways) |\n| --- | --- |")
        counts: dict[str, int] = {}
        for kind in kinds:
            counts[kind] = max_sessions(kind, base, 3.0, start=8, cap=512)
            ratio = counts[kind] / max(1, counts["official"])
            print(f"| {kind} | {counts[kind]} ({ratio:.1f}x) |", flush=True)
    finally:
        server.kill()
        server.wait()
    print(
        f"\nPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.2f} (a shared machine: rerun for stable numbers)."
    )


if __name__ == "__main__":
    main()
