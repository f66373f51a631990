"""Calls: WebRTC call creation and the SIP call life cycle against FakeREST (in process), plus
webhook delivery of a simulated incoming call to a real loopback receiver."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketStream

from realtime_anyio import BadRequestError, ConflictError, NotFoundError
from realtime_anyio._client import Realtime
from realtime_anyio.events import RealtimeSession
from realtime_anyio.rest import CallAction, CallCreated
from realtime_anyio.testing._rest import FakeREST, FakeRESTTransport
from realtime_anyio.webhooks import RealtimeCallIncoming, unwrap

pytestmark = pytest.mark.anyio

KEY = "sk-test-calls-0123456789"
OFFER = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
)


@asynccontextmanager
async def realtime(fake: FakeREST, **options: Any) -> AsyncIterator[Realtime]:
    options.setdefault("api_key", KEY)
    async with (
        httpx.AsyncClient(transport=FakeRESTTransport(fake)) as http,
        Realtime(base_url="http://127.0.0.1:9/v1", http_client=http, **options) as rt,
    ):
        yield rt


@pytest.fixture
def fake() -> FakeREST:
    return FakeREST(api_key=KEY)


# -- WebRTC ---------------------------------------------------------------------------------------


async def test_create_call_with_client_secret(fake: FakeREST) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as server_side:
            secret = await server_side.client_secrets.create(
                session={"type": "realtime", "instructions": "From the secret."}
            )
        # The browser's side: only the ephemeral key, a plain SDP body.
        async with realtime(fake, api_key=secret.value) as browser:
            call = await browser.calls.create(OFFER)
    assert isinstance(call, CallCreated)
    assert call.call_id.startswith("rtc_")
    assert call.location == f"/v1/realtime/calls/{call.call_id}"
    assert call.sdp.startswith("v=0\r\n")
    assert "a=group:BUNDLE 0 1" in call.sdp
    assert call.http_response.status_code == 201
    assert call.http_response.headers["content-type"] == "application/sdp"
    request = fake.requests[-1]
    assert request.headers["content-type"] == "application/sdp"
    assert request.body == OFFER.encode()
    assert fake.is_known_call(call.call_id)
    session = fake.call_session(call.call_id)
    assert session is not None and session["id"] == secret.session.id
    assert session["instructions"] == "From the secret."


async def test_accept_with_session_struct(fake: FakeREST) -> None:
    call_id = await fake.simulate_incoming_call()
    config = RealtimeSession(model="gpt-realtime", instructions="Typed accept.")
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            await rt.calls.accept(call_id, config, tool_choice="none")
    assert fake.requests[0].body == (
        b'{"type":"realtime","model":"gpt-realtime","instructions":"Typed accept.",'
        b'"tool_choice":"none"}'
    )
    session = fake.call_session(call_id)
    assert session is not None and session["instructions"] == "Typed accept."


async def test_create_call_with_session_is_multipart(fake: FakeREST) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            call = await rt.calls.create(
                OFFER, session={"type": "realtime", "model": "gpt-realtime", "instructions": "Hi"}
            )
            hung_up = await rt.calls.hangup(call.call_id)
    request = fake.requests[0]
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'name="sdp"' in request.body and b"Content-Type: application/sdp" in request.body
    assert b'name="session"' in request.body
    session = fake.calls[call.call_id].session
    assert session is not None and session["instructions"] == "Hi"
    assert hung_up.action == "hangup"
    assert fake.calls[call.call_id].state == "ended"
    assert not fake.is_known_call(call.call_id)


async def test_create_call_with_bad_offer(fake: FakeREST) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(BadRequestError) as info:
                await rt.calls.create("hello")
    assert info.value.param == "sdp"


async def test_create_call_not_retried_after_5xx(fake: FakeREST) -> None:
    fake.fail_next(1, status=500)
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(Exception, match="500"):
                await rt.calls.create(OFFER)
    assert len(fake.requests) == 1


async def test_secret_is_refused_for_other_endpoints(fake: FakeREST) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            secret = await rt.client_secrets.create()
        async with realtime(fake, api_key=secret.value) as browser:
            with pytest.raises(Exception, match="401"):
                await browser.client_secrets.create()


async def test_expired_secret_is_refused() -> None:
    now = [1_000_000.0]
    fake = FakeREST(api_key=KEY, clock=lambda: now[0])
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            secret = await rt.client_secrets.create(expires_after=10)
        now[0] += 11
        assert not fake.is_valid_key(secret.value)
        async with realtime(fake, api_key=secret.value) as browser:
            with pytest.raises(Exception, match="expired"):
                await browser.calls.create(OFFER)


# -- SIP ------------------------------------------------------------------------------------------


async def test_sip_call_life_cycle(fake: FakeREST) -> None:
    call_id = await fake.simulate_incoming_call()
    assert fake.calls[call_id].state == "ringing"
    assert not fake.is_known_call(call_id)  # a WebSocket cannot attach before accept
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            accepted = await rt.calls.accept(
                call_id,
                {"type": "realtime", "model": "gpt-realtime", "instructions": "Greet."},
                audio={"output": {"voice": "marin"}},
            )
            assert isinstance(accepted, CallAction)
            assert (accepted.call_id, accepted.action) == (call_id, "accept")
            assert accepted.http_response.status_code == 200
            assert fake.is_known_call(call_id)
            session = fake.call_session(call_id)
            assert session is not None
            assert session["instructions"] == "Greet."
            assert session["audio"]["output"]["voice"] == "marin"
            with pytest.raises(ConflictError) as info:
                await rt.calls.accept(call_id)
            assert info.value.status_code == 409
            await rt.calls.hangup(call_id)
            assert not fake.is_known_call(call_id)
            assert fake.calls[call_id].ended.is_set()
            with pytest.raises(NotFoundError):
                await rt.calls.hangup(call_id)


async def test_accept_defaults_type_and_takes_keywords(fake: FakeREST) -> None:
    call_id = await fake.simulate_incoming_call()
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            await rt.calls.accept(call_id, instructions="Only keywords.")
    body = fake.requests[0].body
    assert body == b'{"instructions":"Only keywords.","type":"realtime"}'


async def test_accept_rejects_transcription_sessions(fake: FakeREST) -> None:
    call_id = await fake.simulate_incoming_call()
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(BadRequestError):
                await rt.calls.accept(call_id, {"type": "transcription"})
    assert fake.calls[call_id].state == "ringing"


@pytest.mark.parametrize(("status_code", "expected"), [(None, 603), (486, 486)])
async def test_reject(fake: FakeREST, status_code: int | None, expected: int) -> None:
    call_id = await fake.simulate_incoming_call()
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            result = await rt.calls.reject(call_id, status_code=status_code)
            with pytest.raises(NotFoundError):
                await rt.calls.accept(call_id)
    assert result.action == "reject"
    assert fake.calls[call_id].state == "rejected"
    assert fake.calls[call_id].reject_status_code == expected
    assert fake.requests[0].body == (b"{}" if status_code is None else b'{"status_code":486}')


async def test_reject_after_accept_conflicts(fake: FakeREST) -> None:
    call_id = await fake.simulate_incoming_call()
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            await rt.calls.accept(call_id)
            with pytest.raises(ConflictError):
                await rt.calls.reject(call_id)


async def test_refer(fake: FakeREST) -> None:
    call_id = await fake.simulate_incoming_call()
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(ConflictError):  # still ringing
                await rt.calls.refer(call_id, target_uri="tel:+14155550123")
            await rt.calls.accept(call_id)
            result = await rt.calls.refer(call_id, target_uri="tel:+14155550123")
            with pytest.raises(NotFoundError):
                await rt.calls.hangup(call_id)
    assert result.action == "refer"
    assert fake.calls[call_id].state == "referred"
    assert fake.calls[call_id].refer_target_uri == "tel:+14155550123"
    assert not fake.is_known_call(call_id)


async def test_unknown_call_everywhere(fake: FakeREST) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(NotFoundError):
                await rt.calls.accept("rtc_nope")
            with pytest.raises(NotFoundError):
                await rt.calls.reject("rtc_nope")
            with pytest.raises(NotFoundError):
                await rt.calls.refer("rtc_nope", target_uri="sip:a@b.test")
            with pytest.raises(NotFoundError):
                await rt.calls.hangup("rtc_nope")
    assert not fake.is_known_call("rtc_nope")


async def test_call_id_is_escaped_in_the_path(fake: FakeREST) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(NotFoundError):
                await rt.calls.hangup("../client_secrets")
    assert fake.requests[0].path == "/v1/realtime/calls/..%2Fclient_secrets/hangup"


async def test_caller_hangs_up(fake: FakeREST) -> None:
    call_id = await fake.simulate_incoming_call()
    fake.end_call(call_id)
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(NotFoundError):
                await rt.calls.accept(call_id)


# -- webhook delivery over loopback ---------------------------------------------------------------

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@asynccontextmanager
async def webhook_receiver(
    received: list[tuple[dict[str, str], bytes]], status: int = 200
) -> AsyncIterator[str]:
    """A minimal HTTP/1.1 server on 127.0.0.1 that records one request per connection."""

    async def handle(stream: SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                body += await stream.receive()
            received.append((headers, body))
            await stream.send(
                f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode()
            )

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield f"http://127.0.0.1:{listener.extra(SocketAttribute.local_port)}/webhooks"
        finally:
            tg.cancel_scope.cancel()


async def test_simulated_call_sends_a_signed_webhook(fake: FakeREST) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    with anyio.fail_after(5):
        async with webhook_receiver(received) as url:
            call_id = await fake.simulate_incoming_call(
                webhook_url=url,
                webhook_secret=SECRET,
                sip_headers=[("From", "sip:+15550001@example.test"), ("X-Account", "42")],
            )
    assert len(received) == 1
    headers, body = received[0]
    event = unwrap(body, headers, SECRET)
    assert isinstance(event, RealtimeCallIncoming)
    assert event.data.call_id == call_id
    assert event.data.sip_header("x-account") == "42"
    assert fake.calls[call_id].webhook_status == 200
    assert fake.calls[call_id].state == "ringing"


async def test_webhook_status_is_recorded(fake: FakeREST) -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    with anyio.fail_after(5):
        async with webhook_receiver(received, status=400) as url:
            call_id = await fake.simulate_incoming_call(webhook_url=url, webhook_secret=SECRET)
    assert fake.calls[call_id].webhook_status == 400
    assert fake.calls[call_id].sip_headers[0]["name"] == "From"


async def test_webhooks_only_go_to_loopback(fake: FakeREST) -> None:
    with pytest.raises(ValueError, match="loopback"):
        await fake.simulate_incoming_call(
            webhook_url="https://example.com/hook", webhook_secret=SECRET
        )
    with pytest.raises(ValueError, match="secret"):
        await fake.simulate_incoming_call(webhook_url="http://127.0.0.1:1/hook")


async def test_accept_validates_the_session(fake: FakeREST) -> None:
    call_id = await fake.simulate_incoming_call()
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(BadRequestError) as info:
                await rt.calls.accept(call_id, bogus_field=1)
    assert info.value.error_code == "unknown_parameter"
    assert info.value.param == "bogus_field"
    assert info.value.message == "Unknown parameter: 'bogus_field'."
    assert fake.calls[call_id].state == "ringing"


async def test_refused_webhook_registers_no_call(fake: FakeREST) -> None:
    with pytest.raises(ValueError):
        await fake.simulate_incoming_call(webhook_url="http://10.0.0.1/hook", webhook_secret=SECRET)
    assert fake.calls == {}
