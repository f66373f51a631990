"""A resilient session over wss:// (a trustme CA on 127.0.0.1): a TLS front forwards each
connection to the bundled server; the session survives a drop and a rollover, both backends."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import anyio
import anyio.abc
import pytest
import trustme
from anyio.streams.tls import TLSListener

from realtime_anyio import Reconnecting, ReconnectPolicy, Restored, RolloverPolicy, open_resilient
from realtime_anyio.events import ConversationItemRetrieved, SessionCreated, user_text
from realtime_anyio.testing import FakeRealtimeServer
from tests.test_conn_tls import client_context

FAST = ReconnectPolicy(base_delay=0.01, max_delay=0.05, max_attempts=5, deadline=10.0)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def _pipe(source: anyio.abc.ByteStream, sink: anyio.abc.ByteStream) -> None:
    try:
        async for chunk in source:
            await sink.send(chunk)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, ssl.SSLError, OSError):
        pass


@asynccontextmanager
async def tls_front(ca: trustme.CA, server: FakeRealtimeServer) -> AsyncIterator[str]:
    """Terminates TLS and forwards the bytes to the bundled server; when either side ends, the
    other is closed at once (a drop on the server is a drop over TLS)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    backend_port = urlsplit(server.url).port
    assert backend_port is not None
    listener = TLSListener(
        await anyio.create_tcp_listener(local_host="127.0.0.1"),
        context,
        standard_compatible=False,
    )
    port = listener.listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(client: anyio.abc.ByteStream) -> None:
        backend = await anyio.connect_tcp("127.0.0.1", backend_port)
        async with anyio.create_task_group() as tg:

            async def one_way(a: anyio.abc.ByteStream, b: anyio.abc.ByteStream) -> None:
                await _pipe(a, b)
                tg.cancel_scope.cancel()

            tg.start_soon(one_way, client, backend)
            tg.start_soon(one_way, backend, client)
        await anyio.aclose_forcefully(backend)
        await anyio.aclose_forcefully(client)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield f"wss://127.0.0.1:{port}/v1"
        finally:
            tg.cancel_scope.cancel()


async def test_reconnect_and_rollover_over_tls(
    ca: trustme.CA, realtime_server: FakeRealtimeServer
) -> None:
    realtime_server.script.reply_text("Hello there")
    with anyio.fail_after(20):
        async with tls_front(ca, realtime_server) as url:
            options: dict[str, Any] = {
                "model": "gpt-realtime",
                "websocket_base_url": url,
                "api_key": "k",
                "ssl_context": client_context(ca),
                "policy": FAST,
                "rollover": RolloverPolicy(before_expiry=None, warn_before=None),
            }
            async with open_resilient(**options) as conn:
                assert isinstance(await conn.receive(), SessionCreated)
                created = await conn.conversation.item.create(item=user_text("Hi"), wait=True)
                item_id = created.item.id
                assert isinstance(item_id, str)
                await realtime_server.sessions[0].drop()
                seen: list[object] = []
                async for event in conn:
                    seen.append(event)
                    if isinstance(event, Restored):
                        break
                assert any(isinstance(e, Reconnecting) for e in seen)
                rolled = await conn.rollover()
                assert rolled.rollover and rolled.replayed == {"user_text": 1}
                retrieved = await conn.conversation.item.retrieve(item_id=item_id, wait=True)
                assert isinstance(retrieved, ConversationItemRetrieved)
                assert len(realtime_server.sessions) == 3
                assert conn.statistics().reconnects == 1
