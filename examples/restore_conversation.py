"""Carry a conversation into a new session: plan_restore, apply_restore, then carry on.

Runs offline against the bundled fake server: a first session talks (a spoken answer, the user
interrupting it, a tool call answered and one still owed), then a second session is restored
from the first one's history and the conversation goes on there, in audio, as before::

    python examples/restore_conversation.py                  # trio
    python examples/restore_conversation.py --backend asyncio

Against the real service, drop the FakeRealtimeServer and ``websocket_base_url``, and set
``OPENAI_API_KEY``.
"""

from __future__ import annotations

import argparse

import anyio

from realtime_anyio import (
    Conversation,
    RealtimeConnection,
    apply_restore,
    open_realtime,
    plan_restore,
)
from realtime_anyio.events import FunctionCallItem, ResponseDone, function_call_output, user_text
from realtime_anyio.testing import FakeRealtimeServer

SESSION = {
    "type": "realtime",
    "instructions": "You are a travel agent. Answer briefly.",
    "output_modalities": ["audio"],
    "tools": [
        {
            "type": "function",
            "name": "book_train",
            "description": "Book a train ticket.",
            "parameters": {"type": "object", "properties": {"to": {"type": "string"}}},
        },
        {
            "type": "function",
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    ],
    "audio": {"output": {"voice": "verse"}},
}


async def keep_receiving(conn: RealtimeConnection) -> None:
    async for _ in conn:  # conn.history folds every event as the reader decodes it
        pass


async def turn(conn: RealtimeConnection, text: str) -> ResponseDone:
    await conn.conversation.item.create(item=user_text(text), wait=True)
    with conn.expect(ResponseDone) as done:
        await conn.response.create()
        return await done.wait()


async def first_session(url: str, api_key: str) -> Conversation:
    """Talk for a while; return the history as the client folded it."""
    async with (
        open_realtime(
            model="gpt-realtime", websocket_base_url=url, api_key=api_key, history=True
        ) as conn,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(keep_receiving, conn)
        await conn.session.update(session=SESSION, wait=True)
        answer = await turn(conn, "I need to get to Lyon tomorrow morning, what are my options?")
        # The user interrupted after 800 ms: only what was heard stays in the conversation.
        (spoken,) = answer.response.output or []
        assert isinstance(spoken.id, str)
        await conn.conversation.item.truncate(
            item_id=spoken.id, content_index=0, audio_end_ms=800, wait=True
        )
        booked = await turn(conn, "Book the train to Lyon.")
        (call,) = booked.response.output or []
        assert isinstance(call, FunctionCallItem) and isinstance(call.call_id, str)
        output = function_call_output(call.call_id, '{"seat": "12A"}')
        await conn.conversation.item.create(item=output, wait=True)
        await turn(conn, "And what is the weather in Lyon?")  # the connection drops now
        tg.cancel_scope.cancel()
    return conn.history


async def second_session(history: Conversation, url: str, api_key: str) -> None:
    plan = plan_restore(history)
    print(f"plan: {dict(plan.replayed)}")
    print(f"  owed tool outputs: {list(plan.owed_call_ids)}")
    for loss in plan.lost:
        print(f"  not carried over: {loss}")
    async with open_realtime(
        model="gpt-realtime", websocket_base_url=url, api_key=api_key, history=True
    ) as conn:
        report = await apply_restore(conn, plan, timeout=10)
        print(
            f"restored {len(report.restored)} of {len(plan.items)} items "
            f"in {report.seconds * 1000:.1f} ms; refused: {dict(report.refused) or 'none'}"
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(keep_receiving, conn)
            for call_id in plan.owed_call_ids:  # sent once, here, on the new session
                output = function_call_output(call_id, '{"sky": "sunny", "celsius": 21}')
                await conn.conversation.item.create(item=output, wait=True)
            # Ask for audio explicitly: a model that sees only text history may answer in text.
            modalities = ["audio"] if plan.anchor_audio_output else ["text"]
            with conn.expect(ResponseDone) as done:
                await conn.response.create(response={"output_modalities": modalities})
                await done.wait()
            tg.cancel_scope.cancel()
        for item in conn.history:
            print(f"  {item.role or item.type:>20}: {item.text[:60]}")


async def main(backend: str) -> None:
    with anyio.fail_after(30):
        async with FakeRealtimeServer(pacing="fast") as server:
            history = await first_session(server.url, "sk-example")
            await second_session(history, server.url, "sk-example")
    print(f"done on {backend}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--backend", choices=("trio", "asyncio"), default="trio")
    args = parser.parse_args()
    anyio.run(main, args.backend, backend=args.backend)
