"""Prompt cancellation while events are already buffered, and the cheap check behind it."""

from __future__ import annotations

import json
from collections.abc import Callable

import anyio
import anyio.lowlevel
import pytest
from test_conn_memory import connected, frame
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from realtime_anyio.events import UnknownServerEvent
from realtime_anyio.transport import WebSocketEngine, memory_byte_stream_pair
from realtime_anyio.transport._lowlevel import (  # pyright: ignore[reportPrivateUsage]
    CancelCheck,
    _always,  # pyright: ignore[reportPrivateUsage]
    cancel_probe,
)


def _oracle() -> bool:
    """anyio's own answer: is a cancel pending for the current task?"""
    return anyio.get_current_task().has_pending_cancellation()


async def test_the_probe_is_the_fast_one_on_asyncio_and_conservative_elsewhere(
    anyio_backend_name: str,
) -> None:
    probe = cancel_probe()
    if anyio_backend_name == "asyncio":
        # If anyio's internals change shape the fallback is taken: correct but slower, and
        # this test says so.
        assert probe is not _always
    else:
        assert probe is _always


async def test_the_probe_never_misses_a_pending_cancel(anyio_backend_name: str) -> None:
    probe = cancel_probe()
    seen: list[tuple[bool, bool]] = []

    def look() -> None:
        seen.append((probe(), _oracle()))

    look()
    with anyio.CancelScope() as outer:  # noqa: ASYNC100
        look()
        outer.cancel()
        look()
        with anyio.CancelScope(shield=True):  # noqa: ASYNC100
            look()
            with anyio.CancelScope() as inner:  # noqa: ASYNC100
                look()
                inner.cancel()
                look()
        look()
    look()
    with anyio.move_on_after(0):  # noqa: ASYNC100
        look()
    with anyio.move_on_after(100):  # noqa: ASYNC100
        look()

    async def child(cancel: Callable[[], None]) -> None:
        look()
        cancel()
        look()
        await anyio.sleep(10)

    async with anyio.create_task_group() as tg:
        tg.start_soon(child, tg.cancel_scope.cancel)
    async with anyio.create_task_group() as tg:
        await tg.start(_started, look)
        tg.cancel_scope.cancel()
    for fast, truth in seen:
        assert fast or not truth  # "maybe" is allowed, "no" when cancelled is not
    assert (True, True) in seen
    if anyio_backend_name == "asyncio":
        # Inside anyio's scopes the fast probe knows, rather than answering "maybe".
        assert seen[1:].count((True, False)) == 0


async def _started(look: Callable[[], None], *, task_status: anyio.abc.TaskStatus[None]) -> None:
    look()
    task_status.started()
    look()
    await anyio.sleep(10)


async def test_receive_stops_at_once_with_a_full_buffer() -> None:
    async with connected(receive_buffer=200) as (conn, peer):
        for i in range(100):
            await peer.send_text(frame({"type": "custom.event", "n": i}))
        await conn.wait_for(
            "custom.event",
            predicate=lambda e: isinstance(e, UnknownServerEvent) and e.payload.get("n") == 99,
        )
        assert conn.statistics().receive_buffer_used >= 50
        received = 0
        with anyio.CancelScope() as scope:
            while True:
                await conn.receive()
                received += 1
                if received == 3:
                    scope.cancel()
        assert received == 3
        with anyio.move_on_after(0):
            await conn.receive()
            received += 1
        assert received == 3
        # nothing was lost: the rest is still there
        rest = [await conn.receive() for _ in range(98)]
        last = rest[-1]
        assert isinstance(last, UnknownServerEvent)
        assert last.payload["n"] == 99


async def test_engine_receive_stops_at_once_with_buffered_messages() -> None:
    a, b = memory_byte_stream_pair()
    engine = WebSocketEngine(ClientProtocol(parse_uri("ws://x/"), state=State.OPEN), a)
    frames = [Frame(Opcode.TEXT, json.dumps({"n": i}).encode()) for i in range(10)]
    await b.send(b"".join(f.serialize(mask=False) for f in frames))
    await engine.receive_message()  # one read brings all ten in
    with anyio.CancelScope() as scope:
        scope.cancel()
        await engine.receive_message()
        pytest.fail("a buffered message was returned to a cancelled caller")
    assert json.loads(bytes((await engine.receive_message()).data)) == {"n": 1}
    await engine.abort()
    await b.aclose()


async def test_cancel_check_looks_its_functions_up_on_first_use(anyio_backend_name: str) -> None:
    check = CancelCheck()
    assert check.probe()  # the first call looks the functions up and answers "maybe"
    await check.checkpoint()
    with anyio.CancelScope():  # noqa: ASYNC100 - a task anyio knows (as inside open_realtime's block)
        assert check.probe() is (anyio_backend_name != "asyncio")
    with anyio.CancelScope() as scope:
        scope.cancel()
        assert check.probe()
        await check.checkpoint()
        pytest.fail("not cancelled")
