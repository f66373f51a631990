"""Request/reply with realtime_anyio: send an event and wait for the server's answer to it.

Against the bundled fake server (no key, no network)::

    python examples/correlation.py                  # trio
    python examples/correlation.py --backend asyncio

Shows ``wait=True`` on the typed helpers, ``ServerError`` for a rejected request, that replies
still reach the main event stream, an audio pump running next to the receiver, and leaving the
block (which closes with 1000) while the server is still sending.
"""

from __future__ import annotations

import argparse

import anyio

from realtime_anyio import ServerError, open_realtime
from realtime_anyio.events import InputAudioBufferCommitted, ResponseDone, user_text
from realtime_anyio.testing import FakeRealtimeServer, silence


async def main() -> None:
    async with FakeRealtimeServer() as server:
        server.script.reply_text("Noted.")
        with anyio.fail_after(30):
            async with open_realtime(
                model="gpt-realtime", websocket_base_url=server.url, api_key="sk-fake"
            ) as conn:
                updated = await conn.session.update(
                    session={"type": "realtime", "instructions": "Be brief."}, wait=True
                )
                print("instructions now:", updated.session.instructions)  # type: ignore[union-attr]

                added = await conn.conversation.item.create(
                    item=user_text("Remember 42."), wait=True
                )
                print("item added:", added.item.id)

                try:
                    await conn.conversation.item.delete(item_id="item_missing", wait=True)
                except ServerError as exc:
                    print("rejected:", exc.code, "-", exc.message)

                # An audio pump in its own task, next to the receiver; appends have no reply.
                async with anyio.create_task_group() as tg:

                    async def pump() -> None:
                        for _ in range(10):
                            await conn.input_audio_buffer.append(silence(0.02))

                    tg.start_soon(pump)
                committed = await conn.input_audio_buffer.commit(wait=True)
                assert isinstance(committed, InputAudioBufferCommitted)
                print("committed audio as", committed.item_id)

                await conn.response.create()
                done = await conn.wait_for(ResponseDone)
                print("response", done.response.status)

                # Every reply above is still in the stream, in order.
                kinds: list[str] = []
                async for event in conn:
                    kinds.append(event.type)
                    if isinstance(event, ResponseDone):
                        break
                print(f"{len(kinds)} events in the stream, first {kinds[0]!r}")
                assert kinds[0] == "session.created"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--backend", choices=("trio", "asyncio"), default="trio", help="event loop (default: trio)"
    )
    anyio.run(main, backend=parser.parse_args().backend)
