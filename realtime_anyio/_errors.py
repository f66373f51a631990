"""The exception hierarchy of realtime_anyio.

Every exception the library raises on purpose derives from :class:`RealtimeError`::

    RealtimeError
    ├── ProtocolError                  a message that breaks the protocol
    │   ├── RemoteProtocolError        the server sent a frame we cannot decode
    │   ├── LocalProtocolError         the caller built an invalid client event
    │   └── MessageTooLarge            a frame over the configured size limit
    ├── ServerError                    an ``error`` event answered a request we sent
    ├── APIError                       the service refused us (handshake, close code or REST)
    │   ├── APIStatusError             ... with an HTTP status or a close code
    │   │   ├── BadRequestError        400, close 4000 (invalid_model, missing_model, beta header)
    │   │   ├── AuthenticationError    401, close 3000 (invalid_api_key, missing key)
    │   │   ├── PermissionDeniedError  403
    │   │   ├── NotFoundError          404 (unknown call_id)
    │   │   ├── ConflictError          409
    │   │   ├── UnprocessableEntityError 422
    │   │   ├── RateLimitError         429
    │   │   └── InternalServerError    5xx
    │   ├── APIConnectionError         no answer at all: DNS, refused, TLS, reset
    │   │   └── ConnectTimeout         the connection or handshake took too long
    │   └── APITimeoutError            a REST request timed out
    ├── ConnectionClosed               the WebSocket is closed (code, reason)
    │   ├── SessionExpired             the service's 60-minute cap (error then close 1001)
    │   └── ConnectionLost             the peer vanished: no close frame or no pong in time
    ├── SendInterrupted                a resilient session refused a send for a session that is gone
    ├── WebhookVerificationError       a webhook failed verification
    │   ├── WebhookHeaderError         a webhook header is missing or malformed
    │   ├── WebhookSignatureError      no signature matches the body
    │   └── WebhookTimestampError      the timestamp is outside the tolerance
    └── RealtimeInternalError          a bug in realtime_anyio: please report it

No message, ``repr`` or attribute of these exceptions ever holds an API key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .events import ErrorDetails

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ConnectTimeout",
    "ConnectionClosed",
    "ConnectionLost",
    "InternalServerError",
    "LocalProtocolError",
    "MessageTooLarge",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "RealtimeError",
    "RealtimeInternalError",
    "RemoteProtocolError",
    "SendInterrupted",
    "ServerError",
    "SessionExpired",
    "UnprocessableEntityError",
    "WebhookHeaderError",
    "WebhookSignatureError",
    "WebhookTimestampError",
    "WebhookVerificationError",
    "status_error_class",
]


class RealtimeError(Exception):
    """Base class of every exception raised by realtime_anyio."""


class ProtocolError(RealtimeError):
    """A message broke the Realtime protocol.

    ``raw`` is the offending frame (or ``None`` when there is none), ``reason`` says what was
    wrong with it in one line, and ``path`` locates the bad field when one is to blame
    (``"session.audio.input.format.rate"``; ``None`` for a frame that is not JSON at all).
    """

    def __init__(
        self, reason: str, raw: bytes | str | None = None, *, path: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw
        self.path = path

    def __repr__(self) -> str:
        size = "no frame" if self.raw is None else f"{len(self.raw)}-byte frame"
        return f"{type(self).__name__}({self.reason!r}, {size})"


class RemoteProtocolError(ProtocolError):
    """The server sent a frame that is not a valid server event."""


class LocalProtocolError(ProtocolError, ValueError):
    """The caller tried to send something that is not a valid client event."""


class MessageTooLarge(ProtocolError):
    """A frame exceeded the configured ``max_message_size``."""

    def __init__(self, reason: str, size: int, limit: int) -> None:
        super().__init__(reason)
        self.size = size
        self.limit = limit


class ServerError(RealtimeError):
    """The server answered a request of ours with an ``error`` event.

    ``error`` is the event's error object; ``type``, ``code``, ``message``, ``param`` and
    ``event_id`` are copied from it for convenience.
    """

    def __init__(
        self,
        *,
        type: str | None,
        code: str | None,
        message: str,
        param: str | None = None,
        event_id: str | None = None,
        error: Any = None,
    ) -> None:
        super().__init__(f"{type or 'error'}{'.' + code if code else ''}: {message}")
        self.type = type
        self.code = code
        self.message = message
        self.param = param
        self.event_id = event_id
        self.error = error


class APIError(RealtimeError):
    """The service (or a proxy before it) refused or failed a request of ours."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIStatusError(APIError):
    """A refusal with an HTTP status, a WebSocket close code, or both.

    ``status_code`` is the HTTP status of a refused handshake or REST call (``None`` when the
    service accepted the upgrade and refused afterwards); ``close_code`` and ``close_reason``
    come from the close frame that followed an ``error`` event. ``error_type``, ``error_code``
    and ``param`` come from the server's error object when there was one; ``request_id`` is
    the ``x-request-id`` header; ``body`` the decoded response body.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        close_code: int | None = None,
        close_reason: str | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        body: object = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.close_code = close_code
        self.close_reason = close_reason
        self.error_type = error_type
        self.error_code = error_code
        self.param = param
        self.request_id = request_id
        self.body = body
        self.headers = headers or {}

    def __str__(self) -> str:
        parts: list[str] = []
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        if self.close_code is not None:
            parts.append(f"close {self.close_code}")
        kind = ".".join(p for p in (self.error_type, self.error_code) if p)
        if kind:
            parts.append(kind)
        if self.request_id:
            parts.append(f"request {self.request_id}")
        prefix = f"[{', '.join(parts)}] " if parts else ""
        return f"{prefix}{self.message}"


class BadRequestError(APIStatusError):
    """The request was malformed: HTTP 400, or close 4000 after an ``error`` event."""


class AuthenticationError(APIStatusError):
    """The credentials were missing or wrong: HTTP 401, or close 3000."""


class PermissionDeniedError(APIStatusError):
    """The credentials may not do this: HTTP 403."""


class NotFoundError(APIStatusError):
    """The resource (for example a ``call_id``) does not exist: HTTP 404."""


class ConflictError(APIStatusError):
    """The resource is not in a state that allows this: HTTP 409."""


class UnprocessableEntityError(APIStatusError):
    """The request was understood but its content is invalid: HTTP 422."""


class RateLimitError(APIStatusError):
    """Too many requests: HTTP 429."""


class InternalServerError(APIStatusError):
    """The service failed: HTTP 5xx."""


class APIConnectionError(APIError):
    """No usable answer: the connection failed before a status or close code arrived."""


class ConnectTimeout(APIConnectionError, TimeoutError):
    """Opening the connection or completing the handshake took longer than allowed."""


class APITimeoutError(APIError, TimeoutError):
    """A REST request took longer than its timeout."""


class ConnectionClosed(RealtimeError):
    """The WebSocket connection is closed; ``code`` and ``reason`` come from its close frame.

    ``code`` is 1006 when the connection ended without a close frame. The underlying cause,
    if any, is chained as ``__cause__``. ``unsent`` counts the events that ``send`` had
    accepted but that were never written because the connection ended first.
    """

    def __init__(self, code: int, reason: str = "", *, unsent: int = 0) -> None:
        message = f"connection closed: code {code}" + (f", {reason}" if reason else "")
        if unsent:
            message += f" ({unsent} accepted event{'s' if unsent != 1 else ''} not written)"
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.unsent = unsent

    def __reduce__(self) -> Any:
        return (_rebuild_closed, (type(self), self.code, self.reason, self.unsent))


def _rebuild_closed(
    cls: type[ConnectionClosed], code: int, reason: str, unsent: int
) -> ConnectionClosed:
    return cls(code, reason, unsent=unsent)


class SessionExpired(ConnectionClosed):
    """The service ended the session at its maximum duration (``session_expired``, close 1001)."""


class ConnectionLost(ConnectionClosed):
    """The peer disappeared: the TCP stream ended without a close frame, or no pong came back."""


class SendInterrupted(RealtimeError):
    """A resilient session could not deliver this send to the session it was meant for.

    Raised for ``input_audio_buffer.append``/``commit``/``clear`` while a dropped connection
    is being replaced (that audio belongs to a turn the new session never saw), and for a
    request whose reply was lost with the connection. The session itself goes on.
    """


class WebhookVerificationError(RealtimeError):
    """A webhook request did not pass verification."""


class WebhookHeaderError(WebhookVerificationError):
    """A webhook header is missing or malformed."""


class WebhookSignatureError(WebhookVerificationError):
    """No signature in the ``webhook-signature`` header matches the body."""


class WebhookTimestampError(WebhookVerificationError):
    """The ``webhook-timestamp`` is too old or too far in the future."""


class RealtimeInternalError(RealtimeError):
    """Something inside realtime_anyio went wrong; this is a bug, please report it."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(
    status_code: int | None = None, close_code: int | None = None
) -> type[APIStatusError]:
    """The specific exception class for an HTTP status or a Realtime close code."""
    if status_code is not None:
        if status_code in _STATUS_CLASSES:
            return _STATUS_CLASSES[status_code]
        if status_code >= 500:
            return InternalServerError
        return APIStatusError
    if close_code == 3000:
        return AuthenticationError
    if close_code == 4000:
        return BadRequestError
    return APIStatusError


