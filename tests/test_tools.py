"""Function tools: declaration and schemas (plain tests), and the dispatch loop end to end
against the bundled server and an in-memory peer, on both backends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import anyio
import anyio.lowlevel
import msgspec
import pytest

from realtime_anyio import RealtimeConnection, open_realtime
from realtime_anyio.events import (
    ConversationItemAdded,
    FunctionCallOutputItem,
    McpApprovalResponseItem,
    McpTool,
    ResponseDone,
    SessionUpdated,
    decode_client_event,
    user_text,
)
from realtime_anyio.testing import FakeRealtimeServer, Say, ToolCall
from realtime_anyio.tools import (
    ToolDispatcher,
    ToolFailure,
    ToolFunction,
    function_tool,
)
from realtime_anyio.transport import MemoryPeer, memory_transport_pair


class Place(msgspec.Struct):
    """Where to look."""

    city: str
    country: str | None = None


class Forecast(msgspec.Struct):
    city: str
    celsius: float


@function_tool
async def get_weather(place: Place) -> Forecast:
    """The current weather in a city."""
    await anyio.lowlevel.checkpoint()
    return Forecast(place.city, 21.5)


@function_tool(name="add_numbers", timeout=5)
def add(a: int, b: Annotated[int, msgspec.Meta(description="the second term")] = 1) -> int:
    """Add two integers."""
    return a + b


def test_schema_from_a_struct_parameter() -> None:
    assert get_weather.name == "get_weather"
    assert get_weather.description == "The current weather in a city."
    assert get_weather.parameters == {
        "type": "object",
        "description": "Where to look.",
        "properties": {
            "city": {"type": "string"},
            "country": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        },
        "required": ["city"],
    }
    assert get_weather.decode('{"city": "Paris"}') == {"place": Place("Paris")}
    assert get_weather.is_async


def test_schema_from_typed_parameters() -> None:
    definition = add.definition
    assert definition.name == "add_numbers"
    assert definition.description == "Add two integers."
    assert definition.parameters == {
        "type": "object",
        "properties": {
            "a": {"type": "integer"},
            "b": {"type": "integer", "description": "the second term", "default": 1},
        },
        "required": ["a"],
    }
    assert add.decode('{"a": 2}') == {"a": 2, "b": 1}
    with pytest.raises(msgspec.ValidationError):
        add.decode('{"a": "two"}')
    assert not add.is_async


class Inner(msgspec.Struct):
    unit: Literal["c", "f"] = "c"


def nested(where: str, inner: Inner) -> str:
    return where


def test_nested_types_go_to_defs_and_dispatcher_lists_session_tools() -> None:
    tool = ToolFunction(nested, description="Nested.")
    assert tool.parameters["properties"]["inner"] == {"$ref": "#/$defs/Inner"}
    assert tool.parameters["$defs"]["Inner"]["properties"]["unit"]["enum"] == ["c", "f"]
    mcp = McpTool(server_label="docs", server_url="https://example.invalid/mcp")
    dispatcher = ToolDispatcher([get_weather, add, nested], mcp=[mcp])
    assert [t.name for t in dispatcher.definitions()] == ["get_weather", "add_numbers", "nested"]
    assert dispatcher.session_tools()[-1] is mcp
    with pytest.raises(ValueError, match="two tools"):
        ToolDispatcher([add, add])
    with pytest.raises(ValueError):
        function_tool(on_interrupt="later")(nested)  # type: ignore[arg-type]


async def test_invoke_encodes_results() -> None:
    assert await get_weather.invoke('{"city": "Oslo"}') == '{"city":"Oslo","celsius":21.5}'
    assert await add.invoke('{"a": 1, "b": 2}') == "3"


# -- end to end against the bundled server ------------------------------------------------------


@asynccontextmanager
async def session_with(
    server: FakeRealtimeServer, dispatcher: ToolDispatcher
) -> AsyncIterator[tuple[RealtimeConnection, anyio.abc.TaskGroup]]:
    async with (
        open_realtime(model="m", websocket_base_url=server.url, api_key="k") as conn,
        anyio.create_task_group() as tg,
    ):
        tools = [msgspec.to_builtins(t) for t in dispatcher.session_tools()]
        await conn.session.update(
            session={"type": "realtime", "output_modalities": ["text"], "tools": tools},
            wait=True,
        )
        await tg.start(dispatcher.run, conn)
        yield conn, tg
        tg.cancel_scope.cancel()


async def outputs_and_responses(conn: RealtimeConnection, responses: int) -> dict[str, str]:
    """Read until ``responses`` responses are done; the outputs sent meanwhile, by call id."""
    outputs: dict[str, str] = {}
    done = 0
    async for event in conn:
        if isinstance(event, ConversationItemAdded) and isinstance(
            event.item, FunctionCallOutputItem
        ):
            outputs[event.item.call_id] = event.item.output
        if isinstance(event, ResponseDone):
            done += 1
            if done == responses:
                break
    return outputs


async def test_concurrent_calls_then_one_follow_up(realtime_server: FakeRealtimeServer) -> None:
    running = 0
    peak = 0

    async def slow_lookup(key: str) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.3)
        running -= 1
        return f"value of {key}"

    lookup = ToolFunction(slow_lookup)
    dispatcher = ToolDispatcher([lookup, get_weather, add])
    realtime_server.script.reply(
        ToolCall("slow_lookup", {"key": "a"}, call_id="call_a"),
        ToolCall("slow_lookup", {"key": "b"}, call_id="call_b"),
        ToolCall("add_numbers", {"a": 2, "b": 3}, call_id="call_c"),
        ToolCall("get_weather", {"city": "Lima"}, call_id="call_d"),
    )
    realtime_server.script.reply("All done.")
    with anyio.fail_after(10):
        async with session_with(realtime_server, dispatcher) as (conn, _):
            await conn.conversation.item.create(item=user_text("Look things up"))
            started = anyio.current_time()
            await conn.response.create()
            outputs = await outputs_and_responses(conn, 2)
            elapsed = anyio.current_time() - started
            # The answer asked nothing of the client: no response follows it.
            with anyio.move_on_after(0.3):
                extra = await conn.wait_for("response.created")
                pytest.fail(f"unexpected {extra}")
    assert outputs == {
        "call_a": "value of a",
        "call_b": "value of b",
        "call_c": "5",
        "call_d": '{"city":"Lima","celsius":21.5}',
    }
    assert peak == 2 and elapsed < 0.55
    stats = dispatcher.statistics()
    assert (stats.calls, stats.succeeded, stats.outputs_sent) == (4, 4, 4)
    assert stats.responses_created == 1


async def test_failures_become_outputs_and_the_session_goes_on(
    realtime_server: FakeRealtimeServer,
) -> None:
    def broken(x: int) -> str:
        raise RuntimeError(f"disk full at {x}")

    def wording(failure: ToolFailure) -> str:
        return f"{failure.kind}: {failure.name}"

    dispatcher = ToolDispatcher([ToolFunction(broken), add], error_output=wording)
    realtime_server.script.reply(
        ToolCall("broken", {"x": 1}, call_id="call_1"),
        ToolCall("missing", {}, call_id="call_2"),
        ToolCall("add_numbers", '{"a": "seven"}', call_id="call_3"),
        ToolCall("add_numbers", "not json", call_id="call_4"),
    )
    realtime_server.script.reply("Sorry about that.")
    with anyio.fail_after(10):
        async with session_with(realtime_server, dispatcher) as (conn, _):
            await conn.conversation.item.create(item=user_text("Go"))
            await conn.response.create()
            outputs = await outputs_and_responses(conn, 2)
    assert outputs == {
        "call_1": "error: broken",
        "call_2": "unknown_tool: missing",
        "call_3": "bad_arguments: add_numbers",
        "call_4": "bad_arguments: add_numbers",
    }
    assert dispatcher.statistics().failed == 4
    assert dispatcher.statistics().responses_created == 1


async def test_slow_tools_hit_their_deadline(realtime_server: FakeRealtimeServer) -> None:
    thread_done = threading.Event()

    async def hang() -> str:
        await anyio.sleep(30)
        return "never"

    def block() -> str:
        time.sleep(0.6)
        thread_done.set()
        return "late"

    dispatcher = ToolDispatcher([ToolFunction(hang, timeout=0.2), ToolFunction(block, timeout=0.2)])
    realtime_server.script.reply(
        ToolCall("hang", call_id="call_h"), ToolCall("block", call_id="call_b")
    )
    realtime_server.script.reply("Those timed out.")
    with anyio.fail_after(10):
        async with session_with(realtime_server, dispatcher) as (conn, _):
            await conn.conversation.item.create(item=user_text("Go"))
            started = anyio.current_time()
            await conn.response.create()
            outputs = await outputs_and_responses(conn, 2)
            # Both answered at the deadline, before the thread ended.
            assert anyio.current_time() - started < 0.55
            assert not thread_done.is_set()
    # Leaving the block waited for the thread: nothing outlives the dispatcher.
    assert thread_done.is_set()
    for call_id in ("call_h", "call_b"):
        assert json.loads(outputs[call_id])["error"] == "timeout"
    assert dispatcher.statistics().timed_out == 2


@pytest.mark.realtime_server(pacing="realtime")
async def test_barge_in_during_tool_calls(realtime_server: FakeRealtimeServer) -> None:
    started = {"book": anyio.Event(), "search": anyio.Event()}
    release = anyio.Event()
    finished: list[str] = []
    search_cancelled = anyio.Event()

    async def book_table(time: str) -> str:
        """Has a side effect: must finish even if the user interrupts."""
        started["book"].set()
        await release.wait()
        finished.append("book")
        return f"booked at {time}"

    async def search(query: str) -> str:
        """Read-only: safe to drop."""
        started["search"].set()
        try:
            await anyio.sleep(30)
        finally:
            search_cancelled.set()
        return "results"

    dispatcher = ToolDispatcher(
        [ToolFunction(book_table), ToolFunction(search, on_interrupt="cancel")]
    )
    realtime_server.script.reply(
        ToolCall("book_table", {"time": "8pm"}, call_id="call_book"),
        ToolCall("search", {"query": "menus"}, call_id="call_search"),
        Say("Let me tell you a long story while those run. " * 10),
    )
    with anyio.fail_after(10):
        async with session_with(realtime_server, dispatcher) as (conn, _):
            await conn.conversation.item.create(item=user_text("Book and search"))
            await conn.response.create()
            await started["book"].wait()
            await started["search"].wait()
            await conn.response.cancel()  # the user barged in
            outputs: dict[str, str] = {}
            async for event in conn:
                if isinstance(event, ResponseDone):
                    assert event.response.status == "cancelled"
                    release.set()
                if isinstance(event, ConversationItemAdded) and isinstance(
                    event.item, FunctionCallOutputItem
                ):
                    outputs[event.item.call_id] = event.item.output
                    if len(outputs) == 2:
                        break
            # No new response follows the outputs of an interrupted response.
            with anyio.move_on_after(0.3):
                event = await conn.wait_for("response.created")
                pytest.fail(f"unexpected {event}")
    assert search_cancelled.is_set()
    assert finished == ["book"]
    assert outputs["call_book"] == "booked at 8pm"
    assert json.loads(outputs["call_search"])["error"] == "cancelled"
    stats = dispatcher.statistics()
    assert (stats.succeeded, stats.cancelled, stats.responses_created) == (1, 1, 0)


async def test_cancelling_the_dispatcher_leaves_nothing_running(
    realtime_server: FakeRealtimeServer,
) -> None:
    entered = anyio.Event()
    exited = anyio.Event()
    thread_started = threading.Event()
    thread_done = threading.Event()

    async def forever() -> str:
        entered.set()
        try:
            await anyio.sleep(30)
        finally:
            exited.set()
        return ""

    def blocking() -> str:
        thread_started.set()
        time.sleep(0.3)
        thread_done.set()
        return ""

    dispatcher = ToolDispatcher([ToolFunction(forever), ToolFunction(blocking)])
    realtime_server.script.reply(ToolCall("forever"), ToolCall("blocking"))
    with anyio.fail_after(10):
        async with session_with(realtime_server, dispatcher) as (conn, tg):
            await conn.conversation.item.create(item=user_text("Go"))
            await conn.response.create()
            await entered.wait()
            assert await anyio.to_thread.run_sync(thread_started.wait, 5)
            tg.cancel_scope.cancel()
    assert exited.is_set()
    assert thread_done.is_set()
    assert dispatcher.statistics().outputs_sent == 0


async def test_calls_of_out_of_band_responses_are_not_run(
    realtime_server: FakeRealtimeServer,
) -> None:
    dispatcher = ToolDispatcher([add])
    realtime_server.script.reply(ToolCall("add_numbers", {"a": 1}))
    with anyio.fail_after(10):
        async with session_with(realtime_server, dispatcher) as (conn, _):
            await conn.response.create(response={"conversation": "none"})
            await conn.wait_for("response.done")
            await conn.conversation.item.create(item=user_text("still here"), wait=True)
    assert dispatcher.statistics().ignored_calls == 1
    assert dispatcher.statistics().calls == 0


# -- an in-memory peer plays the service ------------------------------------------------------


def frame(obj: dict[str, Any]) -> str:
    return json.dumps(obj)


async def next_client_event(peer: MemoryPeer) -> dict[str, Any]:
    return json.loads(await peer.receive())


def output_item_done(response_id: str, item: dict[str, Any]) -> str:
    return frame(
        {
            "type": "response.output_item.done",
            "event_id": "e",
            "response_id": response_id,
            "output_index": 0,
            "item": item,
        }
    )


def response_event(kind: str, response_id: str, status: str) -> str:
    return frame(
        {
            "type": kind,
            "event_id": "e",
            "response": {"id": response_id, "status": status, "conversation_id": "conv_1"},
        }
    )


def item_added(event: dict[str, Any]) -> str:
    return frame({"type": "conversation.item.added", "event_id": "e", "item": event["item"]})


@asynccontextmanager
async def memory_session(
    dispatcher: ToolDispatcher,
) -> AsyncIterator[tuple[RealtimeConnection, MemoryPeer]]:
    client, peer = memory_transport_pair()

    async def factory(request: Any) -> Any:
        return client

    await peer.send_text(
        frame({"type": "session.created", "event_id": "e", "session": {"type": "realtime"}})
    )
    try:
        async with (
            open_realtime(model="m", api_key="k", transport=factory) as conn,
            anyio.create_task_group() as tg,
        ):
            await tg.start(dispatcher.run, conn)
            tg.start_soon(drain, conn)
            yield conn, peer
            tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await peer.aclose()
            await client.aclose()


async def drain(conn: RealtimeConnection) -> None:
    async for _ in conn:
        pass


async def test_mcp_approval_requests_answered_by_policy() -> None:
    asked: list[str] = []

    async def policy(request: Any) -> bool:
        asked.append(request.name)
        return request.name == "search_docs"

    dispatcher = ToolDispatcher(mcp_approval=policy)
    with anyio.fail_after(5):
        async with memory_session(dispatcher) as (_, peer):
            await peer.send_text(response_event("response.created", "resp_1", "in_progress"))
            for request_id, name in (("mcpr_1", "search_docs"), ("mcpr_2", "delete_repo")):
                await peer.send_text(
                    output_item_done(
                        "resp_1",
                        {
                            "id": request_id,
                            "type": "mcp_approval_request",
                            "server_label": "docs",
                            "name": name,
                            "arguments": "{}",
                        },
                    )
                )
            await peer.send_text(response_event("response.done", "resp_1", "completed"))
            answers: dict[str, bool] = {}
            while True:
                event = await next_client_event(peer)
                typed = decode_client_event(json.dumps(event))
                if event["type"] == "conversation.item.create":
                    item = typed.item  # type: ignore[union-attr]
                    assert isinstance(item, McpApprovalResponseItem)
                    answers[item.approval_request_id] = item.approve
                    await peer.send_text(item_added(event))
                elif event["type"] == "response.create":
                    assert len(answers) == 2
                    break
    assert answers == {"mcpr_1": True, "mcpr_2": False}
    assert sorted(asked) == ["delete_repo", "search_docs"]


async def test_active_response_refusal_is_not_fatal() -> None:
    dispatcher = ToolDispatcher([add])
    call = {
        "id": "item_c",
        "type": "function_call",
        "status": "completed",
        "name": "add_numbers",
        "call_id": "call_1",
        "arguments": '{"a": 1}',
    }
    with anyio.fail_after(5):
        async with memory_session(dispatcher) as (conn, peer):
            await peer.send_text(response_event("response.created", "resp_1", "in_progress"))
            await peer.send_text(output_item_done("resp_1", call))
            await peer.send_text(response_event("response.done", "resp_1", "completed"))
            while True:
                event = await next_client_event(peer)
                if event["type"] == "conversation.item.create":
                    assert event["item"]["output"] == "2"
                    await peer.send_text(item_added(event))
                elif event["type"] == "response.create":
                    await peer.send_text(
                        frame(
                            {
                                "type": "error",
                                "event_id": "e",
                                "error": {
                                    "type": "invalid_request_error",
                                    "code": "conversation_already_has_active_response",
                                    "message": "Conversation already has an active response",
                                    "event_id": event["event_id"],
                                },
                            }
                        )
                    )
                    break
            while dispatcher.statistics().responses_refused == 0:  # noqa: ASYNC110
                await anyio.sleep(0.01)
            # The connection and the dispatcher go on.
            await conn.session.update(session={"type": "realtime"})
            assert json.loads(await peer.receive())["type"] == "session.update"
    assert dispatcher.statistics().outputs_sent == 1


async def test_session_keeps_mcp_tools_typed(realtime_server: FakeRealtimeServer) -> None:
    mcp = McpTool(server_label="docs", server_url="https://example.invalid/mcp")
    dispatcher = ToolDispatcher([add], mcp=[mcp])
    with anyio.fail_after(10):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            from realtime_anyio.events import RealtimeSession

            reply = await conn.session.update(
                session=RealtimeSession(tools=dispatcher.session_tools()), wait=True
            )
    assert isinstance(reply, SessionUpdated)
    tools = reply.session.tools  # type: ignore[union-attr]
    assert isinstance(tools, list)
    assert tools[-1] == mcp
