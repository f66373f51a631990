"""Audit regressions for the fake server's REST side, probed as an outside HTTP client would."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from realtime_anyio.testing import FakeRealtimeServer

KEY = "sk-test-audit-0123456789"


async def _post(server: FakeRealtimeServer, path: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(
        base_url=server.http_url, headers={"Authorization": f"Bearer {KEY}"}, trust_env=False
    ) as client:
        return await client.post(path, json=body)


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/realtime/client_secrets", {"bogus": 1}, "bogus"),
        ("/realtime/client_secrets", {"expires_after": {"seconds": 60, "x": 1}}, "expires_after.x"),
        (
            "/realtime/translations/client_secrets",
            {"session": {"model": "gpt-realtime-translate"}, "extra": True},
            "extra",
        ),
    ],
)
async def test_unknown_top_level_parameters_are_rejected(
    path: str, body: dict[str, Any], param: str
) -> None:
    with anyio.fail_after(10):
        async with FakeRealtimeServer(api_key=KEY) as server:
            response = await _post(server, path, body)
            assert response.status_code == 400
            assert response.headers["content-type"] == "application/json"
            assert response.json() == {
                "error": {
                    "message": f"Unknown parameter: '{param}'.",
                    "type": "invalid_request_error",
                    "param": param,
                    "code": "unknown_parameter",
                }
            }
            assert server.rest.secrets == {}


async def test_reject_and_refer_bodies_are_closed() -> None:
    with anyio.fail_after(10):
        async with FakeRealtimeServer(api_key=KEY) as server:
            call_id = await server.rest.simulate_incoming_call()
            response = await _post(
                server, f"/realtime/calls/{call_id}/reject", {"status_code": 486, "reason": "x"}
            )
            assert response.status_code == 400
            assert response.json()["error"]["param"] == "reason"
            assert server.rest.calls[call_id].state == "ringing"

            accepted = await _post(
                server, f"/realtime/calls/{call_id}/accept", {"type": "realtime"}
            )
            assert accepted.status_code == 200
            response = await _post(
                server, f"/realtime/calls/{call_id}/refer", {"target_uri": "tel:+1", "to": "x"}
            )
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "unknown_parameter"
            assert server.rest.calls[call_id].state == "accepted"


def test_standard_webhooks_published_vector() -> None:
    """The example vector published with the Standard Webhooks specification (an outside source,
    not computed by this project), among other signatures in one header."""
    from realtime_anyio.webhooks import sign, verify

    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = sign(body, secret, webhook_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330)
    assert headers["webhook-signature"] == expected
    verify(
        body,
        {
            "Webhook-Id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "Webhook-Timestamp": "1614265330",
            "Webhook-Signature": f"v1a,c2lnbmF0dXJl v1,bm90IGl0 {expected}",
        },
        secret,
        now=1614265330 + 10,
    )
