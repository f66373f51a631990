"""Time to detect a dead peer: realtime_anyio (asyncio and trio) side by side with the official SDK.

Run by hand: ``.venv/bin/python benchmarks/bench_faults.py [--quick]``.

A loopback server runs in a separate process (raw sockets; the handshake and framing helpers of
``bench_transport.py``). Each connection gets ``session.created`` and then a marker event whose
``event_id`` carries the CLOCK_MONOTONIC time at which the fault starts; the client measures
from that instant until its ``receive`` fails, then how long leaving its block takes.

Faults:

* black hole: right after the marker the server stops reading and writing, and keeps the socket
  open (a hung peer, or a path that swallows everything). Only a keepalive can find this: the
  time is the next ping plus the pong timeout. The silence starts right after connecting, so a
  whole ``ping_interval`` passes before the first ping: this is the slowest case.
* TCP drop: 200 ms after the marker the server closes TCP without a close frame.

Keepalive settings: the defaults (``ping_interval=20, ping_timeout=20`` for both clients; the
official SDK uses the ``websockets`` keepalive) and lowered ones (``--interval``/``--timeout``).
Everything else stays at each client's defaults (``close_timeout`` 5 s here, 10 s in
``websockets``: after a missing pong, ``websockets`` sends a close frame and waits for it before
``recv`` raises).
The default black-hole runs take about 40 s; they run for all clients at once, each in its own
thread. The TCP-drop runs go one client at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench_transport import frame, handshake

#: How long the black-hole server holds a silent socket before it gives up on it.
HOLD_SECONDS = 180.0
DROP_DELAY = 0.2


# ---------------------------------------------------------------------------------------------
# The server (runs in a subprocess: ``bench_faults.py --serve``)
# ---------------------------------------------------------------------------------------------


def marker(at_ns: int) -> bytes:
    return frame(
        json.dumps({"type": "input_audio_buffer.cleared", "event_id": f"event_{at_ns}"}).encode()
    )


HELLO = frame(
    json.dumps(
        {"type": "session.created", "event_id": "event_hello", "session": {"type": "realtime"}}
    ).encode()
)


def serve_connection(sock: socket.socket) -> None:
    with sock:
        try:
            query = handshake(sock)
        except (ConnectionError, OSError):
            return
        fault = query.get("model", ["blackhole"])[0]
        if fault == "drop":
            at = time.monotonic_ns() + int(DROP_DELAY * 1e9)
            sock.sendall(HELLO + marker(at))
            time.sleep(max(0.0, (at - time.monotonic_ns()) / 1e9))
            # No close frame: FIN (or RST when the client's pings are still unread).
            sock.shutdown(socket.SHUT_RDWR)
            return
        sock.sendall(HELLO + marker(time.monotonic_ns()))
        time.sleep(HOLD_SECONDS)  # read nothing, write nothing, keep the socket open


def serve() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(sock,), daemon=True).start()


# ---------------------------------------------------------------------------------------------
# The clients
# ---------------------------------------------------------------------------------------------

#: (ping_interval, ping_timeout), or None for each client's defaults.
Keepalive = tuple[float, float] | None


@dataclass
class Detection:
    detect_s: float
    leave_s: float
    error: str


def _stamp(event_id: str) -> float:
    return int(event_id.split("_")[1]) / 1e9


async def ours(base: str, fault: str, keepalive: Keepalive, transport: Any = None) -> Detection:
    import anyio

    from realtime_anyio import ConnectionClosed, open_realtime

    options: dict[str, Any] = {}
    if keepalive is not None:
        options["ping_interval"], options["ping_timeout"] = keepalive
    if transport is not None:
        options["transport"] = transport
    error = ""
    at = detected = 0.0
    with anyio.fail_after(HOLD_SECONDS - 20):
        try:
            async with open_realtime(
                model=fault, websocket_base_url=base, api_key="x", **options
            ) as conn:
                await conn.receive()
                at = _stamp((await conn.receive()).event_id)  # type: ignore[union-attr]
                try:
                    await conn.receive()
                except ConnectionClosed as exc:
                    error = f"{type(exc).__name__}({exc.code})"
                detected = time.monotonic()
        except ConnectionClosed:
            pass  # leaving reports what it could not write; not measured here
    return Detection(detected - at, time.monotonic() - detected, error)


async def official(base: str, fault: str, keepalive: Keepalive) -> Detection:
    import openai
    from websockets.exceptions import ConnectionClosed

    client = openai.AsyncOpenAI(api_key="x", websocket_base_url=base)
    # The SDK hands these to websockets' connect(); everything else stays at its defaults.
    options: dict[str, Any] = {}
    if keepalive is not None:
        options["ping_interval"], options["ping_timeout"] = keepalive
    error = ""
    at = detected = 0.0
    try:
        async with client.realtime.connect(
            model=fault,
            websocket_connection_options=options,  # type: ignore[arg-type]
        ) as conn:
            await conn.recv()
            event: Any = await conn.recv()
            at = _stamp(event.event_id)
            try:
                await conn.recv()
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else 1006
                error = f"{type(exc).__name__}({code})"
            detected = time.monotonic()
    except ConnectionClosed:
        pass
    await client.close()
    return Detection(detected - at, time.monotonic() - detected, error)


def clients(base: str) -> dict[str, Callable[[str, Keepalive], Detection]]:
    import anyio

    from realtime_anyio.transport import connect_trio_websocket

    return {
        "official SDK (asyncio)": lambda f, k: asyncio.run(official(base, f, k)),
        "realtime_anyio (asyncio)": lambda f, k: anyio.run(ours, base, f, k, backend="asyncio"),
        "realtime_anyio (trio)": lambda f, k: anyio.run(ours, base, f, k, backend="trio"),
        "realtime_anyio (trio-websocket)": lambda f, k: anyio.run(
            ours, base, f, k, connect_trio_websocket, backend="trio"
        ),
    }


def in_parallel(
    runs: dict[str, Callable[[str, Keepalive], Detection]], fault: str, keepalive: Keepalive
) -> dict[str, Detection]:
    results: dict[str, Detection] = {}

    def one(name: str) -> None:
        results[name] = runs[name](fault, keepalive)

    threads = [threading.Thread(target=one, args=(name,)) for name in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def show(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="skip the default-keepalive runs")
    parser.add_argument("--interval", type=float, default=1.0, help="lowered ping_interval")
    parser.add_argument("--timeout", type=float, default=1.0, help="lowered ping_timeout")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the short cases")
    args = parser.parse_args()
    if args.serve:
        serve()
        return

    server = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve"], stdout=subprocess.PIPE, text=True
    )
    lowered = (args.interval, args.timeout)
    rows: list[tuple[str, str, dict[str, list[Detection]]]] = []
    try:
        assert server.stdout is not None
        base = f"ws://127.0.0.1:{int(server.stdout.readline())}/v1"
        runs = clients(base)
        cases: list[tuple[str, Keepalive, int]] = [("blackhole", lowered, args.repeat)]
        if not args.quick:
            cases.insert(0, ("blackhole", None, 1))
        for fault, keepalive, repeat in cases:
            found: dict[str, list[Detection]] = {name: [] for name in runs}
            for _ in range(repeat):
                for name, detection in in_parallel(runs, fault, keepalive).items():
                    found[name].append(detection)
                    print(f"{fault} {keepalive}: {name}: {detection}", file=sys.stderr)
            rows.append((fault, "default" if keepalive is None else str(keepalive), found))
        for keepalive in (None, lowered):
            found = {name: [] for name in runs}
            for _ in range(args.repeat):
                for name, run in runs.items():
                    detection = run("drop", keepalive)
                    found[name].append(detection)
                    print(f"drop {keepalive}: {name}: {detection}", file=sys.stderr)
            rows.append(("drop", "default" if keepalive is None else str(keepalive), found))
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()

    names = list(clients("ws://unused"))
    labels = {"blackhole": "black hole (no reads, no pongs)", "drop": "TCP drop, no close frame"}
    print("\nTime from the fault to the failed receive (median; then the time to leave the block).")
    print("Keepalive: (ping_interval, ping_timeout) in seconds; default = 20, 20 for all.\n")
    print("| fault | keepalive | " + " | ".join(names) + " |")
    print("| --- | --- |" + " --- |" * len(names))
    for fault, keepalive, found in rows:
        cells = []
        for name in names:
            detections = found[name]
            detect = median([d.detect_s for d in detections])
            leave = median([d.leave_s for d in detections])
            cells.append(f"{show(detect)} (leave {show(leave)}; {detections[0].error})")
        print(f"| {labels[fault]} | {keepalive} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
