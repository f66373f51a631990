"""The REST side of the bundled fake server: client secrets, WebRTC call creation, SIP call control.

``FakeREST`` answers the ``/realtime/*`` endpoints the way the live service does (paths, status
codes, ``x-request-id`` headers, OpenAI-shaped error bodies) and keeps the state of every call it
knows, so a WebSocket ``?call_id=`` attach can be refused for unknown or ended calls. It does no
I/O of its own except :meth:`FakeREST.simulate_incoming_call`, which delivers a signed
``realtime.call.incoming`` webhook to a loopback URL, the way the service announces a SIP call.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import string
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import httpx
import msgspec

from ..webhooks import sign
from ._http import HTTPRequest, HTTPResponse
from ._settings import apply_session_update, default_realtime_session, default_transcription_session
from ._validate import Invalid

__all__ = ["CallState", "FakeCall", "FakeREST", "FakeRESTTransport", "IssuedSecret"]

CallState = Literal["ringing", "accepted", "active", "rejected", "referred", "ended"]

logger = logging.getLogger("realtime_anyio.testing.rest")

_ALPHABET = string.ascii_letters + string.digits
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_JSON_ENCODER = msgspec.json.Encoder()
_JSON_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def _new_id(prefix: str, length: int = 21) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base``: nested objects merge, the rest replaces."""
    out = dict(base)
    for key, value in update.items():
        current = out.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            out[key] = _merge(current, value)  # pyright: ignore[reportUnknownArgumentType]
        else:
            out[key] = value
    return out


