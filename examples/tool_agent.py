"""A tool-using agent: two typed function tools, the dispatcher, and the conversation state.

Runs offline against the bundled fake server, whose scripted model calls both tools in one
response and then answers with their results::

    python examples/tool_agent.py                  # trio
    python examples/tool_agent.py --backend asyncio

Against the real service, drop the FakeRealtimeServer and ``websocket_base_url``, and set
``OPENAI_API_KEY``.
"""

from __future__ import annotations

import argparse
import time
from typing import Annotated

import anyio
import msgspec

from realtime_anyio import open_realtime
from realtime_anyio.conversation import Conversation
from realtime_anyio.events import RealtimeSession, ResponseDone, user_text
from realtime_anyio.testing import FakeRealtimeServer, ToolCall, TurnContext
from realtime_anyio.tools import ToolDispatcher, function_tool


class Place(msgspec.Struct):
    """A city, optionally with its country."""

    city: str
    country: str | None = None


class Weather(msgspec.Struct):
    city: str
    celsius: float
    sky: str


@function_tool(timeout=5, on_interrupt="cancel")  # read-only: safe to drop on barge-in
async def get_weather(place: Place) -> Weather:
    """The current weather in a city."""
    await anyio.sleep(0.2)  # a network call in a real app
    return Weather(place.city, 18.5, "light rain")


@function_tool(timeout=5)
def convert_currency(
    amount: float,
    to: Annotated[str, msgspec.Meta(description="ISO 4217 code, e.g. EUR")],
) -> dict[str, float | str]:
    """Convert an amount of US dollars into another currency."""
    time.sleep(0.2)  # blocking work runs in a worker thread, never on the event loop
    rate = {"EUR": 0.92, "GBP": 0.79}.get(to.upper(), 1.0)
    return {"amount": round(amount * rate, 2), "currency": to.upper()}


async def agent(question: str, *, websocket_base_url: str, api_key: str) -> Conversation:
    """Ask ``question``, let the model use the tools, and return the folded conversation."""
    dispatcher = ToolDispatcher([get_weather, convert_currency])
    history = Conversation()
    with anyio.fail_after(30):
        async with open_realtime(
            model="gpt-realtime", websocket_base_url=websocket_base_url, api_key=api_key
        ) as conn:
            await conn.session.update(
                session=RealtimeSession(
                    output_modalities=["text"], tools=dispatcher.session_tools()
                ),
                wait=True,
            )
            async with anyio.create_task_group() as tg:
                await tg.start(dispatcher.run, conn)
                await conn.conversation.item.create(item=user_text(question))
                await conn.response.create()
                async for event in conn:
                    history.apply(event)
                    if isinstance(event, ResponseDone) and not any(
                        item.type == "function_call" for item in history.finished[-1].output
                    ):
                        break  # the answer, not a round of tool calls
                tg.cancel_scope.cancel()
    stats = dispatcher.statistics()
    print(f"[{stats.calls} tool calls, {stats.responses_created} follow-up response]")
    return history


def scripted_model(context: TurnContext) -> str:
    """The fake model's answer once the tools have answered."""
    outputs = [item["output"] for item in context.input if item["type"] == "function_call_output"]
    return "Here is what I found: " + "; ".join(outputs)


async def main() -> None:
    async with FakeRealtimeServer() as server:
        # The first response calls both tools at once; the next one reads their outputs.
        server.script.reply(
            ToolCall("get_weather", {"city": "Lisbon", "country": "PT"}),
            ToolCall("convert_currency", {"amount": 120, "to": "EUR"}),
        )
        server.script.respond_with(scripted_model)
        history = await agent(
            "What's the weather in Lisbon, and what are 120 dollars in euros?",
            websocket_base_url=server.url,
            api_key="sk-fake",
        )
    for item in history:
        print(f"{item.type:>20} {item.role or '':<9} {item.text}")
    print(f"tokens used: {history.usage.total_tokens}")
    assert history.items[-1].text.startswith("Here is what I found"), history.items[-1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
    anyio.run(main, backend=parser.parse_args().backend)
