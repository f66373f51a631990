"""The REST endpoints over real HTTP on 127.0.0.1, served by FakeRealtimeServer on its
WebSocket port, on both backends."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketStream

from realtime_anyio import (
    AuthenticationError,
    ConflictError,
    ConnectionClosed,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)
from realtime_anyio._client import Realtime
from realtime_anyio.events import RealtimeSession, TranscriptionSession
from realtime_anyio.testing import FakeRealtimeServer
from realtime_anyio.webhooks import RealtimeCallIncoming, unwrap

pytestmark = pytest.mark.anyio

KEY = "sk-test-server-0123456789"
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


@asynccontextmanager
async def serving(**options: Any) -> AsyncIterator[tuple[FakeRealtimeServer, Realtime]]:
    async with FakeRealtimeServer(api_key=KEY) as server:
        base_url = server.url.replace("ws://", "http://", 1)
        assert base_url == server.http_url
        async with Realtime(api_key=KEY, base_url=base_url, **options) as rt:
            yield server, rt


async def test_client_secrets_over_http() -> None:
    with anyio.fail_after(10):
        async with serving() as (server, rt):
            secret = await rt.client_secrets.create(
                session={"type": "realtime", "model": "gpt-realtime", "instructions": "Hi."},
                expires_after=30,
            )
            transcription = await rt.client_secrets.create(session={"type": "transcription"})
            translation = await rt.client_secrets.create_translation(
                session={"model": "gpt-realtime-translate"}
            )
    assert secret.value.startswith("ek_") and secret.value in server.rest.secrets
    assert isinstance(secret.session, RealtimeSession)
    assert secret.session.instructions == "Hi."
    assert isinstance(transcription.session, TranscriptionSession)
    assert translation.session.model == "gpt-realtime-translate"
    assert secret.http_response.http_version == "HTTP/1.1"
    assert secret.request_id is not None and secret.request_id.startswith("req_")
    assert server.rest.requests[0].path == "/v1/realtime/client_secrets"


async def test_wrong_key_over_http() -> None:
    with anyio.fail_after(10):
        async with (
            FakeRealtimeServer(api_key=KEY) as server,
            Realtime(api_key="sk-wrong-999999999", base_url=server.http_url) as rt,
        ):
            with pytest.raises(AuthenticationError) as info:
                await rt.client_secrets.create()
    assert info.value.status_code == 401
    assert info.value.error_code == "invalid_api_key"
    assert "sk-wrong-999999999" not in str(info.value)


async def test_webrtc_call_over_http() -> None:
    with anyio.fail_after(10):
        async with serving() as (server, rt):
            secret = await rt.client_secrets.create(session={"type": "realtime"})
            async with Realtime(api_key=secret.value, base_url=server.http_url) as browser:
                call = await browser.calls.create(OFFER)
            assert server.rest.is_known_call(call.call_id)
            multipart = await rt.calls.create(OFFER, session={"type": "realtime"})
            await rt.calls.hangup(call.call_id)
            await rt.calls.hangup(multipart.call_id)
    assert call.sdp.startswith("v=0")
    assert call.http_response.status_code == 201
    assert call.location.endswith(call.call_id)
    assert not server.rest.is_known_call(call.call_id)


async def test_sip_call_state_over_http() -> None:
    with anyio.fail_after(10):
        async with serving() as (server, rt):
            with pytest.raises(NotFoundError):
                await rt.calls.accept("rtc_unknown")
            call_id = await server.rest.simulate_incoming_call()
            await rt.calls.accept(call_id, instructions="Answer the phone.")
            assert server.rest.is_known_call(call_id)
            with pytest.raises(ConflictError):
                await rt.calls.accept(call_id)
            await rt.calls.refer(call_id, target_uri="sip:agent@example.test")
            with pytest.raises(NotFoundError):
                await rt.calls.hangup(call_id)
            rejected = await server.rest.simulate_incoming_call()
            await rt.calls.reject(rejected, status_code=486)
    assert server.rest.calls[call_id].state == "referred"
    assert server.rest.calls[rejected].reject_status_code == 486


async def test_retries_over_http() -> None:
    with anyio.fail_after(10):
        async with serving(max_retries=3) as (server, rt):
            server.rest.fail_next(2, status=503, retry_after_ms=20)
            secret = await rt.client_secrets.create()
            server.rest.fail_next(1, status=429, retry_after=0.05)
            call_id = await server.rest.simulate_incoming_call()
            await rt.calls.accept(call_id)  # 429: refused before acting, so retried
            server.rest.fail_next(1, status=500)
            with pytest.raises(InternalServerError):
                await rt.calls.hangup("rtc_x", max_retries=0)
            server.rest.fail_next(5, status=429, retry_after=0)
            with pytest.raises(RateLimitError):
                await rt.client_secrets.create(max_retries=1)
    assert secret.value.startswith("ek_")
    assert server.rest.calls[call_id].state == "accepted"


async def test_keep_alive_connection_is_reused() -> None:
    with anyio.fail_after(10):
        async with serving() as (server, rt):
            for _ in range(3):
                await rt.client_secrets.create()
    assert len(server.rest.requests) == 3


async def test_user_supplied_http_client() -> None:
    with anyio.fail_after(10):
        async with FakeRealtimeServer(api_key=KEY) as server, httpx.AsyncClient() as http:
            async with Realtime(api_key=KEY, base_url=server.http_url, http_client=http) as rt:
                await rt.client_secrets.create()
            assert not http.is_closed


async def test_incoming_call_webhook_over_http() -> None:
    """The fake posts a signed webhook to a loopback receiver, which then accepts the call."""
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    received: list[RealtimeCallIncoming] = []

    async def handle(stream: SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
            head, _, body = data.partition(b"\r\n\r\n")
            pairs = [
                tuple(part.strip() for part in line.split(":", 1))
                for line in head.decode().split("\r\n")[1:]
            ]
            headers = [(name, value) for name, value in pairs]
            length = int(dict((k.lower(), v) for k, v in headers)["content-length"])
            while len(body) < length:
                body += await stream.receive()
            event = unwrap(body, headers, secret)
            assert isinstance(event, RealtimeCallIncoming)
            received.append(event)
            await stream.send(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")

    call_id = ""
    with anyio.fail_after(10):
        async with serving() as (server, rt):
            listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
            async with listener, anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, handle)
                port = listener.extra(SocketAttribute.local_port)
                call_id = await server.rest.simulate_incoming_call(
                    webhook_url=f"http://127.0.0.1:{port}/hook", webhook_secret=secret
                )
                tg.cancel_scope.cancel()
            await rt.calls.accept(received[0].data.call_id)
    assert received[0].data.call_id == call_id
    assert server.rest.calls[call_id].webhook_status == 204
    assert server.rest.calls[call_id].state == "accepted"


async def test_websocket_attach_follows_call_state() -> None:
    with anyio.fail_after(10):
        async with serving() as (server, rt):
            call_id = await server.rest.simulate_incoming_call()
            with pytest.raises(NotFoundError) as info:
                async with rt.connect(call_id=call_id):
                    pass
            assert info.value.status_code == 404
            await rt.calls.accept(call_id, instructions="Sideband.")
            async with rt.connect(call_id=call_id) as conn:
                await rt.calls.hangup(call_id)
                # The service ends the sideband connection when the call ends.
                with pytest.raises(ConnectionClosed):
                    while True:
                        await conn.receive()
            with pytest.raises(NotFoundError):
                async with rt.connect(call_id=call_id):
                    pass
