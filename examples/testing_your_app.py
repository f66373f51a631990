"""Testing a Realtime app without the network, against the bundled fake server.

The "app" here is a small weather agent: it asks the model a question, runs the ``get_weather``
tool when the model calls it, and returns the model's final answer. The checks script what the
fake model says, then break things on purpose (a failed response, a dropped connection) to see
that the app reports them properly. Run it on either backend::

    python examples/testing_your_app.py
    python examples/testing_your_app.py --backend asyncio

In a pytest suite, the ``realtime_server`` fixture (installed with realtime_anyio) gives each
test a running ``FakeRealtimeServer``; the checks below then become ``async def test_...``
functions taking ``realtime_server`` as an argument.
"""

from __future__ import annotations

import argparse
import json

import anyio

from realtime_anyio import ConnectionClosed, open_realtime
from realtime_anyio.events import (
    Error,
    FunctionTool,
    MessageItem,
    OutputTextContent,
    ResponseCreate,
    ResponseDone,
    ResponseFunctionCallArgumentsDone,
    function_call_output,
    user_text,
)
from realtime_anyio.testing import DropAfter, FakeRealtimeServer, ToolCall, TurnContext

WEATHER = FunctionTool(
    name="get_weather",
    description="The current weather in a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


class AgentError(Exception):
    """The model could not answer."""


# -- the app under test -------------------------------------------------------------------------


def get_weather(city: str) -> dict[str, object]:
    return {"city": city, "forecast": "sunny", "celsius": 21}


async def ask(base_url: str, question: str) -> str:
    """Ask one question; run tools as the model requests them; return the final answer."""
    async with open_realtime(
        model="gpt-realtime", websocket_base_url=base_url, api_key="sk-test"
    ) as conn:
        await conn.session.update(
            session={"type": "realtime", "output_modalities": ["text"], "tools": [WEATHER]}
        )
        await conn.conversation.item.create(item=user_text(question))
        await conn.response.create()
        async for event in conn:
            if isinstance(event, ResponseFunctionCallArgumentsDone):
                result = get_weather(**json.loads(event.arguments))
                await conn.conversation.item.create(
                    item=function_call_output(event.call_id, json.dumps(result))
                )
            elif isinstance(event, ResponseDone):
                if event.response.status != "completed":
                    raise AgentError(f"the response ended {event.response.status}")
                outputs = event.response.output or []
                texts = [
                    part.text
                    for item in outputs
                    if isinstance(item, MessageItem)
                    for part in item.content
                    if isinstance(part, OutputTextContent) and isinstance(part.text, str)
                ]
                if texts:
                    return " ".join(texts)
                # Only tool calls so far: ask for the rest of the turn.
                await conn.send(ResponseCreate())
            elif isinstance(event, Error):
                raise AgentError(event.error.message)
    raise AgentError("the connection ended without an answer")


# -- the checks -----------------------------------------------------------------------------------


async def check_tool_round_trip(server: FakeRealtimeServer) -> None:
    def model(turn: TurnContext) -> str | ToolCall:
        if turn.last_tool_output is not None:
            weather = json.loads(turn.last_tool_output)
            return f"It is {weather['forecast']} and {weather['celsius']} degrees."
        return ToolCall("get_weather", {"city": "Paris"})

    server.script.respond_with(model)
    answer = await ask(server.url, "What's the weather in Paris?")
    assert answer == "It is sunny and 21 degrees.", answer
    # What the app sent is on record, too.
    session = server.sessions[-1]
    outputs = [i for i in session.conversation.items if i["type"] == "function_call_output"]
    assert json.loads(outputs[0]["output"])["city"] == "Paris"
    print("ok: the agent runs the tool and returns the answer")


async def check_failed_response(server: FakeRealtimeServer) -> None:
    server.script.fail("rate_limit_exceeded", "Rate limit reached for tokens.")
    try:
        await ask(server.url, "Anything?")
    except AgentError as exc:
        assert "failed" in str(exc)
        print("ok: a failed response is reported as AgentError")
    else:
        raise AssertionError("a failed response went unnoticed")


async def check_dropped_connection(server: FakeRealtimeServer) -> None:
    server.inject(DropAfter(2))  # after session.created and session.updated
    try:
        await ask(server.url, "Hello?")
    except ConnectionClosed as exc:
        print(f"ok: a dropped connection surfaces as {type(exc).__name__} (code {exc.code})")
    else:
        raise AssertionError("the drop went unnoticed")


async def main() -> None:
    with anyio.fail_after(30):
        async with FakeRealtimeServer() as server:
            await check_tool_round_trip(server)
            await check_failed_response(server)
            await check_dropped_connection(server)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Test a Realtime app against the fake server.")
    parser.add_argument(
        "--backend", choices=("trio", "asyncio"), default="trio", help="event loop (default: trio)"
    )
    anyio.run(main, backend=parser.parse_args().backend)
