"""The default transport: the ``websockets`` Sans-I/O client protocol over anyio TCP/TLS streams."""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import msgspec
from anyio.streams.tls import TLSStream
from websockets.client import ClientProtocol
from websockets.exceptions import InvalidStatus, InvalidURI
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.http11 import Response
from websockets.typing import Subprotocol
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

__all__ = [
    "RedactingLogger",
    "WebSocketTransport",
    "check_headers",
    "connect_websocket",
    "handshake_error",
    "header_secrets",
    "protocol_logger",
]

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
        max_size: int | None = 2**20,
        read_size: int = DEFAULT_READ_SIZE,
        close_timeout: float = 5.0,
    ) -> None:
        super().__init__(
            protocol, stream, max_size=max_size, read_size=read_size, close_timeout=close_timeout
        )
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
        elif name.lower() == "sec-websocket-protocol":
            found += [m.group(2) for m in _SECRET_PROTOCOL.finditer(value)]
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


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: What a header value may hold (RFC 9110 field-value characters); no CR, LF or NUL.
_VALUE = re.compile(r"[\x09\x20-\x7e\x80-\xff]*")


def check_headers(headers: Mapping[str, str]) -> None:
    """Raise ``LocalProtocolError`` for a header name or value that HTTP cannot carry.

    The message names the header but never shows its value (values hold credentials).
    """
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name):
            raise LocalProtocolError(f"invalid HTTP header name {name[:40]!r}")
        if not _VALUE.fullmatch(value):
            raise LocalProtocolError(
                f"the value of the {name} header contains a character HTTP headers cannot "
                "carry (a line break or a control character; a key read from a file with its "
                "trailing newline?)"
            )


#: Lines of the protocol's debug log that carry credentials, and subprotocol-borne keys.
_SECRET_LINE = re.compile(r"(?im)^([<>]\s*(?:authorization|api-key)\s*:\s*).*$")
_SECRET_PROTOCOL = re.compile(r"(openai-insecure-api-key\.)([^\s,]+)")

if TYPE_CHECKING:
    _Adapter = logging.LoggerAdapter[logging.Logger]
else:
    _Adapter = logging.LoggerAdapter


class RedactingLogger(_Adapter):
    """The ``websockets`` protocol's logger, with credentials taken out of every record.

    At DEBUG level the protocol logs each handshake header; this adapter formats each record
    itself and replaces ``Authorization``/``api-key`` values, ``openai-insecure-api-key.*``
    subprotocols and the given secrets with a marker before the record is emitted.
    """

    def __init__(self, logger: logging.Logger, secrets: Sequence[str] = ()) -> None:
        super().__init__(logger, {})
        self.secrets = tuple(secrets)

    def scrub(self, text: str) -> str:
        """``text`` with every credential replaced by a marker."""
        text = redact(text, self.secrets)
        text = _SECRET_LINE.sub(r"\1<redacted>", text)
        return _SECRET_PROTOCOL.sub(r"\1<redacted>", text)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.logger.isEnabledFor(level):
            return
        text = str(msg)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError):
                text = " ".join([text, *map(str, args)])
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, "%s", self.scrub(text), **kwargs)


def protocol_logger(side: str, secrets: Sequence[str] = ()) -> RedactingLogger:
    """A redacting logger for a protocol on ``side`` (``"client"`` or ``"server"``), under the
    ``websockets`` logger names so that their logging configuration applies."""
    return RedactingLogger(logging.getLogger(f"websockets.{side}"), secrets)


def _subprotocols(headers: Mapping[str, str]) -> list[Subprotocol] | None:
    """The subprotocols offered in a ``Sec-WebSocket-Protocol`` header of the request, which
    the protocol then offers itself (and accepts in the answer)."""
    for name, value in headers.items():
        if name.lower() == "sec-websocket-protocol":
            return [Subprotocol(part.strip()) for part in value.split(",") if part.strip()]
    return None


