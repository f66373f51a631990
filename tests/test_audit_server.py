"""Audit regressions for the fake server, found by probing it as an outside client would."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
import httpx
from test_server_helpers import connect, user_text

from realtime_anyio.testing import FakeRealtimeServer, TurnContext, choose_tool

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "Look up the weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city"],
    },
}


def _turn(text: str, *, tools: list[Any], tool_choice: Any = "auto") -> TurnContext:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return TurnContext(
        input=[item],
        conversation=[item],
        session={"tools": tools, "tool_choice": tool_choice},
        response={},
        turn=0,
    )


def test_choose_tool_by_mention_choice_and_none() -> None:
    hours = {"type": "function", "name": "openingHours", "parameters": {}}
    tools = [WEATHER_TOOL, hours]
    assert choose_tool(_turn("What's the weather in Paris?", tools=tools)) == WEATHER_TOOL
    assert choose_tool(_turn("When are your opening hours?", tools=tools)) == hours
    # Only verbs in common with the name: no call.
    assert choose_tool(_turn("Can you get me a coffee?", tools=tools)) is None
    assert choose_tool(_turn("Weather?", tools=tools, tool_choice="none")) is None
    assert choose_tool(_turn("Hello", tools=tools, tool_choice="required")) == WEATHER_TOOL
    forced = {"type": "function", "name": "openingHours"}
    assert choose_tool(_turn("Weather?", tools=tools, tool_choice=forced)) == hours
    assert choose_tool(_turn("Weather?", tools=[])) is None


async def test_default_responder_calls_a_mentioned_tool_then_reports_its_output() -> None:
    """With tools in the session and nothing scripted, a user message that asks for a tool
    gets a ``function_call`` (argument deltas and all); its output gets an answer."""
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server, connect(server) as wire:
            await wire.send(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "output_modalities": ["text"],
                        "tools": [WEATHER_TOOL],
                    },
                }
            )
            await wire.until("session.updated")
            question = user_text("What's the weather in Paris?")
            await wire.send({"type": "conversation.item.create", "item": question})
            await wire.send({"type": "response.create"})
            events = await wire.collect("response.done")
            kinds = [e["type"] for e in events]
            assert "response.function_call_arguments.delta" in kinds
            assert "response.content_part.added" not in kinds
            done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
            assert done["name"] == "get_weather"
            assert json.loads(done["arguments"]) == {"city": "Paris"}
            assert re.match(r"^call_[A-Za-z0-9]{16}$", done["call_id"])

            output = {
                "type": "function_call_output",
                "call_id": done["call_id"],
                "output": '{"forecast": "sunny"}',
            }
            await wire.send({"type": "conversation.item.create", "item": output})
            await wire.send({"type": "response.create"})
            answer = await wire.until("response.output_text.done")
            assert answer["text"] == 'The tool answered: {"forecast": "sunny"}'

            # A message that asks for no tool is still echoed.
            await wire.until("response.done")
            await wire.send({"type": "conversation.item.create", "item": user_text("Thanks!")})
            await wire.send({"type": "response.create"})
            echoed = await wire.until("response.output_text.done")
            assert echoed["text"] == "You said: Thanks!"


async def test_sideband_output_audio_buffer_clear_names_a_response() -> None:
    """``output_audio_buffer.cleared`` requires a ``response_id`` string: the fake used to send
    ``null`` when no response was active, which typed clients (ours included) cannot decode."""
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server:
            call_id = await server.rest.simulate_incoming_call()
            async with httpx.AsyncClient(base_url=server.http_url, trust_env=False) as http:
                response = await http.post(
                    f"/realtime/calls/{call_id}/accept",
                    headers={"Authorization": "Bearer k"},
                    json={"type": "realtime", "model": "gpt-realtime"},
                )
                assert response.status_code == 200, response.text
            async with connect(server, query=f"call_id={call_id}", created=False) as wire:
                # Nothing has played yet: an error naming the event, not a null response id.
                await wire.send({"type": "output_audio_buffer.clear", "event_id": "evt_c1"})
                error = await wire.error()
                assert (error["code"], error["event_id"]) == ("invalid_value", "evt_c1")

                server.script.reply_text("Hello caller.")
                await wire.send({"type": "response.create"})
                done = await wire.until("response.done")
                await wire.until("output_audio_buffer.stopped")
                await wire.send({"type": "output_audio_buffer.clear"})
                cleared = await wire.until("output_audio_buffer.cleared")
                assert cleared["response_id"] == done["response"]["id"]
                assert re.match(r"^event_[0-9a-f]{16}$", cleared["event_id"])


async def test_transcription_client_secret_opens_a_transcription_session() -> None:
    """A client secret issued for a transcription session is enough on its own (no ``model``,
    no ``intent``): the session starts as that transcription session, not ``missing_model``."""
    with anyio.fail_after(5):
        async with FakeRealtimeServer(api_key="sk-audit-key-0000") as server:
            async with httpx.AsyncClient(base_url=server.http_url, trust_env=False) as http:
                response = await http.post(
                    "/realtime/client_secrets",
                    headers={"Authorization": "Bearer sk-audit-key-0000"},
                    json={
                        "session": {
                            "type": "transcription",
                            "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
                        }
                    },
                )
                assert response.status_code == 200, response.text
                secret = response.json()["value"]
            headers = {"Authorization": f"Bearer {secret}"}
            async with connect(server, query="", headers=headers, created=False) as wire:
                created = await wire.recv()
                assert created["type"] == "session.created", created
                session = created["session"]
                assert session["type"] == "transcription"
                assert session["audio"]["input"]["transcription"]["model"] == "gpt-4o-transcribe"
