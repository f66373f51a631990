"""A resilient session against independent peers: a `websockets` server and a trio-websocket
server (tests/peers.py), each a minimal Realtime imitation written here, with no code shared
with the bundled server. The first connection closes with 1011 after the first item; the
session reconnects to the same peer and restores the configuration and the item there."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import trio_websocket
from peers import trio_websocket_peer, websockets_peer
from websockets.asyncio.server import ServerConnection

from realtime_anyio import Reconnecting, ReconnectPolicy, Restored, RolloverPolicy, open_resilient
from realtime_anyio.events import SessionCreated, user_text

FAST = ReconnectPolicy(base_delay=0.01, max_delay=0.05, max_attempts=5, deadline=10.0)
CREATED = {"type": "session.created", "session": {"type": "realtime", "id": "sess_peer"}}


class Imitation:
    """Answers session.update and conversation.item.create as the service does; closes the
    first connection with 1011 once it has answered one item."""

    def __init__(self) -> None:
        self.connections: list[list[dict[str, Any]]] = []

    def answer(self, raw: str | bytes) -> tuple[list[str], bool]:
        """The frames to send back for one client frame, and whether to close with 1011."""
        event = json.loads(raw)
        self.connections[-1].append(event)
        kind = event.get("type")
        if kind == "session.update":
            session = {"type": "realtime", **event["session"]}
            return [json.dumps({"type": "session.updated", "session": session})], False
        if kind == "conversation.item.create":
            # The service names an item the client did not name.
            item = {"id": f"item_peer_{sum(map(len, self.connections))}", **event["item"]}
            item["status"] = "completed"
            added = {
                "type": "conversation.item.added",
                "previous_item_id": event.get("previous_item_id"),
                "item": item,
            }
            done = {**added, "type": "conversation.item.done"}
            first = len(self.connections) == 1
            return [json.dumps(added), json.dumps(done)], first
        return [], False

    def websockets_handler(self) -> Callable[[ServerConnection], Awaitable[None]]:
        async def handler(ws: ServerConnection) -> None:
            self.connections.append([])
            await ws.send(json.dumps(CREATED))
            async for message in ws:
                frames, close = self.answer(message)
                for frame in frames:
                    await ws.send(frame)
                if close:
                    await ws.close(1011, "internal error")
                    return

        return handler

    def trio_handler(self) -> Callable[[trio_websocket.WebSocketConnection], Awaitable[None]]:
        async def handler(ws: trio_websocket.WebSocketConnection) -> None:
            self.connections.append([])
            await ws.send_message(json.dumps(CREATED))
            while True:
                frames, close = self.answer(await ws.get_message())
                for frame in frames:
                    await ws.send_message(frame)
                if close:
                    await ws.aclose(code=1011, reason="internal error")
                    return

        return handler


async def survive(url: str) -> None:
    options: dict[str, Any] = {
        "model": "gpt-realtime",
        "websocket_base_url": url,
        "api_key": "k",
        "policy": FAST,
        "rollover": RolloverPolicy(before_expiry=None, warn_before=None),
        "ping_interval": None,
    }
    with anyio.fail_after(15):
        async with open_resilient(**options) as conn:
            assert isinstance(await conn.receive(), SessionCreated)
            await conn.session.update(
                session={"type": "realtime", "instructions": "Be brief."}, wait=True
            )
            await conn.conversation.item.create(item=user_text("Remember 7."), event_id="e1")
            seen: list[object] = []
            async for event in conn:
                seen.append(event)
                if isinstance(event, Restored):
                    break
            reconnecting = [e for e in seen if isinstance(e, Reconnecting)]
            assert reconnecting and "1011" in reconnecting[0].reason
            restored = seen[-1]
            assert isinstance(restored, Restored) and not restored.rollover
            assert restored.replayed == {"user_text": 1}
            assert conn.statistics().reconnects == 1


@pytest.mark.parametrize("peer", ["websockets", "trio-websocket"])
async def test_a_resilient_session_survives_an_independent_peers_1011(peer: str) -> None:
    imitation = Imitation()
    if peer == "websockets":
        with websockets_peer(imitation.websockets_handler(), ping_interval=None) as (url, _):
            await survive(url)
    else:
        with trio_websocket_peer(imitation.trio_handler()) as url:
            await survive(url)
    first, second = imitation.connections[:2]
    # The new session got the configuration back, then the item with its own id.
    kinds = [event["type"] for event in second]
    assert kinds[:2] == ["session.update", "conversation.item.create"]
    assert second[0]["session"]["instructions"] == "Be brief."
    # The first session named the item (the client did not); the restore keeps that name.
    assert "id" not in first[1]["item"]
    assert second[1]["item"]["id"] == "item_peer_2"
    assert second[1]["item"]["content"] == [{"type": "input_text", "text": "Remember 7."}]
