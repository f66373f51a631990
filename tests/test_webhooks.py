"""Webhook verification against vectors computed here with the hmac module (not with sign())."""

from __future__ import annotations

import base64
import hashlib
import hmac

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from realtime_anyio import (
    RemoteProtocolError,
    WebhookHeaderError,
    WebhookSignatureError,
    WebhookTimestampError,
    WebhookVerificationError,
)
from realtime_anyio.webhooks import (
    RealtimeCallIncoming,
    SipHeader,
    UnknownWebhookEvent,
    sign,
    unwrap,
    verify,
)

KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"another key entirely, 32 bytes!").decode()
NOW = 1_760_000_000
MSG_ID = "wh_2uNPRCwxVGgGULhNNBBFSVb8yL3"

BODY = (
    b'{"object":"event","id":"evt_685c2a1e0b4c8190a2e4b2c8e3c6f1d7","type":"realtime.call.incoming",'
    b'"created_at":1760000000,"data":{"call_id":"rtc_u1_9c6574da8b8a41a18da9308f4ad974ce",'
    b'"sip_headers":[{"name":"From","value":"sip:+142555512112@sip.example.com"},'
    b'{"name":"To","value":"sip:+18005551212@sip.example.com"},'
    b'{"name":"Call-ID","value":"03782086-4ce9-44bf-8b0d-4e303d2cc590"}]}}'
)


def signature(body: bytes, *, key: bytes = KEY, msg_id: str = MSG_ID, ts: int = NOW) -> str:
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers_for(body: bytes = BODY, **kwargs: object) -> dict[str, str]:
    ts = kwargs.get("ts", NOW)
    assert isinstance(ts, int)
    return {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature(body, ts=ts),
    }


def test_valid_webhook_decodes_call_incoming() -> None:
    event = unwrap(BODY, headers_for(), SECRET, now=NOW)
    assert isinstance(event, RealtimeCallIncoming)
    assert event.type == "realtime.call.incoming"
    assert event.id == "evt_685c2a1e0b4c8190a2e4b2c8e3c6f1d7"
    assert event.created_at == NOW
    assert event.data.call_id == "rtc_u1_9c6574da8b8a41a18da9308f4ad974ce"
    assert event.data.sip_headers[0] == SipHeader("From", "sip:+142555512112@sip.example.com")
    assert event.data.sip_header("call-id") == "03782086-4ce9-44bf-8b0d-4e303d2cc590"
    assert event.data.sip_header("X-Missing") is None


def test_body_may_be_str() -> None:
    event = unwrap(BODY.decode(), headers_for(), SECRET, now=NOW)
    assert isinstance(event, RealtimeCallIncoming)


def test_tampered_body_is_rejected() -> None:
    tampered = BODY.replace(b"+18005551212", b"+18005551213")
    with pytest.raises(WebhookSignatureError):
        unwrap(tampered, headers_for(), SECRET, now=NOW)


def test_reserialised_body_is_rejected() -> None:
    # Re-encoding the JSON changes the bytes: verification needs the raw body.
    reencoded = msgspec.json.encode(msgspec.json.decode(BODY)) + b" "
    with pytest.raises(WebhookSignatureError):
        verify(reencoded, headers_for(), SECRET, now=NOW)


def test_wrong_secret_is_rejected() -> None:
    with pytest.raises(WebhookSignatureError):
        unwrap(BODY, headers_for(), OTHER_SECRET, now=NOW)


def test_changed_id_or_timestamp_breaks_the_signature() -> None:
    headers = headers_for()
    with pytest.raises(WebhookSignatureError):
        verify(BODY, {**headers, "webhook-id": "wh_other"}, SECRET, now=NOW)
    with pytest.raises(WebhookSignatureError):
        verify(BODY, {**headers, "webhook-timestamp": str(NOW + 1)}, SECRET, now=NOW)


def test_one_valid_signature_among_several_is_enough() -> None:
    good = signature(BODY)
    wrong_key = signature(BODY, key=b"k" * 32)
    header = f"v1,{base64.b64encode(b'x' * 32).decode()} {wrong_key} v2,abcd {good}"
    verify(BODY, {**headers_for(), "webhook-signature": header}, SECRET, now=NOW)


def test_only_wrong_signatures_fail() -> None:
    header = f"{signature(BODY, key=b'a' * 32)} {signature(BODY, key=b'b' * 32)}"
    with pytest.raises(WebhookSignatureError):
        verify(BODY, {**headers_for(), "webhook-signature": header}, SECRET, now=NOW)


def test_unknown_signature_versions_are_ignored() -> None:
    mac = signature(BODY).split(",", 1)[1]
    with pytest.raises(WebhookSignatureError):
        verify(BODY, {**headers_for(), "webhook-signature": f"v2,{mac}"}, SECRET, now=NOW)


@pytest.mark.parametrize("offset", [-301, 301, -10_000, 10_000])
def test_timestamp_outside_tolerance(offset: int) -> None:
    with pytest.raises(WebhookTimestampError):
        unwrap(BODY, headers_for(), SECRET, now=NOW + offset)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamp_inside_tolerance(offset: int) -> None:
    verify(BODY, headers_for(), SECRET, now=NOW + offset)


def test_custom_tolerance() -> None:
    verify(BODY, headers_for(), SECRET, now=NOW + 3000, tolerance=3600)
    with pytest.raises(WebhookTimestampError):
        verify(BODY, headers_for(), SECRET, now=NOW + 10, tolerance=5)


def test_expired_timestamp_with_a_valid_signature_is_a_timestamp_error() -> None:
    old = NOW - 3600
    headers = headers_for(ts=old)
    with pytest.raises(WebhookTimestampError):
        verify(BODY, headers, SECRET, now=NOW)


