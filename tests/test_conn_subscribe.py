"""Subscriptions: a second, bounded view of the events beside the app's own loop."""

from __future__ import annotations

import anyio

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
