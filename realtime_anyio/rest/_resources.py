"""``ClientSecrets`` and ``Calls``: the ``/realtime/*`` REST endpoints, as ``rt.client_secrets``
and ``rt.calls`` on :class:`~realtime_anyio.Realtime`.

Every method returns a typed result whose ``.http_response`` is the raw ``httpx.Response``;
every method takes ``extra_headers``, ``timeout`` (httpx's per-phase timeout, in seconds) and
``max_retries`` to override the client's settings for one call.

Retries (see ``realtime_anyio.rest._retry`` for the full rule): creating a client secret and
hanging up are repeated after any transient failure, since doing them twice does no harm.
Creating a WebRTC call, accepting, rejecting and referring a SIP call are repeated only when the
failure proves the first attempt never acted (connection refused, 408, 429), unless you pass an
``idempotency_key``: it is sent as the ``Idempotency-Key`` header and declares the call safe to
repeat. The public OpenAI API does not document deduplication by that header, so pass one only
when the endpoint you talk to (a gateway or proxy of yours) honours it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import msgspec

from .._errors import LocalProtocolError, RemoteProtocolError
from ..events import to_dict
from ..events._base import Model
from ..events._lossless import decode_keeping_unknown
from ._client import RESTClient, Timeout
from ._types import (
    CallAction,
    CallCreated,
    CallReferRequest,
    CallRejectRequest,
    ClientSecret,
    ClientSecretCreateRequest,
    ExpiresAfter,
    SessionConfig,
    TranslationClientSecret,
    TranslationClientSecretCreateRequest,
    attach_response,
)

__all__ = ["Calls", "ClientSecrets"]

_ENCODER = msgspec.json.Encoder()
_CLIENT_SECRET_DECODER: msgspec.json.Decoder[ClientSecret] = msgspec.json.Decoder(ClientSecret)
_TRANSLATION_SECRET_DECODER: msgspec.json.Decoder[TranslationClientSecret] = msgspec.json.Decoder(
    TranslationClientSecret
)


def _session_dict(session: SessionConfig | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A session configuration as JSON-ready builtins; ``fields`` override its top-level keys."""
    base: object = {}
    if isinstance(session, Model):
        base = to_dict(session)  # with its unknown_fields merged back in place
    elif isinstance(session, msgspec.Struct):
        base = msgspec.to_builtins(session)
    elif session is not None:
        base = msgspec.to_builtins(dict(session))
    if not isinstance(base, dict):
        raise LocalProtocolError("a session configuration must encode to a JSON object")
    merged: dict[str, Any] = {**base, **msgspec.to_builtins(dict(fields))}
    return merged


def _expires_after(value: ExpiresAfter | Mapping[str, Any] | int | None) -> ExpiresAfter | None:
    if value is None or isinstance(value, ExpiresAfter):
        return value
    if isinstance(value, int):
        return ExpiresAfter(seconds=value)
    try:
        return msgspec.convert(dict(value), ExpiresAfter)
    except msgspec.ValidationError as exc:
        raise LocalProtocolError(f"invalid expires_after: {exc}", path="expires_after") from None


def _decode(decoder: msgspec.json.Decoder[Any], content: bytes, what: str) -> Any:
    try:
        # The session inside keeps members this version does not know (events' Structs
        # reject them on the one-call path).
        return decode_keeping_unknown(decoder, content)
    except msgspec.DecodeError as exc:
        raise RemoteProtocolError(f"unexpected {what} response: {exc}", content) from None


def _call_path(call_id: str, action: str) -> str:
    if not call_id:
        raise LocalProtocolError("call_id must be a non-empty string")
    return f"/realtime/calls/{quote(call_id, safe='')}/{action}"


def _headers(
    extra_headers: Mapping[str, str] | None, idempotency_key: str | None
) -> dict[str, str]:
    headers = dict(extra_headers or {})
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return headers


