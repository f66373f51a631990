"""FakeREST on its own: routing, auth, error shapes and faults, by calling handle() directly."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from realtime_anyio.testing import FakeREST, HTTPRequest, HTTPResponse

pytestmark = pytest.mark.anyio

KEY = "sk-fake-0123456789"
JSON = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}


def post(path: str, body: bytes = b"{}", headers: dict[str, str] | None = None) -> HTTPRequest:
    return HTTPRequest("POST", path, headers=JSON if headers is None else headers, body=body)


def error_of(response: HTTPResponse) -> dict[str, Any]:
    payload = msgspec.json.decode(response.body)
    assert set(payload) == {"error"}
    assert set(payload["error"]) == {"message", "type", "param", "code"}
    return payload["error"]


async def test_every_response_has_a_request_id() -> None:
    fake = FakeREST(api_key=KEY)
    ok = await fake.handle(post("/v1/realtime/client_secrets"))
    bad = await fake.handle(post("/v1/nothing"))
    assert ok.headers["x-request-id"].startswith("req_")
    assert bad.headers["x-request-id"].startswith("req_")
    assert ok.headers["x-request-id"] != bad.headers["x-request-id"]


@pytest.mark.parametrize(
    "path",
    [
        "/v1/realtime/client_secrets",
        "/openai/v1/realtime/client_secrets",
        "/openai/realtime/client_secrets",
        "/realtime/client_secrets",
    ],
)
async def test_paths_match_from_the_realtime_segment(path: str) -> None:
    response = await FakeREST(api_key=KEY).handle(post(path))
    assert response.status == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/v1/models", 404),
        ("POST", "/v1/realtime/sessions", 404),
        ("POST", "/v1/realtime/calls/rtc_1/transfer", 404),
        ("GET", "/v1/realtime/client_secrets", 405),
        ("DELETE", "/v1/realtime/calls/rtc_1", 405),
    ],
)
async def test_unknown_routes(method: str, path: str, status: int) -> None:
    response = await FakeREST(api_key=KEY).handle(HTTPRequest(method, path, headers=JSON))
    assert response.status == status
    assert error_of(response)["type"] == "invalid_request_error"


async def test_auth() -> None:
    fake = FakeREST(api_key=KEY)
    missing = await fake.handle(post("/v1/realtime/client_secrets", headers={}))
    assert missing.status == 401 and error_of(missing)["code"] is None
    wrong = await fake.handle(
        post("/v1/realtime/client_secrets", headers={"authorization": "Bearer sk-nope-12345678"})
    )
    assert wrong.status == 401 and error_of(wrong)["code"] == "invalid_api_key"
    assert "sk-nope-12345678" not in wrong.body.decode()
    azure = await fake.handle(
        post(
            "/openai/v1/realtime/client_secrets",
            headers={"api-key": KEY, "content-type": "application/json"},
        )
    )
    assert azure.status == 200


async def test_without_a_key_anything_goes() -> None:
    response = await FakeREST().handle(
        post("/v1/realtime/client_secrets", headers={"content-type": "application/json"})
    )
    assert response.status == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "invalid_json"),
        (b"[]", "invalid_type"),
        (b'{"expires_after": {"seconds": 7201}}', "integer_above_max_value"),
        (b'{"expires_after": {"anchor": "now"}}', "invalid_value"),
        (b'{"session": {"type": "video"}}', "invalid_value"),
        (b'{"session": {"instructions": "no type"}}', "missing_required_parameter"),
    ],
)
async def test_client_secret_validation(body: bytes, code: str) -> None:
    response = await FakeREST(api_key=KEY).handle(post("/v1/realtime/client_secrets", body))
    assert response.status == 400
    assert error_of(response)["code"] == code


async def test_client_secret_needs_json_content_type() -> None:
    response = await FakeREST(api_key=KEY).handle(
        post("/v1/realtime/client_secrets", headers={"authorization": f"Bearer {KEY}"})
    )
    assert response.status == 400


async def test_translation_secret_needs_a_model() -> None:
    response = await FakeREST(api_key=KEY).handle(
        post("/v1/realtime/translations/client_secrets", b'{"session": {}}')
    )
    assert response.status == 400
    assert error_of(response)["param"] == "session.model"


async def test_multipart_call_creation() -> None:
    fake = FakeREST(api_key=KEY)
    boundary = "xyzzy"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="sdp"\r\n'
        "Content-Type: application/sdp\r\n\r\n"
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="session"\r\n'
        "Content-Type: application/json\r\n\r\n"
        '{"type": "realtime", "instructions": "multipart"}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    headers = {
        "authorization": f"Bearer {KEY}",
        "content-type": f'multipart/form-data; boundary="{boundary}"',
    }
    response = await fake.handle(post("/v1/realtime/calls", body, headers))
    assert response.status == 201
    call_id = response.headers["location"].rsplit("/", 1)[1]
    session = fake.call_session(call_id)
    assert session is not None and session["instructions"] == "multipart"
    assert response.body.startswith(b"v=0\r\n")


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b"v=0\r\n"),
        ("multipart/form-data", b""),
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n1",
        ),
        ("application/sdp", b"hello"),
    ],
)
async def test_bad_call_creation(content_type: str, body: bytes) -> None:
    headers = {"authorization": f"Bearer {KEY}", "content-type": content_type}
    response = await FakeREST(api_key=KEY).handle(post("/v1/realtime/calls", body, headers))
    assert response.status == 400


async def test_reject_validates_the_status() -> None:
    fake = FakeREST(api_key=KEY)
    call_id = await fake.simulate_incoming_call()
    response = await fake.handle(
        post(f"/v1/realtime/calls/{call_id}/reject", b'{"status_code": 200}')
    )
    assert response.status == 400
    assert fake.calls[call_id].state == "ringing"


async def test_faults_by_path_and_count() -> None:
    fake = FakeREST(api_key=KEY)
    fake.fail_next(2, status=429, retry_after=1, path_contains="/calls")
    secrets = await fake.handle(post("/v1/realtime/client_secrets"))
    assert secrets.status == 200
    first = await fake.handle(post("/v1/realtime/calls/rtc_1/hangup"))
    second = await fake.handle(post("/v1/realtime/calls/rtc_1/hangup"))
    third = await fake.handle(post("/v1/realtime/calls/rtc_1/hangup"))
    assert (first.status, second.status, third.status) == (429, 429, 404)
    assert first.headers["retry-after"] == "1"
    assert error_of(first)["code"] == "rate_limit_exceeded"


async def test_requests_are_recorded() -> None:
    fake = FakeREST(api_key=KEY)
    await fake.handle(post("/v1/realtime/client_secrets"))
    assert [r.path for r in fake.requests] == ["/v1/realtime/client_secrets"]


async def test_a_bug_in_the_fake_is_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeREST(api_key=KEY)

    def broken(request: HTTPRequest) -> HTTPResponse:
        raise KeyError("oops")

    monkeypatch.setattr(fake, "_route", broken)
    response = await fake.handle(post("/v1/realtime/client_secrets"))
    assert response.status == 500
    assert error_of(response)["type"] == "server_error"
