"""RESTClient and ClientSecrets: results, raw responses, error mapping, redaction and retries.

Most tests run the client against FakeREST in the same process (FakeRESTTransport); connection
failures and timeouts use real loopback sockets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketStream

from realtime_anyio import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    LocalProtocolError,
    NotFoundError,
    RateLimitError,
    RemoteProtocolError,
)
from realtime_anyio._client import Realtime
from realtime_anyio._config import ClientConfig
from realtime_anyio.events import (
    RealtimeSession,
    SessionAudio,
    SessionAudioOutput,
    TranscriptionSession,
)
from realtime_anyio.rest import ClientSecret, ExpiresAfter, RESTClient, TranslationClientSecret
from realtime_anyio.rest import _client as rest_client_module
from realtime_anyio.testing._rest import FakeREST, FakeRESTTransport

# Module-level marker: conftest's late marking does not combine with @pytest.mark.parametrize.
pytestmark = pytest.mark.anyio

KEY = "sk-test-SECRETKEY-1234567890"


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


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make backoff instant and record the attempt number of every backoff taken."""
    taken: list[int] = []

    def instant(attempt: int, **_: object) -> float:
        taken.append(attempt)
        return 0.0

    monkeypatch.setattr(rest_client_module, "backoff_delay", instant)
    return taken


def paths(fake: FakeREST) -> list[str]:
    return [request.path for request in fake.requests]


# -- results and raw responses --------------------------------------------------------------------


