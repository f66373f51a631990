"""One text turn with realtime_anyio, against the bundled fake server (no key, no network).

Runs the same code under trio and asyncio::

    python examples/text_turn.py                  # trio
    python examples/text_turn.py --backend asyncio

Against the real service, drop the FakeRealtimeServer and ``websocket_base_url``, and set
``OPENAI_API_KEY``.
"""

from __future__ import annotations

import argparse

import anyio

from realtime_anyio import open_realtime
from realtime_anyio.events import ResponseDone, ResponseOutputTextDelta, user_text
from realtime_anyio.testing import FakeRealtimeServer


async def text_turn(websocket_base_url: str, api_key: str) -> str:
    """Ask one question and return the model's answer."""
    answer: list[str] = []
    with anyio.fail_after(30):
        async with open_realtime(
            model="gpt-realtime", websocket_base_url=websocket_base_url, api_key=api_key
        ) as conn:
            await conn.session.update(
                session={"type": "realtime", "output_modalities": ["text"]}, wait=True
            )
            await conn.conversation.item.create(item=user_text("Say hello in French."))
            await conn.response.create()
            async for event in conn:
                match event:
                    case ResponseOutputTextDelta(delta=text):
                        answer.append(text)
                        print(text, end="", flush=True)
                    case ResponseDone(response=response):
                        print(f"\n[{response.status}]")
                        break
            stats = conn.statistics()
            print(f"{stats.frames_received} events received, {stats.frames_sent} sent")
    return "".join(answer)


async def main() -> None:
    async with FakeRealtimeServer() as server:
        server.script.reply_text("Bonjour !")
        answer = await text_turn(server.url, api_key="sk-fake")
    assert answer == "Bonjour !", answer


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--backend", choices=("trio", "asyncio"), default="trio", help="event loop (default: trio)"
    )
    anyio.run(main, backend=parser.parse_args().backend)