class _Phase:
    """The connect phase in progress, for the timeout message."""

    def __init__(self, host: str, port: int) -> None:
        self.text = f"no TCP connection to {host}:{port}"


async def _open_stream(
    request: ConnectRequest, phase: _Phase, secrets: Sequence[str]
) -> tuple[ClientProtocol, anyio.abc.ByteStream]:
    try:
        uri = parse_uri(request.url)
    except InvalidURI as exc:
        raise LocalProtocolError(f"not a WebSocket URL: {exc}") from None
    phase.text = f"no TCP connection to {uri.host}:{uri.port}"
    try:
        stream: anyio.abc.ByteStream = await anyio.connect_tcp(uri.host, uri.port)
    except OSError as exc:
        raise APIConnectionError(f"cannot connect to {uri.host}:{uri.port}: {exc}") from exc
    if uri.secure:
        phase.text = f"the TLS handshake with {uri.host}:{uri.port} did not complete"
        context = request.ssl_context or ssl.create_default_context()
        try:
            # Not "standard compatible": closing never waits for the peer's close_notify
            # (the WebSocket closing handshake already ends the session), so aborting and
            # closing are bounded, as in httpcore's anyio backend.
            stream = await TLSStream.wrap(
                stream, hostname=uri.host, ssl_context=context, standard_compatible=False
            )
        except BaseException as exc:
            await anyio.aclose_forcefully(stream)
            if isinstance(exc, ssl.SSLError):
                raise APIConnectionError(f"TLS handshake with {uri.host} failed: {exc}") from exc
            if isinstance(exc, (anyio.EndOfStream, anyio.BrokenResourceError, OSError)):
                raise APIConnectionError(
                    f"the connection to {uri.host} ended during the TLS handshake"
                ) from exc
            raise
    phase.text = f"connected to {uri.host}:{uri.port}, but the WebSocket upgrade was not answered"
    extensions = [ClientPerMessageDeflateFactory()] if request.compression else None
    protocol = ClientProtocol(
        uri,
        subprotocols=_subprotocols(request.headers),
        max_size=request.max_message_size,
        extensions=extensions,
        logger=protocol_logger("client", secrets),
    )
    return protocol, stream


async def connect_websocket(request: ConnectRequest) -> WebSocketTransport:
    """Open a WebSocket for ``request`` and complete the opening handshake.

    Raises the ``APIStatusError`` subclass for the HTTP status when the upgrade is refused
    (401 ``AuthenticationError``, 404 ``NotFoundError``, 429 ``RateLimitError``, ...),
    ``ConnectTimeout`` when ``connect_timeout`` passes first (its message says whether the
    TCP connection, the TLS handshake or the WebSocket upgrade was missing),
    ``APIConnectionError`` when the connection cannot be made or the answer is not a WebSocket
    upgrade, and ``LocalProtocolError`` for a header HTTP cannot carry (before connecting).

    Cancellation: safe; a cancelled connect leaves no socket open.
    """
    check_headers(request.headers)
    secrets = header_secrets(request.headers)
    transport: WebSocketTransport | None = None
    phase = _Phase("?", 0)
    try:
        with anyio.fail_after(request.connect_timeout):
            protocol, stream = await _open_stream(request, phase, secrets)
            transport = WebSocketTransport(
                protocol,
                stream,
                max_size=request.max_message_size,
                close_timeout=request.close_timeout,
            )
            handshake = protocol.connect()
            for name, value in request.headers.items():
                if name.lower() != "sec-websocket-protocol":  # the protocol sets it
                    handshake.headers[name] = value
            protocol.send_request(handshake)
            await transport.flush()
            response = await transport.receive_handshake()
    except TimeoutError:
        if transport is not None:
            await transport.abort()
        raise ConnectTimeout(f"{phase.text} within {request.connect_timeout} s") from None
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
        # A 2xx or 3xx answer is not a refusal by the service: something that is not the
        # Realtime WebSocket endpoint answered (a web page, a redirect we do not follow).
        if isinstance(failure, InvalidStatus) and response.status_code >= 400:
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