class _RequestError(Exception):
    """Raised inside a handler to answer with an OpenAI-shaped error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param


@dataclass
class FakeCall:
    """One call the fake knows: a SIP call announced by a webhook or a WebRTC call it created.

    ``state`` moves ``ringing`` → ``accepted`` → ``ended`` for SIP calls (or ``rejected`` /
    ``referred``), ``active`` → ``ended`` for WebRTC calls. ``session`` is the configuration the
    call was accepted or created with; ``ended`` is set when the call leaves the service.
    """

    call_id: str
    kind: Literal["sip", "webrtc"]
    state: CallState
    sip_headers: list[dict[str, str]] = field(default_factory=lambda: [])
    session: dict[str, Any] | None = None
    reject_status_code: int | None = None
    refer_target_uri: str | None = None
    webhook_status: int | None = None
    ended: anyio.Event = field(default_factory=anyio.Event)

    @property
    def attachable(self) -> bool:
        """Whether a WebSocket may attach with ``?call_id=`` right now."""
        return self.state in ("accepted", "active")


@dataclass(frozen=True)
class IssuedSecret:
    """A client secret the fake handed out, with the session it was created for."""

    value: str
    expires_at: int
    session: dict[str, Any]
    kind: Literal["realtime", "transcription", "translation"]


@dataclass
class _Fault:
    remaining: int
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    path_contains: str | None


class FakeREST:
    """The ``/realtime/*`` REST endpoints, in memory, for :class:`FakeRealtimeServer`.

    ``api_key`` (when given) is required on every request as ``Authorization: Bearer …`` or an
    ``api-key`` header; ``POST /realtime/calls`` also takes a client secret this fake issued.
    Paths are matched from their ``/realtime/`` segment on, so ``/v1/realtime/...`` and Azure's
    ``/openai/v1/realtime/...`` both work. ``clock`` returns Unix seconds (``time.time`` by
    default) and drives secret expiry and webhook timestamps.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.api_key = api_key
        self.clock = clock
        self.calls: dict[str, FakeCall] = {}
        self.secrets: dict[str, IssuedSecret] = {}
        #: Every request handled, oldest first (header names lower-case).
        self.requests: list[HTTPRequest] = []
        self._faults: list[_Fault] = []

    # -- state queries used by the WebSocket side and by tests -------------------------------

    def is_known_call(self, call_id: str) -> bool:
        """Whether a WebSocket may attach to ``call_id`` (accepted SIP call or live WebRTC call).

        Unknown, still ringing, rejected, referred and ended calls answer ``False``: the live
        service refuses those handshakes with HTTP 404.
        """
        call = self.calls.get(call_id)
        return call is not None and call.attachable

    def call_session(self, call_id: str) -> dict[str, Any] | None:
        """The session configuration a call was accepted or created with, if any."""
        call = self.calls.get(call_id)
        return None if call is None else call.session

    def is_valid_key(self, key: str) -> bool:
        """Whether ``key`` is the configured API key or an unexpired client secret issued here
        (any key is valid when no ``api_key`` is configured)."""
        if self.api_key is None or hmac.compare_digest(key.encode(), self.api_key.encode()):
            return True
        issued = self.secrets.get(key)
        return issued is not None and issued.expires_at > self.clock()

    # -- fault injection ---------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 503,
        retry_after: float | str | None = None,
        retry_after_ms: float | None = None,
        path_contains: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``count`` requests (optionally only paths containing ``path_contains``)
        with ``status`` and an OpenAI-shaped error body, before any other processing.

        ``retry_after`` becomes a ``Retry-After`` header (seconds, or a preformatted HTTP date
        string) and ``retry_after_ms`` a ``retry-after-ms`` header.
        """
        extra: dict[str, str] = dict(headers or {})
        if retry_after is not None:
            extra["retry-after"] = str(retry_after)
        if retry_after_ms is not None:
            extra["retry-after-ms"] = str(retry_after_ms)
        if status == 429:
            body = _error_body(
                "Rate limit reached; try again later.", "requests", "rate_limit_exceeded"
            )
        elif status >= 500:
            body = _error_body(
                "The server had an error while processing your request.", "server_error"
            )
        else:
            body = _error_body(f"Injected failure with status {status}.", "invalid_request_error")
        self._faults.append(_Fault(count, status, extra, body, path_contains))

    # -- SIP simulation ----------------------------------------------------------------------

    async def simulate_incoming_call(
        self,
        *,
        webhook_url: str | None = None,
        webhook_secret: str | bytes | None = None,
        sip_headers: Iterable[tuple[str, str]] | None = None,
        call_id: str | None = None,
    ) -> str:
        """Register a ringing SIP call and, given ``webhook_url``, announce it there.

        The webhook is a ``realtime.call.incoming`` event POSTed over loopback with httpx and
        signed with ``webhook_secret`` (a ``whsec_…`` secret, as the service does). The status
        the receiver answered is kept in ``calls[call_id].webhook_status``. Returns the new
        ``rtc_…`` call id. ``sip_headers`` are ``(name, value)`` pairs from the SIP INVITE
        (default: a plausible ``From``, ``To`` and ``Call-ID``). Only loopback URLs are accepted.

        Cancellation: safe; the call stays registered (ringing) and the delivery is abandoned.
        """
        if webhook_url is not None:
            if urlsplit(webhook_url).hostname not in _LOOPBACK_HOSTS:
                raise ValueError("the fake server only delivers webhooks to loopback addresses")
            if webhook_secret is None:
                raise ValueError("webhook_secret is required to sign the webhook")
        call_id = call_id or _new_id("rtc_", 32)
        pairs = list(sip_headers) if sip_headers is not None else _default_sip_headers(call_id)
        call = FakeCall(
            call_id=call_id,
            kind="sip",
            state="ringing",
            sip_headers=[{"name": name, "value": value} for name, value in pairs],
        )
        self.calls[call_id] = call
        if webhook_url is None or webhook_secret is None:
            return call_id
        now = int(self.clock())
        event = {
            "object": "event",
            "id": _new_id("evt_", 32),
            "type": "realtime.call.incoming",
            "created_at": now,
            "data": {"call_id": call_id, "sip_headers": call.sip_headers},
        }
        body = _JSON_ENCODER.encode(event)
        headers = {
            "content-type": "application/json",
            "user-agent": "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)",
            **sign(body, webhook_secret, webhook_id=_new_id("wh_", 32), timestamp=now),
        }
        async with httpx.AsyncClient(timeout=10.0, trust_env=False) as client:
            response = await client.post(webhook_url, content=body, headers=headers)
        call.webhook_status = response.status_code
        return call_id

    def end_call(self, call_id: str) -> None:
        """End a call as if the caller hung up (attached WebSockets then close).

        Raises ``KeyError`` for an unknown call id.
        """
        call = self.calls[call_id]
        call.state = "ended"
        call.ended.set()

    # -- HTTP ----------------------------------------------------------------------------------

    async def handle(self, request: HTTPRequest) -> HTTPResponse:
        """Answer one REST request; every response carries an ``x-request-id`` header.

        Cancellation: safe; a cancelled request changes no state.
        """
        self.requests.append(request)
        request_id = "req_" + secrets.token_hex(16)
        try:
            response = self._route(request)
        except _RequestError as exc:
            response = HTTPResponse(
                exc.status,
                {"content-type": "application/json"},
                _JSON_ENCODER.encode(_error_body(exc.message, exc.type, exc.code, exc.param)),
            )
        except Exception:
            # A bug in the fake: answer like the service's 500 and keep it visible in the logs.
            logger.exception("fake REST: handling %s %s failed", request.method, request.path)
            response = _json_response(
                500,
                _error_body(
                    "The server had an error while processing your request.", "server_error"
                ),
            )
        response.headers.setdefault("x-request-id", request_id)
        return response

    def _route(self, request: HTTPRequest) -> HTTPResponse:
        marker = request.path.find("/realtime/")
        tail = request.path[marker:] if marker >= 0 else request.path
        fault = self._take_fault(tail)
        if fault is not None:
            return HTTPResponse(
                fault.status,
                {"content-type": "application/json", **fault.headers},
                _JSON_ENCODER.encode(fault.body),
            )
        parts = [p for p in tail.split("/") if p]
        if len(parts) < 2 or parts[0] != "realtime":
            raise _RequestError(404, f"Invalid URL ({request.method} {request.path})")
        if request.method != "POST":
            raise _RequestError(405, f"Method {request.method} is not allowed for {request.path}")
        if parts == ["realtime", "client_secrets"]:
            self._authenticate(request)
            return self._create_client_secret(request)
        if parts == ["realtime", "translations", "client_secrets"]:
            self._authenticate(request)
            return self._create_translation_secret(request)
        if parts == ["realtime", "calls"]:
            return self._create_call(request, self._authenticate(request, allow_client_secret=True))
        if len(parts) == 4 and parts[1] == "calls":
            self._authenticate(request)
            call_id, action = parts[2], parts[3]
            if action == "accept":
                return self._accept(call_id, request)
            if action == "reject":
                return self._reject(call_id, request)
            if action == "refer":
                return self._refer(call_id, request)
            if action == "hangup":
                return self._hangup(call_id)
        raise _RequestError(404, f"Invalid URL ({request.method} {request.path})")

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.path_contains is None or fault.path_contains in path:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _authenticate(
        self, request: HTTPRequest, *, allow_client_secret: bool = False
    ) -> IssuedSecret | None:
        """Check the credentials; returns the client secret used, if one was."""
        authorization = request.headers.get("authorization")
        key: str | None = None
        if authorization is not None:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                key = value.strip()
        if key is None:
            key = request.headers.get("api-key")
        if key is not None and key.startswith("ek_"):
            issued = self.secrets.get(key)
            if allow_client_secret and issued is not None and issued.expires_at > self.clock():
                return issued
            if issued is None or not allow_client_secret:
                raise _RequestError(401, _incorrect_key_message(key), code="invalid_api_key")
            raise _RequestError(401, "The client secret has expired.", code="invalid_api_key")
        if self.api_key is None:
            return None
        if key is None:
            raise _RequestError(
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise _RequestError(401, _incorrect_key_message(key), code="invalid_api_key")
        return None

    # -- client secrets --------------------------------------------------------------------------

    def _expiry(self, body: Mapping[str, Any]) -> int:
        expires_after = body.get("expires_after")
        seconds: Any = 600
        if expires_after is not None:
            if not isinstance(expires_after, Mapping):
                raise _RequestError(
                    400,
                    "Invalid type for 'expires_after': expected an object.",
                    code="invalid_type",
                    param="expires_after",
                )
            _reject_unknown(expires_after, ("anchor", "seconds"), "expires_after.")  # pyright: ignore[reportUnknownArgumentType]
            anchor = expires_after.get("anchor", "created_at")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
            if anchor != "created_at":
                raise _RequestError(
                    400,
                    f"Invalid value: '{anchor}'. Supported values are: 'created_at'.",
                    code="invalid_value",
                    param="expires_after.anchor",
                )
            seconds = expires_after.get("seconds", 600)  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise _RequestError(
                400,
                "Invalid type for 'expires_after.seconds': expected an integer.",
                code="invalid_type",
                param="expires_after.seconds",
            )
        if seconds < 10:
            raise _RequestError(
                400,
                f"Invalid 'expires_after.seconds': integer below minimum value. "
                f"Expected a value >= 10, but got {seconds} instead.",
                code="integer_below_min_value",
                param="expires_after.seconds",
            )
        if seconds > 7200:
            raise _RequestError(
                400,
                f"Invalid 'expires_after.seconds': integer above maximum value. "
                f"Expected a value <= 7200, but got {seconds} instead.",
                code="integer_above_max_value",
                param="expires_after.seconds",
            )
        return int(self.clock()) + seconds

    def _issue(self, expires_at: int, session: dict[str, Any], kind: Any) -> HTTPResponse:
        value = _new_id("ek_", 32)
        self.secrets[value] = IssuedSecret(value, expires_at, session, kind)
        return _json_response(200, {"value": value, "expires_at": expires_at, "session": session})

    def _create_client_secret(self, request: HTTPRequest) -> HTTPResponse:
        body = _json_object(request)
        _reject_unknown(body, ("expires_after", "session"))
        expires_at = self._expiry(body)
        requested = body.get("session")
        if requested is None:
            requested = {"type": "realtime"}
        session = _effective_session(requested, "session")
        return self._issue(expires_at, session, session["type"])

    def _create_translation_secret(self, request: HTTPRequest) -> HTTPResponse:
        body = _json_object(request)
        _reject_unknown(body, ("expires_after", "session"))
        expires_at = self._expiry(body)
        requested = body.get("session")
        if not isinstance(requested, Mapping):
            raise _RequestError(
                400,
                "Missing required parameter: 'session'.",
                code="missing_required_parameter",
                param="session",
            )
        model = requested.get("model")  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if not isinstance(model, str):
            raise _RequestError(
                400,
                "Missing required parameter: 'session.model'.",
                code="missing_required_parameter",
                param="session.model",
            )
        session = _merge(
            {
                "id": _new_id("sess_"),
                "type": "translation",
                "expires_at": expires_at,
                "model": model,
                "audio": {"input": {"transcription": None, "noise_reduction": None}, "output": {}},
            },
            requested,  # pyright: ignore[reportUnknownArgumentType]
        )
        session["type"] = "translation"
        return self._issue(expires_at, session, "translation")

    # -- calls -----------------------------------------------------------------------------------

    def _create_call(self, request: HTTPRequest, issued: IssuedSecret | None) -> HTTPResponse:
        content_type = request.headers.get("content-type", "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        requested: Any = None
        if media_type == "application/sdp":
            offer = request.body.decode("utf-8", "replace")
        elif media_type == "multipart/form-data":
            parts = _parse_multipart(content_type, request.body)
            if "sdp" not in parts:
                raise _RequestError(
                    400,
                    "Missing required parameter: 'sdp'.",
                    code="missing_required_parameter",
                    param="sdp",
                )
            offer = parts["sdp"].decode("utf-8", "replace")
            if "session" in parts:
                try:
                    requested = _JSON_DECODER.decode(parts["session"])
                except msgspec.DecodeError:
                    raise _RequestError(
                        400,
                        "The 'session' part is not valid JSON.",
                        code="invalid_json",
                        param="session",
                    ) from None
        else:
            raise _RequestError(
                400,
                f"Unsupported content type: '{media_type or 'none'}'. Use application/sdp or "
                "multipart/form-data.",
                code="unsupported_content_type",
            )
        if not offer.lstrip().startswith("v=0"):
            raise _RequestError(400, "Invalid SDP offer.", code="invalid_offer", param="sdp")
        if requested is not None:
            session = _effective_session(requested, "session")
        elif issued is not None:
            session = issued.session
        else:
            session = default_realtime_session(
                session_id=_new_id("sess_"), model="gpt-realtime", expires_at=0
            )
        call_id = _new_id("rtc_", 32)
        self.calls[call_id] = FakeCall(call_id, "webrtc", "active", session=session)
        prefix = (
            request.path[: request.path.find("/realtime/")] if "/realtime/" in request.path else ""
        )
        return HTTPResponse(
            201,
            {"content-type": "application/sdp", "location": f"{prefix}/realtime/calls/{call_id}"},
            _sdp_answer(offer).encode(),
        )

    def _call(self, call_id: str) -> FakeCall:
        call = self.calls.get(call_id)
        if call is None:
            raise _RequestError(
                404, f"Call '{call_id}' not found.", code="call_not_found", param="call_id"
            )
        return call

    def _live_call(self, call_id: str) -> FakeCall:
        call = self._call(call_id)
        if call.state in ("rejected", "referred", "ended"):
            raise _RequestError(
                404, f"Call '{call_id}' has already ended.", code="call_not_found", param="call_id"
            )
        return call

    def _accept(self, call_id: str, request: HTTPRequest) -> HTTPResponse:
        body = _json_object(request)
        call = self._live_call(call_id)
        if call.state != "ringing":
            raise _RequestError(
                409,
                f"Call '{call_id}' has already been accepted.",
                code="call_already_accepted",
                param="call_id",
            )
        if body.get("type") is None:
            raise _RequestError(
                400,
                "Missing required parameter: 'type'.",
                code="missing_required_parameter",
                param="type",
            )
        if body.get("type") != "realtime":
            raise _RequestError(
                400,
                f"Invalid value: '{body.get('type')}'. Supported values are: 'realtime'.",
                code="invalid_value",
                param="type",
            )
        call.session = _effective_session(body, "")
        call.state = "accepted"
        return HTTPResponse(200)

    def _reject(self, call_id: str, request: HTTPRequest) -> HTTPResponse:
        body = _json_object(request) if request.body.strip() else {}
        call = self._live_call(call_id)
        _reject_unknown(body, ("status_code",))
        if call.state != "ringing":
            raise _RequestError(
                409,
                f"Call '{call_id}' was already accepted; hang up instead.",
                code="call_not_ringing",
                param="call_id",
            )
        status_code = body.get("status_code", 603)
        if (
            not isinstance(status_code, int)
            or isinstance(status_code, bool)
            or not (400 <= status_code <= 699)
        ):
            raise _RequestError(
                400,
                "Invalid 'status_code': expected a SIP status from 400 to 699.",
                code="invalid_value",
                param="status_code",
            )
        call.reject_status_code = status_code
        call.state = "rejected"
        call.ended.set()
        return HTTPResponse(200)

    def _refer(self, call_id: str, request: HTTPRequest) -> HTTPResponse:
        body = _json_object(request)
        call = self._live_call(call_id)
        _reject_unknown(body, ("target_uri",))
        target = body.get("target_uri")
        if not isinstance(target, str) or not target:
            raise _RequestError(
                400,
                "Missing required parameter: 'target_uri'.",
                code="missing_required_parameter",
                param="target_uri",
            )
        if call.kind != "sip" or call.state != "accepted":
            raise _RequestError(
                409,
                f"Call '{call_id}' cannot be referred in state {call.state}.",
                code="call_not_active",
                param="call_id",
            )
        call.refer_target_uri = target
        call.state = "referred"
        call.ended.set()
        return HTTPResponse(200)

    def _hangup(self, call_id: str) -> HTTPResponse:
        call = self._live_call(call_id)
        call.state = "ended"
        call.ended.set()
        return HTTPResponse(200)


class FakeRESTTransport(httpx.AsyncBaseTransport):
    """An httpx transport that hands each request to a :class:`FakeREST` in the same process.

    For fast tests without sockets: ``httpx.AsyncClient(transport=FakeRESTTransport(rest))``,
    then pass that client as ``Realtime(http_client=...)``. httpx timeouts do not apply.
    """

    def __init__(self, rest: FakeREST) -> None:
        self.rest = rest

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Serve one request in memory.

        Cancellation: safe; nothing is left half-done.
        """
        body = await request.aread()
        answer = await self.rest.handle(
            HTTPRequest(
                method=request.method,
                path=request.url.raw_path.split(b"?", 1)[0].decode("ascii"),
                query=dict(request.url.params),
                headers={name.lower(): value for name, value in request.headers.items()},
                body=body,
            )
        )
        return httpx.Response(answer.status, headers=answer.headers, content=answer.body)


# -- helpers -------------------------------------------------------------------------------------


def _error_body(
    message: str, type: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _incorrect_key_message(key: str) -> str:
    shown = f"{key[:3]}…{key[-4:]}" if len(key) > 8 else "…"
    return (
        f"Incorrect API key provided: {shown}. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    )


def _reject_unknown(body: Mapping[str, Any], allowed: tuple[str, ...], prefix: str = "") -> None:
    """Answer 400 ``unknown_parameter`` for a key of ``body`` not in ``allowed``, as the service
    does for request bodies its schema closes (``additionalProperties: false``)."""
    for key in body:
        if key not in allowed:
            raise _RequestError(
                400,
                f"Unknown parameter: '{prefix}{key}'.",
                code="unknown_parameter",
                param=f"{prefix}{key}",
            )


def _json_response(status: int, payload: object) -> HTTPResponse:
    return HTTPResponse(status, {"content-type": "application/json"}, _JSON_ENCODER.encode(payload))


def _json_object(request: HTTPRequest) -> dict[str, Any]:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise _RequestError(
            400,
            "Expected a JSON body (Content-Type: application/json).",
            code="unsupported_content_type",
        )
    try:
        body = _JSON_DECODER.decode(request.body)
    except msgspec.DecodeError:
        raise _RequestError(
            400, "We could not parse the JSON body of your request.", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise _RequestError(400, "The request body must be a JSON object.", code="invalid_type")
    return body  # pyright: ignore[reportUnknownVariableType]


def _effective_session(requested: Any, where: str) -> dict[str, Any]:
    """Check a session configuration the way the service does and fill in its defaults.

    ``where`` is the configuration's place in the request body (``"session"``, or ``""`` when
    the body is the configuration itself, as for accept); it prefixes error params.
    """
    prefix = f"{where}." if where else ""
    if not isinstance(requested, Mapping):
        raise _RequestError(
            400,
            f"Invalid type for '{where or 'body'}': expected an object.",
            code="invalid_type",
            param=where or None,
        )
    fields: dict[str, Any] = dict(requested)  # pyright: ignore[reportUnknownArgumentType]
    kind = fields.get("type")
    if kind is None:
        raise _RequestError(
            400,
            f"Missing required parameter: '{prefix}type'.",
            code="missing_required_parameter",
            param=f"{prefix}type",
        )
    if kind == "realtime":
        model = fields.get("model")
        base = default_realtime_session(
            session_id=_new_id("sess_"),
            model=model if isinstance(model, str) else "gpt-realtime",
            expires_at=0,
        )
    elif kind == "transcription":
        base = default_transcription_session(session_id=_new_id("sess_"), expires_at=0)
    else:
        raise _RequestError(
            400,
            f"Invalid value: '{kind}'. Supported values are: 'realtime' and 'transcription'.",
            code="invalid_value",
            param=f"{prefix}type",
        )
    try:
        return apply_session_update(base, fields, voice_locked=False)
    except Invalid as exc:
        # apply_session_update words paths from "session"; re-root them at ``where``.
        def reroot(text: str) -> str:
            return text.replace("'session.", f"'{prefix}").replace("session.", prefix, 1)

        raise _RequestError(
            400,
            reroot(exc.message) if not where else exc.message,
            type=exc.type,
            code=exc.code,
            param=None if exc.param is None else (exc.param if where else reroot(exc.param)),
        ) from None


def _parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The named parts of a ``multipart/form-data`` body (enough for the calls endpoint)."""
    boundary: str | None = None
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        raise _RequestError(
            400, "multipart/form-data without a boundary.", code="invalid_multipart"
        )
    parts: dict[str, bytes] = {}
    for chunk in body.split(b"--" + boundary.encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, sep, content = chunk.partition(b"\r\n\r\n")
        if not sep:
            continue
        name: str | None = None
        for line in head.decode("latin-1").split("\r\n"):
            header, _, value = line.partition(":")
            if header.strip().lower() == "content-disposition":
                for item in value.split(";"):
                    key, _, val = item.strip().partition("=")
                    if key == "name":
                        name = val.strip('"')
        if name is not None:
            parts[name] = content[:-2] if content.endswith(b"\r\n") else content
    return parts


def _sdp_answer(offer: str) -> str:
    """A plausible SDP answer with one section per media section of the offer (no real ICE)."""
    fingerprint = ":".join(f"{b:02X}" for b in hashlib.sha256(offer.encode()).digest())
    media_lines: list[str] = []
    mids: list[str] = []
    for raw in offer.splitlines():
        if not raw.startswith("m="):
            continue
        media = raw[2:].split(" ", 1)[0]
        mid = str(len(mids))
        mids.append(mid)
        if media == "audio":
            media_lines.append("m=audio 9 UDP/TLS/RTP/SAVPF 111")
        else:
            media_lines.append(f"m={media} 9 UDP/DTLS/SCTP webrtc-datachannel")
        media_lines += [
            "c=IN IP4 127.0.0.1",
            f"a=mid:{mid}",
            "a=ice-ufrag:" + secrets.token_hex(4),
            "a=ice-pwd:" + secrets.token_hex(12),
            f"a=fingerprint:sha-256 {fingerprint}",
            "a=setup:active",
        ]
        if media == "audio":
            media_lines += ["a=sendrecv", "a=rtpmap:111 opus/48000/2"]
    lines = [
        "v=0",
        f"o=- {secrets.randbelow(2**62)} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        *([f"a=group:BUNDLE {' '.join(mids)}"] if mids else []),
        "a=msid-semantic: WMS *",
        *media_lines,
    ]
    return "\r\n".join(lines) + "\r\n"


def _default_sip_headers(call_id: str) -> list[tuple[str, str]]:
    return [
        ("From", '"Caller" <sip:+14155550100@sip.example.test>;tag=fake'),
        ("To", "<sip:+14155550199@sip.api.openai.com>"),
        ("Call-ID", f"{call_id[4:20]}@sip.example.test"),
    ]
