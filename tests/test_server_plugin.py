"""The ``realtime_server`` pytest fixture, used the way a user's suite would use it."""

from __future__ import annotations

import anyio
import pytest
from test_server_helpers import connect, user_text

from realtime_anyio.testing import FakeRealtimeServer

pytest_plugins = ["pytester"]


async def test_fixture_serves_a_session(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.script.reply_text("Hi!")
    assert realtime_server.url.startswith("ws://127.0.0.1:")
    with anyio.fail_after(5):
        async with connect(realtime_server) as wire:
            await wire.send({"type": "conversation.item.create", "item": user_text("Hello")})
            await wire.send({"type": "response.create"})
            done = await wire.until("response.done")
    assert done["response"]["status"] == "completed"


@pytest.mark.realtime_server(api_key="sk-fixture-key-0000", session_duration=0.2)
async def test_marker_configures_the_server(realtime_server: FakeRealtimeServer) -> None:
    assert realtime_server.api_key == "sk-fixture-key-0000"
    with anyio.fail_after(5):
        async with connect(
            realtime_server, headers={"Authorization": "Bearer sk-fixture-key-0000"}
        ) as wire:
            assert (await wire.error())["code"] == "session_expired"


def test_plugin_works_in_a_fresh_suite(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
import pytest

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param
"""
    )
    pytester.makepyfile(
        """
import pytest
from realtime_anyio.testing import FakeRealtimeServer

@pytest.mark.anyio
async def test_uses_fixture(realtime_server):
    assert isinstance(realtime_server, FakeRealtimeServer)
    assert realtime_server.sessions == []
"""
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=2)