# -- mapping what the server said into exceptions, at the boundary ---------------------------

#: Scrubs secrets out of a text that came from the peer (it may echo a key back).
Scrub = Callable[[str], str]


def scrubber(secrets: tuple[str, ...]) -> Scrub:
    """A function that replaces every occurrence of each secret with ``<redacted>``."""
    found = tuple(s for s in secrets if s)

    def scrub(text: str) -> str:
        for secret in found:
            if secret in text:
                text = text.replace(secret, "<redacted>")
        return text

    return scrub


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) else None


def server_error(details: ErrorDetails, scrub: Scrub) -> ServerError:
    """The :class:`ServerError` for an ``error`` event's error object."""
    return ServerError(
        type=details.type,
        code=_opt(details.code),
        message=scrub(details.message),
        param=_opt(details.param),
        event_id=_opt(details.event_id),
        error=details,
    )


def refusal(
    details: ErrorDetails | None, close_code: int, close_reason: str, scrub: Scrub
) -> APIStatusError:
    """The :class:`APIStatusError` subclass for a close 3000/4000 (and the error before it)."""
    cls = status_error_class(close_code=close_code)
    reason = scrub(close_reason)
    if details is None:
        kind, _, code = reason.partition(".")
        return cls(
            reason or f"the server closed the connection with code {close_code}",
            close_code=close_code,
            close_reason=reason,
            error_type=kind or None,
            error_code=code or None,
        )
    return cls(
        scrub(details.message),
        close_code=close_code,
        close_reason=reason,
        error_type=details.type,
        error_code=_opt(details.code),
        param=_opt(details.param),
        body={
            "type": details.type,
            "code": _opt(details.code),
            "message": scrub(details.message),
            "param": _opt(details.param),
            "event_id": _opt(details.event_id),
        },
    )


def closed_by_peer(
    closed: ConnectionClosed, details: ErrorDetails | None, scrub: Scrub
) -> ConnectionClosed:
    """The specific exception for a close frame and the ``error`` event right before it.

    1001 after ``session_expired`` is :class:`SessionExpired`; 3000, 4000 and other 4xxx codes
    chain the refusal (:class:`AuthenticationError`, :class:`BadRequestError`, ...) as the cause.
    Reasons and messages are scrubbed of secrets.
    """
    reason = scrub(closed.reason)
    code = closed.code
    if details is not None and code == 1001 and details.code == "session_expired":
        expired = SessionExpired(code, reason or scrub(details.message))
        expired.__cause__ = server_error(details, scrub)
        return expired
    if code in (3000, 4000) or (code >= 4000 and details is not None):
        result = ConnectionClosed(code, reason)
        result.__cause__ = refusal(details, code, reason, scrub)
        return result
    if reason == closed.reason:
        return closed
    result = type(closed)(code, reason)
    result.__cause__ = closed.__cause__
    return result