class ClientSecrets:
    """Short-lived client secrets (``ek_…``) for browsers and mobile apps."""

    def __init__(self, rest: RESTClient) -> None:
        self._rest = rest

    async def create(
        self,
        *,
        session: SessionConfig | None = None,
        expires_after: ExpiresAfter | Mapping[str, Any] | int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | None = None,
        max_retries: int | None = None,
    ) -> ClientSecret:
        """Create a client secret bound to a realtime or transcription session configuration.

        ``session`` is a session Struct or dict with ``type`` ``"realtime"`` or
        ``"transcription"``; ``expires_after`` is an :class:`ExpiresAfter`, its dict form, or
        plain seconds (10-7200; the service's default is 600). Returns the secret, its expiry
        and the effective session. Retried after transient failures (a spare secret is
        harmless).

        Cancellation: safe; a secret may have been created and will simply expire unused.
        """
        body = ClientSecretCreateRequest(
            expires_after=_expires_after(expires_after),
            session=None if session is None else _session_dict(session, {}),
        )
        response = await self._rest.request(
            "POST",
            "/realtime/client_secrets",
            content=_ENCODER.encode(body),
            content_type="application/json",
            safe_to_retry=True,
            headers=extra_headers,
            timeout=timeout,
            max_retries=max_retries,
        )
        result: ClientSecret = _decode(_CLIENT_SECRET_DECODER, response.content, "client secret")
        attach_response(result, response)
        return result

    async def create_translation(
        self,
        *,
        session: SessionConfig,
        expires_after: ExpiresAfter | Mapping[str, Any] | int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | None = None,
        max_retries: int | None = None,
    ) -> TranslationClientSecret:
        """Create a client secret for a translation session (``/realtime/translations/…``).

        ``session`` needs at least ``model``; ``audio.output.language`` picks the target
        language. Retried after transient failures, like :meth:`create`.

        Cancellation: safe; a secret may have been created and will simply expire unused.
        """
        body = TranslationClientSecretCreateRequest(
            session=_session_dict(session, {}),
            expires_after=_expires_after(expires_after),
        )
        response = await self._rest.request(
            "POST",
            "/realtime/translations/client_secrets",
            content=_ENCODER.encode(body),
            content_type="application/json",
            safe_to_retry=True,
            headers=extra_headers,
            timeout=timeout,
            max_retries=max_retries,
        )
        result: TranslationClientSecret = _decode(
            _TRANSLATION_SECRET_DECODER, response.content, "translation client secret"
        )
        attach_response(result, response)
        return result


