"""A session that survives a dropped connection and the service's session cap, offline.

The bundled fake server caps sessions at 2 seconds here (the real service: 60 minutes) and
drops the first connection without a close frame after the first answer. The session carries
on: it reconnects and restores the conversation, then rolls over to a fresh connection before
the cap, and the model still knows what was said::

    python examples/resilient_session.py                  # trio
    python examples/resilient_session.py --backend asyncio

Against the real service, drop the FakeRealtimeServer and ``websocket_base_url``, set
``OPENAI_API_KEY``, and keep the default policies (rollover two minutes before expiry).
"""

from __future__ import annotations

import argparse

import anyio

from realtime_anyio import (
    Reconnecting,
    ReconnectPolicy,
    ResilientConnection,
    Restored,
    RolloverPolicy,
    SessionExpiring,
    open_resilient,
)
from realtime_anyio.events import ResponseDone, user_text
from realtime_anyio.testing import FakeRealtimeServer, TurnContext


async def ask(session: ResilientConnection, question: str) -> str:
    """One text turn; local events that arrive meanwhile are printed."""
    await session.conversation.item.create(item=user_text(question))
    await session.response.create()
    async for event in session:
        match event:
            case Reconnecting(attempt=attempt, delay=delay, reason=reason):
                print(f"  [reconnecting: attempt {attempt} in {delay:.2f} s after {reason}]")
            case Restored(rollover=rollover, replayed=replayed, gap_seconds=gap):
                kind = "rolled over" if rollover else "restored"
                print(f"  [{kind}: replayed {dict(replayed)} in {gap * 1000:.0f} ms]")
            case SessionExpiring(seconds_left=left):
                print(f"  [the session expires in {left:.1f} s]")
            case ResponseDone(response=response):
                answer = response.output[0].content[0].text  # type: ignore[union-attr]
                assert isinstance(answer, str)
                return answer
            case _:
                pass
    raise RuntimeError("the session ended")


async def wait_for_rollover(session: ResilientConnection) -> None:
    async for event in session:
        match event:
            case SessionExpiring(seconds_left=left):
                print(f"  [the session expires in {left:.1f} s]")
            case Restored(rollover=True, replayed=replayed, gap_seconds=gap):
                print(f"  [rolled over: replayed {dict(replayed)}, sends held {gap * 1000:.0f} ms]")
                return
            case _:
                pass


def remember(context: TurnContext) -> str:
    # The fake model answers from the conversation it holds: after a restore, that is the
    # history the client replayed.
    said = [
        part["text"]
        for item in context.conversation
        if item.get("role") == "user"
        for part in item["content"]
    ]
    return f"You have said {len(said)} thing(s) so far; the first was {said[0]!r}."


async def main() -> None:
    async with FakeRealtimeServer(session_duration=2) as server:
        server.script.respond_with(remember)
        policy = ReconnectPolicy(base_delay=0.05, max_delay=0.5)
        rollover = RolloverPolicy(warn_before=1.5, before_expiry=1.0)
        with anyio.fail_after(30):
            async with open_resilient(
                model="gpt-realtime",
                websocket_base_url=server.url,
                api_key="sk-fake",
                policy=policy,
                rollover=rollover,
            ) as session:
                await session.session.update(
                    session={"type": "realtime", "output_modalities": ["text"]}, wait=True
                )
                print("> My name is Ada.")
                print(await ask(session, "My name is Ada."))
                await server.sessions[-1].drop()  # the network fails
                print("> What did I say first?")
                print(await ask(session, "What did I say first?"))
                await wait_for_rollover(session)
                print("> And now?")
                answer = await ask(session, "And now?")
                print(answer)
                assert "'My name is Ada.'" in answer
                stats = session.statistics()
                print(
                    f"{stats.connections} connections: {stats.reconnects} reconnect(s), "
                    f"{stats.rollovers} rollover(s)"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--backend", choices=("trio", "asyncio"), default="trio", help="event loop (default: trio)"
    )
    anyio.run(main, backend=parser.parse_args().backend)
