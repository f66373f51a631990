"""Restore benchmark: time to carry a conversation of 10 / 100 / 1,000 items into a new session.

Run by hand: ``.venv/bin/python benchmarks/bench_restore.py [--quick]``.

The bundled fake server runs in a separate process (``python -m realtime_anyio serve``), so
the client does not share a GIL with it. For each size a history is folded from wire events (a
repeating turn: user text, an assistant message with ``phase``, a function call and its
output), then, on a fresh connection each time, ``plan_restore`` and ``apply_restore`` (session
update, then every item pipelined) run and are timed; the median of several runs is printed as
a Markdown table, on asyncio and on trio, with the client process's CPU time for the same span
(what the library itself costs). Most of the wall time at 1,000 items is the bundled server's
own work per item (it is written for clarity, not speed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

import anyio

from realtime_anyio import Conversation, apply_restore, open_realtime, plan_restore
from realtime_anyio.events import decode_server_event

SIZES = (10, 100, 1000)


def wire_history(count: int) -> list[Any]:
    """The server events of a conversation of ``count`` items."""
    events: list[Any] = [
        {
            "type": "session.created",
            "session": {
                "type": "realtime",
                "object": "realtime.session",
                "id": "sess_bench",
                "model": "gpt-realtime",
                "expires_at": 0,
                "output_modalities": ["audio"],
                "instructions": "Answer briefly.",
                "tools": [
                    {
                        "type": "function",
                        "name": "lookup",
                        "description": "Look a thing up.",
                        "parameters": {"type": "object", "properties": {}},
                    }
                ],
                "tool_choice": "auto",
            },
        }
    ]
    for n in range(count):
        turn, kind = divmod(n, 4)
        item_id = f"item_{n:06d}"
        call_id = f"call_{turn:06d}"
        if kind == 0:
            item: dict[str, Any] = {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": f"Question number {turn}?"}],
            }
        elif kind == 1:
            item = {
                "type": "message",
                "role": "assistant",
                "phase": "commentary",
                "content": [{"type": "output_text", "text": "Let me look that up for you."}],
            }
        elif kind == 2:
            item = {
                "type": "function_call",
                "name": "lookup",
                "call_id": call_id,
                "arguments": json.dumps({"turn": turn}),
            }
        else:
            item = {"type": "function_call_output", "call_id": call_id, "output": '{"ok":true}'}
        item = {"id": item_id, "object": "realtime.item", "status": "completed", **item}
        events.append({"type": "conversation.item.done", "previous_item_id": None, "item": item})
    return [decode_server_event(json.dumps({"event_id": "event_x", **e})) for e in events]


async def measure(url: str, count: int, runs: int) -> tuple[float, float, float]:
    """Median milliseconds of (plan, plan + apply, client CPU) for ``count`` items."""
    history = Conversation()
    history.apply_all(wire_history(count))
    planning: list[float] = []
    totals: list[float] = []
    cpu: list[float] = []
    for _ in range(runs):
        async with open_realtime(
            model="gpt-realtime", websocket_base_url=url, api_key="sk-bench"
        ) as conn:
            started = time.perf_counter()
            cpu_started = time.process_time()
            plan = plan_restore(history)
            planned = time.perf_counter()
            report = await apply_restore(conn, plan, timeout=60)
            finished = time.perf_counter()
            cpu.append((time.process_time() - cpu_started) * 1000)
        if not report.complete or len(report.restored) != count:
            raise SystemExit(f"restore of {count} items incomplete: {report!r}")
        planning.append((planned - started) * 1000)
        totals.append((finished - started) * 1000)
    return statistics.median(planning), statistics.median(totals), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    args = parser.parse_args()
    runs = 3 if args.quick else 9
    server = subprocess.Popen(
        [sys.executable, "-m", "realtime_anyio", "serve", "--pacing", "fast"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        rows: list[tuple[str, int, float, float, float]] = []
        for backend in ("asyncio", "trio"):
            for count in SIZES:
                plan_ms, total_ms, cpu_ms = anyio.run(measure, url, count, runs, backend=backend)
                rows.append((backend, count, plan_ms, total_ms, cpu_ms))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"restore into a fresh session (median of {runs} runs, server in another process)\n")
    print("| backend | items | plan (ms) | plan + apply (ms) | items/s | client CPU (ms) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for backend, count, plan_ms, total_ms, cpu_ms in rows:
        rate = count / (total_ms / 1000)
        print(
            f"| {backend} | {count} | {plan_ms:.2f} | {total_ms:.1f} | {rate:,.0f} | {cpu_ms:.1f} |"
        )


if __name__ == "__main__":
    main()
