"""A phone agent for SIP calls.

A webhook receiver (Starlette, served by Hypercorn under the same backend as the rest: trio or
asyncio) verifies each ``realtime.call.incoming`` webhook, rejects blocked numbers, accepts the
other calls with a session configuration, attaches a WebSocket to each call with ``call_id``,
answers the model's tool calls, and hangs up when the model calls ``end_call``.

It needs Starlette and Hypercorn besides the base install::

    pip install 'realtime-anyio[examples]'

Self-contained demo (no network, no key): the bundled fake server plays the OpenAI side, sends
the webhook of a simulated incoming call, and scripts what the model says::

    python examples/sip_agent.py                    # trio
    python examples/sip_agent.py --backend asyncio

For real calls, expose the receiver over HTTPS, register ``https://…/webhooks/openai`` for
``realtime.call.incoming`` in your project's webhook settings, and run::

    export OPENAI_API_KEY=sk-… OPENAI_WEBHOOK_SECRET=whsec_…
    python examples/sip_agent.py --serve --port 8000
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import anyio
import anyio.abc
import httpx
import sniffio

try:
    from hypercorn.config import Config
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
except ImportError:
    raise SystemExit(
        "this example needs starlette and hypercorn: pip install 'realtime-anyio[examples]'"
    ) from None
from starlette.routing import Route

from realtime_anyio import NotFoundError, Realtime, RealtimeError, WebhookVerificationError
from realtime_anyio.events import (
    ResponseDone,
    ResponseFunctionCallArgumentsDone,
    ResponseOutputAudioTranscriptDone,
    ResponseOutputTextDone,
)
from realtime_anyio.webhooks import RealtimeCallIncoming, unwrap

# -- what the agent knows and can do ----------------------------------------------------------

INSTRUCTIONS = (
    "You answer the phone for Café Anyio. Greet the caller, answer questions about opening "
    "hours with the get_opening_hours tool, and call end_call once the caller is helped."
)

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "name": "get_opening_hours",
        "description": "Opening hours of the café for one day of the week.",
        "parameters": {
            "type": "object",
            "properties": {"day": {"type": "string", "description": "monday … sunday, or today"}},
            "required": ["day"],
        },
    },
    {
        "type": "function",
        "name": "end_call",
        "description": "Hang up once the conversation is over.",
        "parameters": {"type": "object", "properties": {}},
    },
]

HOURS = {day: "8:00-18:00" for day in ("monday", "tuesday", "wednesday", "thursday", "friday")}
HOURS.update(saturday="9:00-14:00", sunday="closed")


def get_opening_hours(day: str) -> dict[str, str]:
    if day == "today":
        day = datetime.now(timezone.utc).strftime("%A").lower()
    return {"day": day, "hours": HOURS.get(day.lower(), "unknown day")}


def session_for(caller: str | None) -> dict[str, Any]:
    """The session configuration for one call; per caller, if you like."""
    return {
        "type": "realtime",
        "model": "gpt-realtime",
        "instructions": INSTRUCTIONS + (f" The caller is {caller}." if caller else ""),
        "audio": {"output": {"voice": "marin"}},
        "tools": TOOLS,
    }


# -- one call ------------------------------------------------------------------------------------


#: Callers turned away with SIP 486 Busy Here (matched against the From header).
BLOCKED_NUMBERS = ("+19005550123",)


async def handle_call(rt: Realtime, call_id: str, caller: str | None) -> None:
    """Run one call; a failure ends this call only, never the receiver."""
    try:
        if caller is not None and any(number in caller for number in BLOCKED_NUMBERS):
            await rt.calls.reject(call_id, status_code=486)
            print(f"[{call_id}] rejected blocked caller {caller}")
            return
        await converse(rt, call_id, caller)
    except RealtimeError as exc:
        print(f"[{call_id}] call failed: {type(exc).__name__}: {exc}")


async def converse(rt: Realtime, call_id: str, caller: str | None) -> None:
    """Accept the call, run the conversation over a WebSocket attached to it, hang up."""
    await rt.calls.accept(call_id, session_for(caller))
    print(f"[{call_id}] accepted call from {caller or 'unknown caller'}")
    hang_up = False
    try:
        async with rt.connect(call_id=call_id) as conn:
            await conn.response.create()  # greet the caller
            async for event in conn:
                if isinstance(event, (ResponseOutputAudioTranscriptDone, ResponseOutputTextDone)):
                    said = getattr(event, "transcript", None) or getattr(event, "text", "")
                    print(f"[{call_id}] agent: {said}")
                elif isinstance(event, ResponseFunctionCallArgumentsDone):
                    if event.name == "end_call":
                        hang_up = True
                        output: object = {"ok": True}
                    elif event.name == "get_opening_hours":
                        output = get_opening_hours(**json.loads(event.arguments or "{}"))
                    else:
                        output = {"error": f"unknown tool {event.name}"}
                    print(f"[{call_id}] tool {event.name}({event.arguments}) -> {output}")
                    await conn.conversation.item.create(
                        item={
                            "type": "function_call_output",
                            "call_id": event.call_id,
                            "output": json.dumps(output),
                        }
                    )
                elif isinstance(event, ResponseDone):
                    if hang_up:
                        break
                    if any(item.type == "function_call" for item in event.response.output or ()):
                        await conn.response.create()  # let the model use the tool results
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            try:
                await rt.calls.hangup(call_id)
                print(f"[{call_id}] hung up")
            except NotFoundError:
                print(f"[{call_id}] the caller had already hung up")


# -- the webhook receiver --------------------------------------------------------------------


def build_app(
    rt: Realtime, webhook_secret: str, start_call: Callable[[str, str | None], None]
) -> Starlette:
    """A Starlette app with one route, ``POST /webhooks/openai``."""
    seen: set[str] = set()

    async def webhook(request: Request) -> Response:
        body = await request.body()  # the raw bytes: the signature covers them exactly
        try:
            event = unwrap(body, request.headers, webhook_secret)
        except WebhookVerificationError as exc:
            print(f"rejected webhook: {type(exc).__name__}: {exc}")
            return Response(status_code=400)
        message_id = request.headers["webhook-id"]
        if message_id in seen:  # a redelivery: already handled
            return Response(status_code=200)
        seen.add(message_id)
        if isinstance(event, RealtimeCallIncoming):
            start_call(event.data.call_id, event.data.sip_header("From"))
        return Response(status_code=200)  # answer fast; the call runs in its own task

    return Starlette(routes=[Route("/webhooks/openai", webhook, methods=["POST"])])


async def serve(app: Starlette, host: str, port: int, shutdown: anyio.Event) -> None:
    """Serve ``app`` with Hypercorn on the running backend until ``shutdown`` is set."""
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    shutdown_trigger: Callable[[], Awaitable[None]] = shutdown.wait
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve as hypercorn_serve
    else:
        from hypercorn.asyncio import serve as hypercorn_serve
    await hypercorn_serve(app, config, shutdown_trigger=shutdown_trigger)  # type: ignore[arg-type]


async def run_agent(
    rt: Realtime, webhook_secret: str, host: str, port: int, shutdown: anyio.Event
) -> None:
    """Receive webhooks until ``shutdown`` is set, then let the calls in progress finish."""
    async with anyio.create_task_group() as calls:

        def start_call(call_id: str, caller: str | None) -> None:
            calls.start_soon(handle_call, rt, call_id, caller, name=f"call {call_id}")

        await serve(build_app(rt, webhook_secret, start_call), host, port, shutdown)


# -- the self-contained demo -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def wait_until_listening(url: str) -> None:
    async with httpx.AsyncClient() as client:
        while True:
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                await anyio.sleep(0.02)


async def demo() -> None:
    from realtime_anyio.testing import FakeRealtimeServer, Reply, Script, ToolCall, TurnContext

    # The fake model: greet and look up today's hours, then tell them and end the call.
    def tell_hours(context: TurnContext) -> Reply:
        hours = json.loads(context.last_tool_output or "{}").get("hours", "unknown")
        return Reply.of(
            f"We're open {hours} today. Thanks for calling, goodbye!", ToolCall("end_call")
        )

    script = Script()
    script.reply(
        "Hello, Café Anyio! Let me check today's hours.",
        ToolCall("get_opening_hours", {"day": "today"}),
    )
    script.respond_with(tell_hours)

    webhook_secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    port = free_port()
    shutdown = anyio.Event()
    done = ""
    with anyio.fail_after(30):
        async with (
            FakeRealtimeServer(api_key="sk-demo", script=script) as server,
            Realtime(api_key="sk-demo", base_url=server.http_url) as rt,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(run_agent, rt, webhook_secret, "127.0.0.1", port, shutdown)
            await wait_until_listening(f"http://127.0.0.1:{port}/")
            call_id = await server.rest.simulate_incoming_call(
                webhook_url=f"http://127.0.0.1:{port}/webhooks/openai",
                webhook_secret=webhook_secret,
                sip_headers=[
                    ("From", '"Ada" <sip:+14155550100@example.test>'),
                    ("To", "<sip:+18005550199@sip.api.openai.com>"),
                ],
            )
            call = server.rest.calls[call_id]
            await call.ended.wait()  # the agent hangs up when the model calls end_call
            spam_id = await server.rest.simulate_incoming_call(
                webhook_url=f"http://127.0.0.1:{port}/webhooks/openai",
                webhook_secret=webhook_secret,
                sip_headers=[("From", "<sip:+19005550123@example.test>")],
            )
            spam = server.rest.calls[spam_id]
            await spam.ended.wait()  # rejected
            shutdown.set()
            if call.webhook_status != 200 or call.state != "ended" or call.session is None:
                raise SystemExit(f"demo failed: {call}")
            if spam.state != "rejected" or spam.reject_status_code != 486:
                raise SystemExit(f"demo failed: {spam}")
            done = (
                f"demo done: call {call_id} was accepted, answered with tools and hung up; "
                f"call {spam_id} from a blocked number was rejected"
            )
    print(done)


def main() -> None:
    parser = argparse.ArgumentParser(description="A phone agent for SIP calls.")
    parser.add_argument(
        "--backend", choices=("trio", "asyncio"), default="trio", help="event loop (default: trio)"
    )
    parser.add_argument("--serve", action="store_true", help="receive real webhooks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    if not args.serve:
        anyio.run(demo, backend=args.backend)
        return
    missing = [v for v in ("OPENAI_API_KEY", "OPENAI_WEBHOOK_SECRET") if not os.environ.get(v)]
    if missing:
        parser.exit(2, f"--serve needs {' and '.join(missing)} set (see the top of this file)\n")

    async def production() -> None:
        async with Realtime() as rt:  # OPENAI_API_KEY from the environment
            await run_agent(
                rt, os.environ["OPENAI_WEBHOOK_SECRET"], args.host, args.port, anyio.Event()
            )

    try:
        anyio.run(production, backend=args.backend)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
