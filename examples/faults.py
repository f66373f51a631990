"""Faults: what your code sees when the bundled server breaks the connection on purpose.

Against the bundled fake server (no key, no network)::

    python examples/faults.py                  # trio
    python examples/faults.py --backend asyncio

Four faults from the table in ``docs/faults.md``: a refused handshake, a frame that is not a valid
event (the session goes on), a TCP drop without a close frame, and a server that goes silent,
found by a lowered keepalive.
"""

from __future__ import annotations

import argparse

import anyio

from realtime_anyio import ConnectionLost, InvalidServerEvent, RateLimitError, open_realtime
from realtime_anyio.testing import (
    DropAfter,
    FakeRealtimeServer,
    RefuseHandshake,
    SendFrame,
    StallAfter,
)


async def main() -> None:
    async with FakeRealtimeServer() as server:
        url = server.url
        with anyio.fail_after(30):
            server.inject(RefuseHandshake(429, b'{"error": {"message": "Slow down."}}'))
            try:
                async with open_realtime(
                    model="gpt-realtime", websocket_base_url=url, api_key="sk-fake"
                ):
                    pass
            except RateLimitError as exc:
                print("refused:", exc.status_code, exc.message)

            server.inject(SendFrame(after=1, data=b"\x00\x01", binary=True))
            async with open_realtime(
                model="gpt-realtime", websocket_base_url=url, api_key="sk-fake"
            ) as conn:
                await conn.receive()  # session.created
                bad = await conn.receive()
                assert isinstance(bad, InvalidServerEvent)
                print("invalid frame:", bad.error, "- the session goes on")
                cleared = await conn.input_audio_buffer.clear(wait=True)
                print("then:", cleared.type)

            server.inject(DropAfter(1))
            async with open_realtime(
                model="gpt-realtime", websocket_base_url=url, api_key="sk-fake"
            ) as conn:
                await conn.receive()
                try:
                    await conn.receive()
                except ConnectionLost as exc:
                    print("dropped:", exc.code, exc.reason)

            server.inject(StallAfter(1))
            start = anyio.current_time()
            async with open_realtime(
                model="gpt-realtime",
                websocket_base_url=url,
                api_key="sk-fake",
                ping_interval=0.5,
                ping_timeout=0.5,
                close_timeout=0.5,
            ) as conn:
                await conn.receive()
                try:
                    await conn.receive()
                except ConnectionLost as exc:
                    elapsed = anyio.current_time() - start
                    print(f"silent server found after {elapsed:.1f} s:", exc.reason)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--backend", choices=("trio", "asyncio"), default="trio", help="event loop (default: trio)"
    )
    anyio.run(main, backend=parser.parse_args().backend)
