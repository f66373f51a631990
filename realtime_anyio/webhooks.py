"""Verify and decode the webhooks the Realtime service sends, such as ``realtime.call.incoming``.

The service signs webhooks with the Standard Webhooks scheme: three headers,

- ``webhook-id``: a unique message id (also useful to drop redeliveries),
- ``webhook-timestamp``: Unix seconds when the message was signed,
- ``webhook-signature``: space-separated ``v1,<base64>`` entries (several during a secret
  rotation); each is the HMAC-SHA256 of ``"{id}.{timestamp}.{body}"``.

:func:`unwrap` checks them and decodes the body into a typed event; :func:`verify` only checks.
The secret is the ``whsec_…`` string from the dashboard: what follows ``whsec_`` is the
base64-encoded HMAC key. A ``str`` without that prefix is used as the key as it is (its UTF-8
bytes), and a ``bytes`` secret is the key itself. Without a secret argument,
``OPENAI_WEBHOOK_SECRET`` is read from the environment.

Verification happens in this order, each failure with its own exception: the three headers are
present and well formed (:class:`~realtime_anyio.WebhookHeaderError`), one of the ``v1``
signatures matches the body (:class:`~realtime_anyio.WebhookSignatureError`), and the timestamp
is within ``tolerance`` seconds of now, in either direction
(:class:`~realtime_anyio.WebhookTimestampError`). The signature is checked before the timestamp,
so a timestamp error always means an authentic message that is stale or replayed (or a clock
that is off).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal, Union

import msgspec

from ._errors import (
    RemoteProtocolError,
    WebhookHeaderError,
    WebhookSignatureError,
    WebhookTimestampError,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "SECRET_ENV",
    "RealtimeCallIncoming",
    "RealtimeCallIncomingData",
    "SipHeader",
    "UnknownWebhookEvent",
    "WebhookEvent",
    "WebhookHeaders",
    "decode_event",
    "sign",
    "unwrap",
    "verify",
]

#: How far (seconds) a webhook's timestamp may be from the current time, either way.
DEFAULT_TOLERANCE = 300.0

#: The environment variable read when no secret is passed (as the official SDK does).
SECRET_ENV = "OPENAI_WEBHOOK_SECRET"

#: Webhook headers as a mapping or as ``(name, value)`` pairs; names are case-insensitive.
WebhookHeaders = Union[Mapping[str, str], Iterable[tuple[str, str]]]  # noqa: UP007


class SipHeader(msgspec.Struct, frozen=True):
    """One header of the SIP INVITE that started a call."""

    name: str
    value: str


class RealtimeCallIncomingData(msgspec.Struct, frozen=True):
    """The payload of ``realtime.call.incoming``: the call to accept and its SIP headers."""

    call_id: str
    sip_headers: list[SipHeader] = msgspec.field(default_factory=lambda: [])

    def sip_header(self, name: str) -> str | None:
        """The value of the first SIP header called ``name`` (case-insensitive), if any."""
        wanted = name.lower()
        for header in self.sip_headers:
            if header.name.lower() == wanted:
                return header.value
        return None


class RealtimeCallIncoming(msgspec.Struct, frozen=True, tag="realtime.call.incoming"):
    """A SIP call reached your project and waits to be accepted, rejected or referred.

    Answer it with ``rt.calls.accept(event.data.call_id, session=...)`` (or ``reject`` /
    ``refer``), then attach a WebSocket with ``open_realtime(call_id=...)``.
    """

    type: ClassVar[Literal["realtime.call.incoming"]] = "realtime.call.incoming"
    id: str
    created_at: int
    data: RealtimeCallIncomingData
    object: Literal["event"] = "event"


class UnknownWebhookEvent(msgspec.Struct, frozen=True):
    """A verified webhook of a type this version does not model (other OpenAI webhooks).

    ``type``, ``id`` and ``created_at`` are read when present; ``payload`` is the whole decoded
    body, so nothing is lost.
    """

    type: str
    id: str | None
    created_at: int | None
    payload: dict[str, Any]


#: What :func:`unwrap` returns.
WebhookEvent = Union[RealtimeCallIncoming, UnknownWebhookEvent]  # noqa: UP007


class _Envelope(msgspec.Struct):
    type: str
    id: str | None = None
    created_at: int | None = None


_ENVELOPE_DECODER: msgspec.json.Decoder[_Envelope] = msgspec.json.Decoder(_Envelope)
_CALL_INCOMING_DECODER: msgspec.json.Decoder[RealtimeCallIncoming] = msgspec.json.Decoder(
    RealtimeCallIncoming
)
_PATH = re.compile(r"at `\$\.([^`]+)`")
_OBJECT_DECODER: msgspec.json.Decoder[dict[str, Any]] = msgspec.json.Decoder(dict[str, Any])


def _key(secret: str | bytes | None) -> bytes:
    if secret is None:
        secret = os.environ.get(SECRET_ENV)
        if not secret:
            raise ValueError(f"no webhook secret given and {SECRET_ENV} is not set")
    if isinstance(secret, bytes):
        key = secret
    elif secret.startswith("whsec_"):
        try:
            key = base64.b64decode(secret[len("whsec_") :], validate=True)
        except binascii.Error:
            raise ValueError("the whsec_ webhook secret is not valid base64") from None
    else:
        key = secret.encode()
    if not key:
        raise ValueError("the webhook secret is empty")
    return key


def _header_map(headers: WebhookHeaders) -> dict[str, str]:
    # A Mapping is also an Iterable (of keys); pyright cannot narrow that union precisely.
    pairs: Iterable[tuple[str, str]]
    if isinstance(headers, Mapping):  # noqa: SIM108
        pairs = headers.items()  # pyright: ignore[reportUnknownMemberType, reportAssignmentType, reportUnknownVariableType]
    else:
        pairs = headers
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key == "webhook-signature" and key in out:
            # A proxy may split one header into several; signatures are space-separated anyway.
            out[key] = f"{out[key]} {value}"
        else:
            out.setdefault(key, value)
    return out


def _signature_payload(webhook_id: str, timestamp: str, body: bytes) -> bytes:
    return f"{webhook_id}.{timestamp}.".encode() + body


def sign(
    body: bytes | str,
    secret: str | bytes,
    *,
    webhook_id: str,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, as the service would send them.

    For tests and local tools that need to produce webhooks your receiver will accept.
    ``timestamp`` defaults to now (Unix seconds).
    """
    raw = body.encode() if isinstance(body, str) else body
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(_key(secret), _signature_payload(webhook_id, ts, raw), hashlib.sha256)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(digest.digest()).decode(),
    }


