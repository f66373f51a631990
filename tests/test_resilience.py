"""Reconnect and rollover (realtime_anyio.resilience) against the bundled server, both backends."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from realtime_anyio import (
    ConnectionClosed,
    GaveUp,
    Reconnecting,
    ReconnectPolicy,
    Restored,
    RolloverPolicy,
    SendInterrupted,
    SessionExpiring,
    open_resilient,
)
from realtime_anyio.events import (
    ConversationItemRetrieved,
    ResponseDone,
    SessionCreated,
    user_text,
)
from realtime_anyio.resilience import ResilientConnection
from realtime_anyio.testing import FakeRealtimeServer

FAST = ReconnectPolicy(base_delay=0.01, max_delay=0.05, max_attempts=5, deadline=10.0)


def _options(server: FakeRealtimeServer, **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-realtime",
        "websocket_base_url": server.url,
        "api_key": "k",
        "policy": FAST,
        "rollover": RolloverPolicy(before_expiry=None, warn_before=None),
        **extra,
    }


async def _next(conn: ResilientConnection, cls: type[Any]) -> Any:
    async for event in conn:
        if isinstance(event, cls):
            return event
    raise AssertionError(f"no {cls.__name__}")


async def test_drop_reconnects_and_restores_history(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.script.reply_text("Hello there")
    with anyio.fail_after(10):
        async with open_resilient(**_options(realtime_server)) as conn:
            assert isinstance(await conn.receive(), SessionCreated)
            await conn.session.update(
                session={"type": "realtime", "instructions": "Be brief."}, wait=True
            )
            await conn.conversation.item.create(item=user_text("Hi"), wait=True)
            await conn.response.create()
            done = await _next(conn, ResponseDone)
            answer_id = done.response.output[0].id
            first = realtime_server.sessions[0]
            await first.drop()
            reconnecting = await _next(conn, Reconnecting)
            assert reconnecting.attempt == 1
            restored = await _next(conn, Restored)
            assert not restored.rollover
            assert restored.replayed == {"message": 2}
            second = realtime_server.sessions[1]
            assert second.session["instructions"] == "Be brief."
            retrieved = await conn.conversation.item.retrieve(item_id=answer_id, wait=True)
            assert isinstance(retrieved, ConversationItemRetrieved)
            assert retrieved.item.content[0].text == "Hello there"