class Calls:
    """WebRTC call creation and SIP call control (accept, reject, refer, hang up)."""

    def __init__(self, rest: RESTClient) -> None:
        self._rest = rest

    async def create(
        self,
        sdp: str,
        session: SessionConfig | None = None,
        *,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | None = None,
        max_retries: int | None = None,
    ) -> CallCreated:
        """Start a WebRTC call from an SDP offer; returns the SDP answer and the call id.

        Without ``session`` the offer is sent as ``application/sdp`` (authenticate with a
        client secret, whose session then applies); with one, as ``multipart/form-data`` with
        ``sdp`` and ``session`` parts. Not retried after failures that may hide a created call.

        Cancellation: the call may or may not have been created; without the answer it cannot
        connect and ends on its own.
        """
        headers = _headers(extra_headers, idempotency_key)
        if session is None:
            response = await self._rest.request(
                "POST",
                "/realtime/calls",
                content=sdp.encode(),
                content_type="application/sdp",
                safe_to_retry=idempotency_key is not None,
                headers={"Accept": "application/sdp", **headers},
                timeout=timeout,
                max_retries=max_retries,
            )
        else:
            files = {
                "sdp": (None, sdp.encode(), "application/sdp"),
                "session": (None, _ENCODER.encode(_session_dict(session, {})), "application/json"),
            }
            response = await self._rest.request(
                "POST",
                "/realtime/calls",
                files=files,
                safe_to_retry=idempotency_key is not None,
                headers={"Accept": "application/sdp", **headers},
                timeout=timeout,
                max_retries=max_retries,
            )
        location: str = response.headers.get("location", "")
        if not location:
            raise RemoteProtocolError(
                "the call was created but the response has no Location header", response.content
            )
        call_id = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
        result = CallCreated(call_id=call_id, sdp=response.text, location=location)
        attach_response(result, response)
        return result

    async def accept(
        self,
        call_id: str,
        session: SessionConfig | None = None,
        *,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | None = None,
        max_retries: int | None = None,
        **session_fields: Any,
    ) -> CallAction:
        """Accept a ringing SIP call with a session configuration, then attach a WebSocket.

        The configuration is ``session`` (a session Struct or dict) updated with any keyword
        fields, as the official SDK takes them (``model=``, ``instructions=``, ``audio=``,
        ``tools=``, …); ``type`` defaults to ``"realtime"``. Accepting a call twice fails
        (:class:`~realtime_anyio.ConflictError` from the bundled server); an unknown or ended
        call raises :class:`~realtime_anyio.NotFoundError`. Not retried after failures that may
        hide an accepted call.

        Cancellation: the call may or may not have been accepted; hang up or accept again
        (a second accept of an accepted call fails with a conflict).
        """
        body = _session_dict(session, session_fields)
        body.setdefault("type", "realtime")
        return await self._action(
            call_id,
            "accept",
            _ENCODER.encode(body),
            safe=idempotency_key is not None,
            headers=_headers(extra_headers, idempotency_key),
            timeout=timeout,
            max_retries=max_retries,
        )

    async def reject(
        self,
        call_id: str,
        *,
        status_code: int | None = None,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | None = None,
        max_retries: int | None = None,
    ) -> CallAction:
        """Decline a ringing SIP call with a SIP status (the service sends 603 Decline if
        ``status_code`` is omitted; 486 Busy Here is a common choice).

        Cancellation: the call may or may not have been rejected.
        """
        return await self._action(
            call_id,
            "reject",
            _ENCODER.encode(CallRejectRequest(status_code=status_code)),
            safe=idempotency_key is not None,
            headers=_headers(extra_headers, idempotency_key),
            timeout=timeout,
            max_retries=max_retries,
        )

    async def refer(
        self,
        call_id: str,
        *,
        target_uri: str,
        idempotency_key: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | None = None,
        max_retries: int | None = None,
    ) -> CallAction:
        """Transfer an active SIP call with a SIP REFER to ``target_uri`` (``tel:+1…`` or
        ``sip:agent@example.com``). Not retried after failures that may hide a transfer.

        Cancellation: the transfer may or may not have started.
        """
        return await self._action(
            call_id,
            "refer",
            _ENCODER.encode(CallReferRequest(target_uri=target_uri)),
            safe=idempotency_key is not None,
            headers=_headers(extra_headers, idempotency_key),
            timeout=timeout,
            max_retries=max_retries,
        )

    async def hangup(
        self,
        call_id: str,
        *,
        extra_headers: Mapping[str, str] | None = None,
        timeout: Timeout | None = None,
        max_retries: int | None = None,
    ) -> CallAction:
        """End a SIP or WebRTC call. Retried after transient failures: hanging up twice does
        no harm, though a retry after an attempt that did end the call reports
        :class:`~realtime_anyio.NotFoundError`.

        Cancellation: the call may or may not have ended; calling again is safe.
        """
        return await self._action(
            call_id,
            "hangup",
            None,
            safe=True,
            headers=dict(extra_headers or {}),
            timeout=timeout,
            max_retries=max_retries,
        )

    async def _action(
        self,
        call_id: str,
        action: Literal["accept", "reject", "refer", "hangup"],
        content: bytes | None,
        *,
        safe: bool,
        headers: dict[str, str],
        timeout: Timeout | None,
        max_retries: int | None,
    ) -> CallAction:
        """POST one call-control action.

        Cancellation: as for the public method that called it.
        """
        response = await self._rest.request(
            "POST",
            _call_path(call_id, action),
            content=content,
            content_type=None if content is None else "application/json",
            safe_to_retry=safe,
            headers={"Accept": "*/*", **headers},
            timeout=timeout,
            max_retries=max_retries,
        )
        result = CallAction(call_id=call_id, action=action)
        attach_response(result, response)
        return result
