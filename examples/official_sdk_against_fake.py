"""Point the official ``openai`` SDK at the bundled fake server.

Code written for ``AsyncOpenAI().realtime.connect(...)`` can be tested offline the same way as
realtime_anyio code: start a ``FakeRealtimeServer`` and pass its URL as ``websocket_base_url``.
The official SDK is asyncio-only, so this example runs on asyncio (``--backend asyncio``, the
default here; ``--backend trio`` is refused with a one-line explanation)::

    pip install 'realtime-anyio[examples]'   # this example needs the openai package
    python examples/official_sdk_against_fake.py

(The same works across processes: ``realtime-anyio serve`` prints the URL to use.)
"""

from __future__ import annotations

import argparse

import anyio

try:
    from openai import AsyncOpenAI
except ImportError:
    raise SystemExit(
        "this example needs the openai package: pip install 'realtime-anyio[examples]'"
    ) from None

from realtime_anyio.testing import FakeRealtimeServer


async def main() -> None:
    async with FakeRealtimeServer() as server:
        server.script.reply_text("Hello from the fake server!")
        client = AsyncOpenAI(api_key="sk-test", websocket_base_url=server.url, max_retries=0)
        async with client.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await conn.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Hi!"}],
                }
            )
            await conn.response.create()
            async for event in conn:
                if event.type == "response.output_text.delta":
                    print(event.delta, end="", flush=True)
                elif event.type == "response.done":
                    print(f"\n(response {event.response.status})")
                    break
        await client.close()
        session = server.sessions[0]
        print(f"the server saw: {[event['type'] for event in session.received]}")


async def bounded_main() -> None:
    with anyio.fail_after(30):
        await main()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="The official openai SDK against the fake.")
    parser.add_argument(
        "--backend", choices=("trio", "asyncio"), default="asyncio", help="event loop (asyncio)"
    )
    if parser.parse_args().backend != "asyncio":
        parser.exit(2, "the official openai SDK runs on asyncio only: use --backend asyncio\n")
    anyio.run(bounded_main, backend="asyncio")