def test_stale_and_forged_is_a_signature_error() -> None:
    # The signature is checked first: a forged message is never reported as merely stale.
    headers = {**headers_for(ts=NOW - 3600), "webhook-signature": signature(BODY, key=b"z" * 32)}
    with pytest.raises(WebhookSignatureError):
        verify(BODY, headers, SECRET, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header(missing: str) -> None:
    headers = headers_for()
    del headers[missing]
    with pytest.raises(WebhookHeaderError, match=missing):
        verify(BODY, headers, SECRET, now=NOW)


@pytest.mark.parametrize("timestamp", ["", "abc", "1.5", "-5", "\uff11\uff12\uff13"])
def test_malformed_timestamp(timestamp: str) -> None:
    with pytest.raises(WebhookHeaderError):
        verify(BODY, {**headers_for(), "webhook-timestamp": timestamp}, SECRET, now=NOW)


@pytest.mark.parametrize("value", ["garbage", "v1", "   ", ",abc"])
def test_malformed_signature_header(value: str) -> None:
    with pytest.raises(WebhookHeaderError):
        verify(BODY, {**headers_for(), "webhook-signature": value}, SECRET, now=NOW)


def test_headers_are_case_insensitive_and_may_be_pairs() -> None:
    headers = headers_for()
    upper = {name.upper(): value for name, value in headers.items()}
    verify(BODY, upper, SECRET, now=NOW)
    pairs = [("Content-Type", "application/json"), *((k.title(), v) for k, v in headers.items())]
    verify(BODY, pairs, SECRET, now=NOW)


def test_raw_and_bytes_secrets() -> None:
    raw_secret = "plain-text-secret"
    mac = hmac.new(raw_secret.encode(), f"{MSG_ID}.{NOW}.".encode() + BODY, hashlib.sha256)
    headers = {
        **headers_for(),
        "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
    }
    verify(BODY, headers, raw_secret, now=NOW)
    verify(BODY, headers, raw_secret.encode(), now=NOW)
    verify(BODY, headers_for(), KEY, now=NOW)


def test_invalid_whsec_secret_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="base64"):
        verify(BODY, headers_for(), "whsec_not*base64", now=NOW)


def test_errors_share_a_base() -> None:
    assert issubclass(WebhookHeaderError, WebhookVerificationError)
    assert issubclass(WebhookSignatureError, WebhookVerificationError)
    assert issubclass(WebhookTimestampError, WebhookVerificationError)


def test_unknown_type_is_forward_compatible() -> None:
    body = (
        b'{"object":"event","id":"evt_1","type":"response.completed","created_at":5,'
        b'"data":{"id":"resp_1"}}'
    )
    headers = {**headers_for(), "webhook-signature": signature(body)}
    event = unwrap(body, headers, SECRET, now=NOW)
    assert isinstance(event, UnknownWebhookEvent)
    assert event.type == "response.completed"
    assert event.id == "evt_1"
    assert event.payload["data"] == {"id": "resp_1"}


def test_malformed_known_type_is_a_protocol_error() -> None:
    body = (
        b'{"object":"event","id":"evt_1","type":"realtime.call.incoming","created_at":5,"data":{}}'
    )
    headers = {**headers_for(), "webhook-signature": signature(body)}
    with pytest.raises(RemoteProtocolError) as info:
        unwrap(body, headers, SECRET, now=NOW)
    assert info.value.path == "data"


def test_verified_non_json_is_a_protocol_error() -> None:
    body = b"not json"
    headers = {**headers_for(), "webhook-signature": signature(body)}
    with pytest.raises(RemoteProtocolError):
        unwrap(body, headers, SECRET, now=NOW)


def test_sign_matches_the_independent_vector() -> None:
    assert sign(BODY, SECRET, webhook_id=MSG_ID, timestamp=NOW) == headers_for()


def test_event_round_trips() -> None:
    event = unwrap(BODY, headers_for(), SECRET, now=NOW)
    assert msgspec.json.decode(msgspec.json.encode(event)) == msgspec.json.decode(BODY)


def test_secret_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_WEBHOOK_SECRET", SECRET)
    assert isinstance(unwrap(BODY, headers_for(), now=NOW), RealtimeCallIncoming)
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET")
    with pytest.raises(ValueError, match="OPENAI_WEBHOOK_SECRET"):
        verify(BODY, headers_for(), now=NOW)


def test_signature_split_over_repeated_headers() -> None:
    headers = headers_for()
    pairs = [
        ("webhook-id", headers["webhook-id"]),
        ("webhook-timestamp", headers["webhook-timestamp"]),
        ("webhook-signature", signature(BODY, key=b"q" * 32)),
        ("Webhook-Signature", headers["webhook-signature"]),
    ]
    verify(BODY, pairs, SECRET, now=NOW)


@given(
    body=st.binary(max_size=512),
    key=st.binary(min_size=1, max_size=64),
    msg_id=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1),
    flip=st.integers(min_value=0),
)
@settings(max_examples=examples(200), deadline=None)
def test_any_changed_byte_breaks_the_signature(
    body: bytes, key: bytes, msg_id: str, flip: int
) -> None:
    mac = hmac.new(key, f"{msg_id}.{NOW}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(NOW),
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }
    verify(body, headers, key, now=NOW)
    if body:
        index = flip % len(body)
        changed = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1 :]
        with pytest.raises(WebhookSignatureError):
            verify(changed, headers, key, now=NOW)
    with pytest.raises(WebhookSignatureError):
        verify(body + b"x", headers, key, now=NOW)