async def test_create_client_secret(fake: FakeREST) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            before = int(fake.clock())
            secret = await rt.client_secrets.create(
                session={"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}
            )
    assert isinstance(secret, ClientSecret)
    assert secret.value.startswith("ek_")
    assert before + 600 <= secret.expires_at <= before + 601
    assert isinstance(secret.session, RealtimeSession)
    assert secret.session.type == "realtime"
    assert secret.session.instructions == "Be brief."
    assert isinstance(secret.session.audio, SessionAudio)
    assert isinstance(secret.session.audio.output, SessionAudioOutput)
    assert secret.session.audio.output.voice == "alloy"
    assert fake.secrets[secret.value].session["id"] == secret.session.id
    assert secret.http_response.status_code == 200
    assert secret.request_id is not None and secret.request_id.startswith("req_")
    assert secret.request_id == secret.http_response.headers["x-request-id"]
    assert "http_response" not in repr(secret)
    # The kept request no longer holds the key.
    assert secret.http_response.request.headers["authorization"] == "<redacted>"
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert fake.requests[0].path == "/v1/realtime/client_secrets"


@pytest.mark.parametrize(
    "expires_after",
    [60, {"seconds": 60}, {"anchor": "created_at", "seconds": 60}, ExpiresAfter(60)],
)
async def test_expires_after_forms(fake: FakeREST, expires_after: Any) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            now = int(fake.clock())
            secret = await rt.client_secrets.create(expires_after=expires_after)
    assert now + 60 <= secret.expires_at <= now + 61


async def test_expires_after_out_of_range(fake: FakeREST) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(BadRequestError) as info:
                await rt.client_secrets.create(expires_after=5)
    assert info.value.status_code == 400
    assert info.value.param == "expires_after.seconds"
    assert info.value.error_code == "integer_below_min_value"


async def test_invalid_expires_after_is_local() -> None:
    async with realtime(FakeREST()) as rt:
        with pytest.raises(LocalProtocolError):
            await rt.client_secrets.create(expires_after={"seconds": "soon"})


async def test_transcription_client_secret(fake: FakeREST) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            secret = await rt.client_secrets.create(
                session={
                    "type": "transcription",
                    "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
                }
            )
    assert isinstance(secret.session, TranscriptionSession)
    assert secret.session.type == "transcription"
    session = fake.secrets[secret.value].session
    transcription = session["audio"]["input"]["transcription"]
    assert transcription == {"model": "gpt-4o-transcribe", "language": None, "prompt": None}


async def test_client_secret_with_session_struct(fake: FakeREST) -> None:
    config = RealtimeSession(
        model="gpt-realtime",
        instructions="Typed.",
        audio=SessionAudio(output=SessionAudioOutput(voice="marin")),
    )
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            secret = await rt.client_secrets.create(session=config)
    assert fake.requests[0].body == (
        b'{"session":{"type":"realtime","model":"gpt-realtime","instructions":"Typed.",'
        b'"audio":{"output":{"voice":"marin"}}}}'
    )
    assert isinstance(secret.session, RealtimeSession)
    assert isinstance(secret.session.audio, SessionAudio)
    assert isinstance(secret.session.audio.output, SessionAudioOutput)
    assert secret.session.audio.output.voice == "marin"


async def test_translation_client_secret(fake: FakeREST) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            secret = await rt.client_secrets.create_translation(
                session={
                    "model": "gpt-realtime-translate",
                    "audio": {"output": {"language": "fr"}},
                },
                expires_after=120,
            )
    assert isinstance(secret, TranslationClientSecret)
    assert secret.value.startswith("ek_")
    assert secret.session.type == "translation"
    assert secret.session.model == "gpt-realtime-translate"
    assert secret.session.audio.output.language == "fr"
    assert fake.requests[0].path == "/v1/realtime/translations/client_secrets"
    assert secret.http_response.status_code == 200


# -- errors ---------------------------------------------------------------------------------------


def assert_no_key(exc: BaseException, key: str) -> None:
    assert key not in str(exc)
    assert key not in repr(exc)
    if isinstance(exc, APIStatusError):
        assert key not in repr(exc.body)
        assert key not in repr(exc.headers)


async def test_wrong_key(fake: FakeREST) -> None:
    wrong = "sk-wrong-ABCDEFGHIJKLMNOP-9999"
    with anyio.fail_after(5):
        async with realtime(fake, api_key=wrong) as rt:
            with pytest.raises(AuthenticationError) as info:
                await rt.client_secrets.create()
    exc = info.value
    assert exc.status_code == 401
    assert exc.error_type == "invalid_request_error"
    assert exc.error_code == "invalid_api_key"
    assert exc.request_id is not None and exc.request_id.startswith("req_")
    assert exc.headers["x-request-id"] == exc.request_id
    assert isinstance(exc.body, dict) and "error" in exc.body
    assert "Incorrect API key" in str(exc)
    assert_no_key(exc, wrong)


async def test_missing_key(fake: FakeREST, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with anyio.fail_after(5):
        async with realtime(fake, api_key=None) as rt:
            with pytest.raises(AuthenticationError) as info:
                await rt.client_secrets.create()
    assert info.value.error_code is None
    assert "didn't provide an API key" in info.value.message


async def test_key_echoed_by_a_server_is_redacted() -> None:
    class Echo(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            auth = request.headers["authorization"]
            return httpx.Response(
                400,
                headers={"x-echo": auth},
                json={"error": {"message": f"bad {auth}", "type": "x", "code": None}},
            )

    async with httpx.AsyncClient(transport=Echo()) as http:
        rest = RESTClient(ClientConfig(api_key=KEY), http_client=http)
        with pytest.raises(BadRequestError) as info:
            await rest.request("POST", "/realtime/client_secrets", safe_to_retry=True)
    assert_no_key(info.value, KEY)
    assert "<redacted>" in info.value.message


async def test_key_provider_is_called_per_request(fake: FakeREST) -> None:
    calls: list[int] = []

    async def provider() -> str:
        calls.append(1)
        return KEY

    with anyio.fail_after(5):
        async with realtime(fake, api_key=provider) as rt:
            await rt.client_secrets.create()
            await rt.client_secrets.create()
    assert len(calls) == 2


async def test_unknown_call_is_not_found(fake: FakeREST) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(NotFoundError) as info:
                await rt.calls.hangup("rtc_unknown")
    assert info.value.status_code == 404
    assert info.value.param == "call_id"


async def test_empty_call_id_is_local(fake: FakeREST) -> None:
    async with realtime(fake) as rt:
        with pytest.raises(LocalProtocolError):
            await rt.calls.accept("")
    assert fake.requests == []


class Canned(httpx.AsyncBaseTransport):
    """Answers every request with the same canned response."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}
        self.count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return httpx.Response(self.status, headers=self.headers, content=self.body)


async def test_non_json_error_body() -> None:
    transport = Canned(502, b"<html>Bad Gateway</html>", {"content-type": "text/html"})
    async with httpx.AsyncClient(transport=transport) as http:
        rest = RESTClient(ClientConfig(api_key=KEY), http_client=http, max_retries=0)
        with pytest.raises(InternalServerError) as info:
            await rest.request("POST", "/realtime/calls/x/hangup", safe_to_retry=True)
    assert info.value.status_code == 502
    assert info.value.body == "<html>Bad Gateway</html>"
    assert "502 Bad Gateway" in str(info.value)
    assert info.value.error_type is None


async def test_empty_404_body() -> None:
    async with httpx.AsyncClient(transport=Canned(404, b"")) as http:
        rest = RESTClient(ClientConfig(api_key=KEY), http_client=http)
        with pytest.raises(NotFoundError) as info:
            await rest.request("POST", "/realtime/calls/x/hangup", safe_to_retry=True)
    assert info.value.body is None
    assert info.value.message == "404 Not Found"


async def test_undecodable_success_body() -> None:
    async with (
        httpx.AsyncClient(transport=Canned(200, b"{}")) as http,
        Realtime(api_key=KEY, http_client=http) as rt,
    ):
        with pytest.raises(RemoteProtocolError):
            await rt.client_secrets.create()


# -- retries --------------------------------------------------------------------------------------


async def test_safe_request_retried_after_5xx(fake: FakeREST, delays: list[int]) -> None:
    fake.fail_next(2, status=503)
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            secret = await rt.client_secrets.create()
    assert secret.value.startswith("ek_")
    assert delays == [0, 1]
    assert len(fake.requests) == 3


async def test_retries_exhausted(fake: FakeREST, delays: list[int]) -> None:
    fake.fail_next(10, status=500)
    with anyio.fail_after(5):
        async with realtime(fake, max_retries=3) as rt:
            with pytest.raises(InternalServerError) as info:
                await rt.client_secrets.create()
    assert len(fake.requests) == 4
    assert info.value.error_type == "server_error"


async def test_per_call_max_retries(fake: FakeREST, delays: list[int]) -> None:
    fake.fail_next(10, status=503)
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(InternalServerError):
                await rt.client_secrets.create(max_retries=0)
    assert len(fake.requests) == 1


async def test_unsafe_request_not_retried_after_5xx(fake: FakeREST, delays: list[int]) -> None:
    call_id = await fake.simulate_incoming_call()
    fake.fail_next(1, status=503)
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(InternalServerError):
                await rt.calls.accept(call_id)
            # The call is still ringing: the caller decides what to do.
            assert fake.calls[call_id].state == "ringing"
            await rt.calls.accept(call_id)
    assert delays == []
    assert fake.calls[call_id].state == "accepted"


@pytest.mark.parametrize("status", [408, 429])
async def test_unsafe_request_retried_after_refusal(
    fake: FakeREST, delays: list[int], status: int
) -> None:
    call_id = await fake.simulate_incoming_call()
    fake.fail_next(1, status=status)
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            await rt.calls.accept(call_id)
    assert fake.calls[call_id].state == "accepted"
    assert delays == [0]


async def test_idempotency_key_makes_unsafe_requests_retryable(
    fake: FakeREST, delays: list[int]
) -> None:
    call_id = await fake.simulate_incoming_call()
    fake.fail_next(2, status=502, path_contains="/accept")
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            await rt.calls.accept(call_id, idempotency_key="accept-once-42")
    keys = [r.headers.get("idempotency-key") for r in fake.requests]
    assert keys == ["accept-once-42"] * 3
    assert fake.calls[call_id].state == "accepted"


async def test_hangup_is_retried(fake: FakeREST, delays: list[int]) -> None:
    call_id = await fake.simulate_incoming_call()
    fake.fail_next(1, status=504)
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            await rt.calls.hangup(call_id)
    assert fake.calls[call_id].state == "ended"


async def test_retry_after_is_honoured(fake: FakeREST, delays: list[int]) -> None:
    fake.fail_next(1, status=429, retry_after=0.3)
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            start = anyio.current_time()
            await rt.client_secrets.create()
            elapsed = anyio.current_time() - start
    assert elapsed >= 0.29
    assert delays == []  # the server's delay replaced the backoff


async def test_retry_after_ms_is_honoured(fake: FakeREST, delays: list[int]) -> None:
    fake.fail_next(1, status=503, retry_after=30, retry_after_ms=50)
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            start = anyio.current_time()
            await rt.client_secrets.create()
            elapsed = anyio.current_time() - start
    assert 0.045 <= elapsed < 5


async def test_retry_after_http_date(fake: FakeREST, delays: list[int]) -> None:
    fake.fail_next(1, status=503, retry_after="Thu, 01 Jan 1970 00:00:00 GMT")
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            await rt.client_secrets.create()
    assert len(fake.requests) == 2


async def test_too_long_retry_after_is_not_waited(fake: FakeREST, delays: list[int]) -> None:
    fake.fail_next(1, status=429, retry_after=3600)
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(RateLimitError) as info:
                await rt.client_secrets.create()
    assert info.value.headers["retry-after"] == "3600"
    assert len(fake.requests) == 1


async def test_should_retry_false(fake: FakeREST, delays: list[int]) -> None:
    fake.fail_next(1, status=503, headers={"x-should-retry": "false"})
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(InternalServerError):
                await rt.client_secrets.create()
    assert len(fake.requests) == 1


async def test_client_errors_are_not_retried(fake: FakeREST, delays: list[int]) -> None:
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(BadRequestError):
                await rt.client_secrets.create(session={"type": "nope"})
    assert len(fake.requests) == 1


# -- real sockets: connection errors and timeouts ---------------------------------------------


async def closed_port() -> int:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(SocketAttribute.local_port)
    await listener.aclose()
    return port


async def test_connection_refused(delays: list[int]) -> None:
    port = await closed_port()
    with anyio.fail_after(10):
        async with Realtime(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1") as rt:
            with pytest.raises(APIConnectionError) as info:
                await rt.client_secrets.create()
            # Nothing was sent, so even an unsafe request is retried.
            with pytest.raises(APIConnectionError):
                await rt.calls.accept("rtc_x")
    assert_no_key(info.value, KEY)
    assert delays == [0, 1, 0, 1]


@asynccontextmanager
async def silent_server(counter: list[int]) -> AsyncIterator[int]:
    """A loopback server that reads requests and never answers; yields its port."""

    async def handle(stream: SocketStream) -> None:
        counter.append(1)
        async with stream:
            await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield listener.extra(SocketAttribute.local_port)
        finally:
            tg.cancel_scope.cancel()


async def test_read_timeout_maps_and_respects_safety(delays: list[int]) -> None:
    connections: list[int] = []
    with anyio.fail_after(10):
        async with (
            silent_server(connections) as port,
            Realtime(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", timeout=0.2) as rt,
        ):
            with pytest.raises(APITimeoutError) as info:
                await rt.calls.accept("rtc_x")
            assert len(connections) == 1  # may have been accepted: not repeated
            with pytest.raises(APITimeoutError):
                await rt.client_secrets.create(max_retries=1)
            assert len(connections) == 3
    assert isinstance(info.value, TimeoutError)
    assert_no_key(info.value, KEY)


async def test_per_call_timeout(delays: list[int]) -> None:
    connections: list[int] = []
    with anyio.fail_after(10):
        async with (
            silent_server(connections) as port,
            Realtime(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1") as rt,
        ):
            with pytest.raises(APITimeoutError):
                await rt.calls.hangup("rtc_x", timeout=0.1, max_retries=0)


async def test_cancellation_is_prompt(delays: list[int]) -> None:
    connections: list[int] = []
    with anyio.fail_after(10):
        async with (
            silent_server(connections) as port,
            Realtime(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1") as rt,
        ):
            with anyio.move_on_after(0.2) as scope:
                await rt.client_secrets.create()
    assert scope.cancelled_caught


# -- client lifetime ------------------------------------------------------------------------------


async def test_owned_client_is_closed(fake: FakeREST) -> None:
    rest = RESTClient(ClientConfig(api_key=KEY, base_url="http://127.0.0.1:9/v1"))
    await rest.aclose()
    await rest.aclose()
    with pytest.raises(APIConnectionError, match="closed"):
        await rest.request("POST", "/realtime/client_secrets", safe_to_retry=True)


async def test_user_client_is_left_open(fake: FakeREST) -> None:
    async with httpx.AsyncClient(transport=FakeRESTTransport(fake)) as http:
        async with Realtime(api_key=KEY, http_client=http) as rt:
            await rt.client_secrets.create()
        assert not http.is_closed
        response = await http.post(
            "http://127.0.0.1:9/v1/realtime/client_secrets",
            headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
            content=b"{}",
        )
        assert response.status_code == 200


async def test_realtime_without_rest_use_closes_cleanly() -> None:
    async with Realtime(api_key=KEY):
        pass


# -- Azure ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "path", "query"),
    [
        (None, "/openai/v1/realtime/client_secrets", {}),
        (
            "2025-04-01-preview",
            "/openai/realtime/client_secrets",
            {"api-version": "2025-04-01-preview"},
        ),
    ],
)
async def test_azure_api_key(api_version: str | None, path: str, query: dict[str, str]) -> None:
    fake = FakeREST(api_key="azure-key-0123456789")
    async with (
        httpx.AsyncClient(transport=FakeRESTTransport(fake)) as http,
        Realtime(
            azure_endpoint="https://example-resource.openai.azure.com",
            api_key="azure-key-0123456789",
            api_version=api_version,
            http_client=http,
        ) as rt,
    ):
        await rt.client_secrets.create()
    request = fake.requests[0]
    assert request.path == path
    assert request.query == query
    assert request.headers["api-key"] == "azure-key-0123456789"
    assert "authorization" not in request.headers


async def test_azure_entra_token() -> None:
    fake = FakeREST(api_key="entra-token-abcdef")
    provider: Callable[[], str] = lambda: "entra-token-abcdef"  # noqa: E731
    async with (
        httpx.AsyncClient(transport=FakeRESTTransport(fake)) as http,
        Realtime(
            azure_endpoint="https://example-resource.openai.azure.com",
            azure_ad_token_provider=provider,
            http_client=http,
        ) as rt,
    ):
        secret = await rt.client_secrets.create()
    assert fake.requests[0].headers["authorization"] == "Bearer entra-token-abcdef"
    assert secret.http_response.request.headers["authorization"] == "<redacted>"


async def test_organization_project_and_extra_headers(fake: FakeREST) -> None:
    async with realtime(
        fake, organization="org-1", project="proj-1", extra_headers={"X-Trace": "t1"}
    ) as rt:
        await rt.client_secrets.create(extra_headers={"X-Call": "c1"})
    headers = fake.requests[0].headers
    assert headers["openai-organization"] == "org-1"
    assert headers["openai-project"] == "proj-1"
    assert headers["x-trace"] == "t1"
    assert headers["x-call"] == "c1"
    assert headers["user-agent"].startswith("realtime-anyio/")


async def test_session_is_validated_like_the_service(fake: FakeREST) -> None:
    session = {
        "type": "realtime",
        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 8000}}},
    }
    with anyio.fail_after(5):
        async with realtime(fake) as rt:
            with pytest.raises(BadRequestError) as info:
                await rt.client_secrets.create(session=session)
    assert info.value.error_code == "integer_below_min_value"
    assert info.value.param == "session.audio.input.format.rate"
