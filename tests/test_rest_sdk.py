"""The official openai SDK as an independent peer: its REST calls against our fake server, and
its webhook verification against ours.

The SDK's async client is asyncio-only, so it runs in a worker thread with its own event loop
(``asyncio.run``) while the fake server runs on the test's backend; the thread is joined before
the test ends.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import msgspec
import openai
import pytest

from realtime_anyio import WebhookSignatureError
from realtime_anyio.testing import FakeRealtimeServer
from realtime_anyio.webhooks import RealtimeCallIncoming, sign, unwrap

pytestmark = pytest.mark.anyio

KEY = "sk-sdk-peer-0123456789"
SECRET = "whsec_" + base64.b64encode(b"official-sdk-cross-check-key-32b").decode()
OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
T = TypeVar("T")


async def in_sdk_thread(base_url: str, work: Callable[[openai.AsyncOpenAI], Awaitable[T]]) -> T:
    async def run() -> T:
        async with openai.AsyncOpenAI(api_key=KEY, base_url=base_url, max_retries=0) as client:
            return await work(client)

    return await anyio.to_thread.run_sync(lambda: asyncio.run(run()))


async def test_sdk_client_secret_against_the_fake() -> None:
    async def work(client: openai.AsyncOpenAI) -> Any:
        return await client.realtime.client_secrets.create(
            session={"type": "realtime", "model": "gpt-realtime", "instructions": "SDK peer"},
            expires_after={"anchor": "created_at", "seconds": 120},
        )

    with anyio.fail_after(20):
        async with FakeRealtimeServer(api_key=KEY) as server:
            secret = await in_sdk_thread(server.http_url, work)
    assert secret.value.startswith("ek_")
    assert secret.session.type == "realtime"
    assert secret.session.instructions == "SDK peer"
    assert secret.expires_at > time.time() + 100


async def test_sdk_sip_calls_against_the_fake() -> None:
    with anyio.fail_after(20):
        async with FakeRealtimeServer(api_key=KEY) as server:
            accepted = await server.rest.simulate_incoming_call()
            rejected = await server.rest.simulate_incoming_call()

            async def work(client: openai.AsyncOpenAI) -> tuple[bytes, Exception]:
                await client.realtime.calls.accept(
                    accepted, type="realtime", model="gpt-realtime", instructions="From SDK."
                )
                await client.realtime.calls.refer(accepted, target_uri="tel:+14155550123")
                await client.realtime.calls.reject(rejected, status_code=486)
                created = await client.realtime.calls.create(sdp=OFFER)
                try:
                    await client.realtime.calls.hangup("rtc_missing")
                except openai.NotFoundError as exc:
                    missing: Exception = exc
                else:
                    raise AssertionError("hangup of an unknown call succeeded")
                return created.content, missing

            answer, missing = await in_sdk_thread(server.http_url, work)
    session = server.rest.calls[accepted].session
    assert session is not None and session["instructions"] == "From SDK."
    assert server.rest.calls[accepted].state == "referred"
    assert server.rest.calls[rejected].reject_status_code == 486
    assert answer.startswith(b"v=0\r\n")
    assert isinstance(missing, openai.NotFoundError)
    assert missing.request_id is not None and missing.request_id.startswith("req_")


BODY = msgspec.json.encode(
    {
        "object": "event",
        "id": "evt_sdk_cross_check",
        "type": "realtime.call.incoming",
        "created_at": 1_760_000_000,
        "data": {"call_id": "rtc_sdk", "sip_headers": [{"name": "From", "value": "sip:a@b"}]},
    }
)


def test_sdk_verifies_our_signatures() -> None:
    headers = sign(BODY, SECRET, webhook_id="wh_cross", timestamp=int(time.time()))
    event = openai.OpenAI(api_key=KEY, webhook_secret=SECRET).webhooks.unwrap(BODY, headers)
    assert event.type == "realtime.call.incoming"
    assert event.data.call_id == "rtc_sdk"  # type: ignore[union-attr]


def test_we_and_the_sdk_agree_on_tampering() -> None:
    headers = sign(BODY, SECRET, webhook_id="wh_cross", timestamp=int(time.time()))
    openai.OpenAI(api_key=KEY).webhooks.verify_signature(BODY, headers, secret=SECRET)
    event = unwrap(BODY, headers, SECRET)
    assert isinstance(event, RealtimeCallIncoming)
    tampered = BODY.replace(b"rtc_sdk", b"rtc_sdx")
    with pytest.raises(openai.InvalidWebhookSignatureError):
        openai.OpenAI(api_key=KEY).webhooks.verify_signature(tampered, headers, secret=SECRET)
    with pytest.raises(WebhookSignatureError):
        unwrap(tampered, headers, SECRET)
