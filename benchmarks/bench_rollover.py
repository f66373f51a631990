"""Rollover benchmark: a make-before-break switch under live duplex audio.

Run by hand: ``.venv/bin/python benchmarks/bench_rollover.py [--rounds N]``.

The bundled fake server runs in a separate process (``--serve``; real-time pacing, so response
audio streams at playback speed). The client opens ``open_resilient``, starts ``pump_audio``
(a 20 ms chunk every 20 ms) and an ``AudioPlayer`` into a ``VirtualSpeaker``, asks for a spoken
answer, starts a rollover while that answer is playing (the switch waits for the end of the
turn), and asks again as soon as the rollover returned. Per round and backend it reports:

* audio chunks lost: chunks the pump sent minus ``input_audio_buffer.append`` events the server
  received over both sessions (target 0), and chunks the pump had refused (target 0);
* the largest gap between two consecutive appends (nominal 20 ms) and how far it exceeds 20 ms
  (target: under 100 ms added at the switch);
* the first-delta latency of the answer after the switch against the one before it;
* how long sends were held (``Restored.gap_seconds``: it includes the wait for the end of the
  answer that was playing), the rollover end to end, and the time from that answer's
  ``response.done`` (the turn boundary) to the switch.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import anyio

HERE = Path(__file__).resolve().parent
CHUNK = bytes(960)  # 20 ms of PCM16 silence at 24 kHz


# -- the server process ----------------------------------------------------------------------


async def serve() -> None:
    from realtime_anyio.testing import FakeRealtimeServer

    async with FakeRealtimeServer(pacing="realtime", ping_interval=None) as server:
        print(server.port, flush=True)
        while True:
            line = await anyio.to_thread.run_sync(sys.stdin.readline)
            if not line or line.strip() == "quit":
                return
            total = sum(s.received_count("input_audio_buffer.append") for s in server.sessions)
            print(f"{total} {len(server.sessions)}", flush=True)


# -- the client --------------------------------------------------------------------------------


async def one_round(base: str) -> dict[str, float]:
    from realtime_anyio import ReconnectPolicy, RolloverPolicy, open_resilient
    from realtime_anyio.audio import AudioPlayer, VirtualSpeaker, pump_audio
    from realtime_anyio.events import ResponseDone, ResponseOutputAudioDelta, user_text

    stamps: list[float] = []
    done_at: list[float] = []
    stop = anyio.Event()
    pumped = anyio.Event()

    async def microphone() -> AsyncIterator[bytes]:
        while not stop.is_set():
            stamps.append(time.perf_counter())  # asked for right after the previous append
            yield CHUNK

    async def first_delta(conn: Any) -> float:
        await conn.conversation.item.create(item=user_text("Please tell me a short story."))
        with conn.expect(ResponseOutputAudioDelta) as delta:
            started = time.perf_counter()
            await conn.response.create()
            await delta.wait()
        return (time.perf_counter() - started) * 1000

    result: dict[str, Any] = {}
    before = after = started = rolled = 0.0
    restored: Any = None
    with anyio.fail_after(60):
        async with (
            open_resilient(
                model="gpt-realtime",
                websocket_base_url=base,
                api_key="sk-bench",
                ping_interval=None,
                policy=ReconnectPolicy(),
                rollover=RolloverPolicy(before_expiry=None, warn_before=None),
            ) as conn,
            anyio.create_task_group() as tg,
        ):
            player = AudioPlayer(VirtualSpeaker())
            await tg.start(player.run, conn)

            async def pump() -> None:
                result["pump"] = await pump_audio(conn, microphone())
                pumped.set()

            async def drain() -> None:
                async for event in conn:
                    if isinstance(event, ResponseDone):
                        done_at.append(time.perf_counter())

            tg.start_soon(pump)
            tg.start_soon(drain)
            await anyio.sleep(0.3)
            before = await first_delta(conn)
            await anyio.sleep(0.3)  # the answer is playing: roll over under live audio
            started = time.perf_counter()
            restored = await conn.rollover()
            rolled = time.perf_counter()
            after = await first_delta(conn)
            await conn.wait_for(ResponseDone)
            await anyio.sleep(0.3)
            stop.set()
            await pumped.wait()
            tg.cancel_scope.cancel()
    gaps = [(b - a) * 1000 for a, b in pairwise(stamps)]
    switch_gaps = [
        (b - a) * 1000 for a, b in pairwise(stamps) if started - 0.1 <= b <= rolled + 0.1
    ]
    pumped = result["pump"]
    boundary = min((t for t in done_at if t >= started), default=started)
    return {
        "chunks": pumped.chunks,
        "refused": pumped.dropped,
        "max_gap_ms": max(gaps),
        "max_gap_at_switch_ms": max(switch_gaps or [0.0]),
        "first_delta_before_ms": before,
        "first_delta_after_ms": after,
        "held_ms": restored.gap_seconds * 1000,
        "switch_after_boundary_ms": (rolled - boundary) * 1000,
        "rollover_ms": (rolled - started) * 1000,
    }


def client(base: str, backend: str) -> None:
    row = anyio.run(one_round, base, backend=backend)
    print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=("trio", "asyncio"), default="trio")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per backend (default 3)")
    args = parser.parse_args()
    if args.serve:
        anyio.run(serve)
        return
    if args.client:
        client(args.client, args.backend)
        return
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdin is not None and server.stdout is not None
        base = f"ws://127.0.0.1:{int(server.stdout.readline())}/v1"
        print(
            "backend  lost refused  max-gap(ms) at-switch(ms)  1st-delta before/after(ms)  "
            "held(ms) rollover(ms) boundary->switch(ms)"
        )
        for backend in ("trio", "asyncio"):
            for _ in range(args.rounds):
                server.stdin.write("count\n")
                server.stdin.flush()
                appends_before = int(server.stdout.readline().split()[0])
                out = subprocess.run(
                    [sys.executable, __file__, "--client", base, "--backend", backend],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                row = dict(part.split("=") for part in out.stdout.split())
                server.stdin.write("count\n")
                server.stdin.flush()
                appends = int(server.stdout.readline().split()[0]) - appends_before
                lost = int(row["chunks"]) - appends
                print(
                    f"{backend:8} {lost:4} {int(row['refused']):7}  "
                    f"{float(row['max_gap_ms']):11.1f} {float(row['max_gap_at_switch_ms']):13.1f}  "
                    f"{float(row['first_delta_before_ms']):12.1f} / "
                    f"{float(row['first_delta_after_ms']):6.1f}        "
                    f"{float(row['held_ms']):8.1f} {float(row['rollover_ms']):12.1f} "
                    f"{float(row['switch_after_boundary_ms']):20.1f}",
                    flush=True,
                )
        server.stdin.write("quit\n")
        server.stdin.flush()
        server.wait(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