def verify(
    body: bytes | str,
    headers: WebhookHeaders,
    secret: str | bytes | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> None:
    """Check a webhook's signature and timestamp; raise if it is not authentic and fresh.

    ``body`` must be the raw request body, byte for byte (not re-serialised JSON). ``secret``
    defaults to the ``OPENAI_WEBHOOK_SECRET`` environment variable. ``now`` overrides the
    current Unix time, for tests.
    """
    fields = _header_map(headers)
    webhook_id = fields.get("webhook-id")
    timestamp = fields.get("webhook-timestamp")
    signature = fields.get("webhook-signature")
    missing = [
        name
        for name, value in (
            ("webhook-id", webhook_id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", signature),
        )
        if not value
    ]
    if missing:
        raise WebhookHeaderError(f"missing webhook header(s): {', '.join(missing)}")
    assert webhook_id is not None and timestamp is not None and signature is not None
    timestamp = timestamp.strip()
    if not timestamp.isascii() or not timestamp.isdigit():
        raise WebhookHeaderError("webhook-timestamp is not a whole number of Unix seconds")
    candidates: list[bytes] = []
    parsed_any = False
    for entry in signature.split():
        version, sep, encoded = entry.partition(",")
        if not sep or not version or not encoded:
            continue
        parsed_any = True
        if version != "v1":
            continue
        try:
            candidates.append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    if not parsed_any:
        raise WebhookHeaderError("webhook-signature holds no '<version>,<signature>' entry")

    raw = body.encode() if isinstance(body, str) else body
    expected = hmac.new(
        _key(secret), _signature_payload(webhook_id, timestamp, raw), hashlib.sha256
    ).digest()
    # Compare against every candidate, so timing does not reveal which one matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookSignatureError("no v1 signature in webhook-signature matches the body")

    current = time.time() if now is None else now
    age = current - int(timestamp)
    if age > tolerance:
        raise WebhookTimestampError(
            f"webhook timestamp is {age:.0f} s old (tolerance {tolerance} s)"
        )
    if -age > tolerance:
        raise WebhookTimestampError(
            f"webhook timestamp is {-age:.0f} s in the future (tolerance {tolerance} s)"
        )


def unwrap(
    body: bytes | str,
    headers: WebhookHeaders,
    secret: str | bytes | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> WebhookEvent:
    """Verify a webhook (see :func:`verify`), then decode its body into a typed event.

    ``realtime.call.incoming`` becomes :class:`RealtimeCallIncoming`; any other type becomes
    :class:`UnknownWebhookEvent` with the decoded payload, so new webhook types do not break a
    receiver. A verified body that is not valid JSON, or a known type with a malformed payload,
    raises :class:`~realtime_anyio.RemoteProtocolError`.
    """
    verify(body, headers, secret, tolerance=tolerance, now=now)
    return decode_event(body)


def decode_event(body: bytes | str) -> WebhookEvent:
    """Decode a webhook body without verifying it (only for bodies already verified)."""
    try:
        envelope = _ENVELOPE_DECODER.decode(body)
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(f"webhook body is not a valid event: {exc}", body) from None
    if envelope.type == "realtime.call.incoming":
        try:
            return _CALL_INCOMING_DECODER.decode(body)
        except msgspec.ValidationError as exc:
            where = _PATH.search(str(exc))
            raise RemoteProtocolError(
                f"malformed realtime.call.incoming webhook: {exc}",
                body,
                path=where.group(1) if where else None,
            ) from None
    return UnknownWebhookEvent(
        type=envelope.type,
        id=envelope.id,
        created_at=envelope.created_at,
        payload=_OBJECT_DECODER.decode(body),
    )
