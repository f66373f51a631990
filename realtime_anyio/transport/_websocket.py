"""The default transport: the ``websockets`` Sans-I/O client protocol over anyio TCP/TLS streams."""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import anyio
import anyio.abc
import msgspec
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.http11 import Response
from websockets.uri import parse_uri

from .._config import redact
from .._errors import (
    APIConnectionError,
    APIStatusError,
    ConnectionClosed,
    ConnectTimeout,
    LocalProtocolError,
    status_error_class,
)
from ._base import ConnectRequest
from ._engine import DEFAULT_READ_SIZE, Message, WebSocketEngine

__all__ = ["WebSocketTransport", "connect_websocket", "handshake_error", "header_secrets"]

_SECRET_HEADERS = ("authorization", "api-key")


class _ErrorObject(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    code: str | int | None = None
    param: str | None = None


class _ErrorBody(msgspec.Struct):
    error: _ErrorObject | None = None


_BODY: msgspec.json.Decoder[dict[str, object]] = msgspec.json.Decoder(dict[str, object])
_ERROR_BODY: msgspec.json.Decoder[_ErrorBody] = msgspec.json.Decoder(_ErrorBody)


class WebSocketTransport(WebSocketEngine):
    """A client WebSocket connection: the engine plus the handshake's response headers."""

    def __init__(
        self,
        protocol: ClientProtocol,
        stream: anyio.abc.ByteStream,
        *,
        read_size: int = DEFAULT_READ_SIZE,
        close_timeout: float = 5.0,
    ) -> None:
        super().__init__(protocol, stream, read_size=read_size, close_timeout=close_timeout)
        #: Headers of the server's 101 response, lower-case names.
        self.response_headers: dict[str, str] = {}

    async def receive(self) -> Message:
        """The next complete data message; see :meth:`WebSocketEngine.receive_message`.

        Cancellation: safe; no data is lost.
        """
        return await self.receive_message()


def header_secrets(headers: Mapping[str, str]) -> list[str]:
    """The credential values in ``headers`` (to scrub from messages)."""
    found: list[str] = []
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS and value:
            found.append(value)
            if " " in value:
                found.append(value.split(" ", 1)[1])
    return found


def handshake_error(
    status: int,
    reason_phrase: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: list[str] | None = None,
) -> APIStatusError:
    """The exception for a handshake refused with an HTTP ``status`` (body decoded if JSON)."""
    text = redact(body.decode("utf-8", "replace"), tuple(secrets or ()))
    decoded: object = text or None
    error_type = error_code = param = None
    message = f"WebSocket handshake refused: HTTP {status} {reason_phrase}".rstrip()
    try:
        decoded = _BODY.decode(text)
        error = _ERROR_BODY.decode(text).error
    except (msgspec.DecodeError, ValueError):
        error = None
        if text and len(text) < 500:
            message = f"{message}: {text.strip()}"
    if error is not None:
        message = error.message or message
        error_type = error.type
        error_code = None if error.code is None else str(error.code)
        param = error.param
    lower = {k.lower(): v for k, v in headers.items()}
    cls = status_error_class(status_code=status)
    return cls(
        message,
        status_code=status,
        error_type=error_type,
        error_code=error_code,
        param=param,
        request_id=lower.get("x-request-id") or lower.get("apim-request-id"),
        body=decoded,
        headers=lower,
    )


async def _open_stream(request: ConnectRequest) -> tuple[ClientProtocol, anyio.abc.ByteStream]:
    try:
        uri = parse_uri(request.url)
    except InvalidURI as exc:
        raise LocalProtocolError(f"not a WebSocket URL: {exc}") from None
    try:
        if uri.secure:
            context = request.ssl_context or ssl.create_default_context()
            stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                uri.host, uri.port, ssl_context=context, tls_hostname=uri.host
            )
        else:
            stream = await anyio.connect_tcp(uri.host, uri.port)
    except ssl.SSLError as exc:
        raise APIConnectionError(f"TLS handshake with {uri.host} failed: {exc}") from exc
    except OSError as exc:
        raise APIConnectionError(f"cannot connect to {uri.host}:{uri.port}: {exc}") from exc
    extensions = [ClientPerMessageDeflateFactory()] if request.compression else None
    protocol = ClientProtocol(uri, max_size=request.max_message_size, extensions=extensions)
    return protocol, stream


async def connect_websocket(request: ConnectRequest) -> WebSocketTransport:
    """Open a WebSocket for ``request`` and complete the opening handshake.

    Raises the ``APIStatusError`` subclass for the HTTP status when the upgrade is refused
    (401 ``AuthenticationError``, 404 ``NotFoundError``, 429 ``RateLimitError``, ...),
    ``ConnectTimeout`` when ``connect_timeout`` passes first, and ``APIConnectionError`` when
    the connection cannot be made or the answer is not a WebSocket upgrade.

    Cancellation: safe; a cancelled connect leaves no socket open.
    """
    secrets = header_secrets(request.headers)
    transport: WebSocketTransport | None = None
    try:
        with anyio.fail_after(request.connect_timeout):
            protocol, stream = await _open_stream(request)
            transport = WebSocketTransport(protocol, stream, close_timeout=request.close_timeout)
            handshake = protocol.connect()
            for name, value in request.headers.items():
                handshake.headers[name] = value
            protocol.send_request(handshake)
            await transport.flush()
            response = await transport.receive_handshake()
    except TimeoutError:
        if transport is not None:
            await transport.abort()
        raise ConnectTimeout(f"no WebSocket handshake within {request.connect_timeout} s") from None
    except ConnectionClosed as exc:
        assert transport is not None
        await transport.abort()
        raise APIConnectionError("the server closed the connection during the handshake") from exc
    except BaseException:
        if transport is not None:
            await transport.abort()
        raise
    assert isinstance(response, Response)
    failure = protocol.handshake_exc
    if failure is not None:
        await transport.abort()
        if isinstance(failure, InvalidStatus):
            raise handshake_error(
                response.status_code,
                response.reason_phrase,
                dict(response.headers.raw_items()),
                bytes(response.body),
                secrets,
            ) from None
        raise APIConnectionError(f"invalid WebSocket handshake response: {failure}") from None
    transport.response_headers = {k.lower(): v for k, v in response.headers.raw_items()}
    return transport
