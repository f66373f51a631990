"""pytest plugin of realtime_anyio: the ``realtime_server`` fixture.

Installed with the package (entry point ``pytest11``), so any suite that has realtime_anyio
installed can use it. The fixture is async and runs under anyio's pytest plugin, on whichever
backend the test uses (``anyio_backend``). Configure the server per test with the
``realtime_server`` marker, whose keyword arguments go to :class:`FakeRealtimeServer`::

    @pytest.mark.realtime_server(api_key="sk-test", pacing="realtime")
    async def test_something(realtime_server: FakeRealtimeServer) -> None: ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ._server import FakeRealtimeServer

__all__ = ["realtime_server"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "realtime_server(**options): options for the realtime_server fixture "
        "(keyword arguments of realtime_anyio.testing.FakeRealtimeServer)",
    )


@pytest.fixture
async def realtime_server(
    request: pytest.FixtureRequest, anyio_backend: Any
) -> AsyncIterator[FakeRealtimeServer]:
    """A running :class:`FakeRealtimeServer` on 127.0.0.1, closed after the test.

    ``realtime_server.url`` is the ``websocket_base_url`` and ``realtime_server.http_url`` the
    REST ``base_url``; ``realtime_server.script`` holds the replies.

    Cancellation: the server is shut down (connected clients get close 1001).
    """
    options: dict[str, Any] = {}
    marker = request.node.get_closest_marker("realtime_server")
    if marker is not None:
        options.update(marker.kwargs)
    async with FakeRealtimeServer(**options) as server:
        yield server
