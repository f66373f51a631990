"""Subscriptions: a second, bounded view of the events beside the app's own loop."""

from __future__ import annotations

import anyio
import pytest

from realtime_anyio import open_realtime
from realtime_anyio.events import ResponseDone, user_text
from realtime_anyio.testing import FakeRealtimeServer


async def test_subscribe_sees_events_beside_main_loop(realtime_server: FakeRealtimeServer) -> None:
    got: list[str] = []
    main: list[str] = []
    with anyio.fail_after(10):
        async with (
            open_realtime(model="m", websocket_base_url=realtime_server.url, api_key="k") as conn,
            conn.subscribe("response.created", ResponseDone) as sub,
            anyio.create_task_group() as tg,
        ):

            async def tap() -> None:
                async for ev in sub:
                    got.append(ev.type)
                    if ev.type == "response.done":
                        return

            tg.start_soon(tap)
            await conn.conversation.item.create(item=user_text("hi"))
            await conn.response.create()
            async for ev in conn:
                main.append(ev.type)
                if ev.type == "response.done":
                    break
    assert got == ["response.created", "response.done"]
    assert set(got) <= set(main)


async def test_history_is_folded_while_the_app_iterates(
    realtime_server: FakeRealtimeServer,
) -> None:
    with anyio.fail_after(10):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k", history=True
        ) as conn:
            await conn.conversation.item.create(item=user_text("hi"))
            await conn.response.create()
            async for event in conn:
                if event.type == "response.done":
                    break
            items = conn.history.items
            assert [item.role for item in items] == ["user", "assistant"]
            assert conn.history.usage.total_tokens > 0
            replay = conn.history.replay_events()
            assert len(replay) == 2


async def test_history_is_off_by_default(realtime_server: FakeRealtimeServer) -> None:
    with anyio.fail_after(10):
        async with open_realtime(
            model="m", websocket_base_url=realtime_server.url, api_key="k"
        ) as conn:
            with pytest.raises(RuntimeError, match="history=True"):
                conn.history  # noqa: B018
