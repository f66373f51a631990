"""An optional transport over trio-websocket, under trio only.

Use it with ``open_realtime(transport=connect_trio_websocket)``.

trio-websocket is imported only when this factory is called. Compared with its defaults this
transport reads 256 KiB at a time (its 4 KiB default costs throughput), and it closes the TCP
stream itself after the closing handshake: trio-websocket's ``aclose`` returns early, leaving the
socket open, when the server closed first. Its reader runs in a nursery held by a task in the
connection's task group, and that task ends when the transport is closed. Only trio-websocket's
public API is used: the TCP/TLS stream is opened here and wrapped with ``wrap_client_stream``.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Sequence
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import anyio.lowlevel

from .._errors import (
    APIConnectionError,
    ConnectionClosed,
    ConnectionLost,
    LocalProtocolError,
    MessageTooLarge,
    RealtimeError,
)
from ._base import ConnectRequest
from ._engine import DEFAULT_READ_SIZE, Message
from ._websocket import check_headers, handshake_error, header_secrets

if TYPE_CHECKING:
    import trio
    import trio_websocket

__all__ = ["TrioWebSocketTransport", "connect_trio_websocket"]

# trio-websocket buffers up to this many messages ahead of the reader.
_QUEUE = 64
# Bound on closing the stream forcefully.
_ABORT_TIMEOUT = 1.0


class TrioWebSocketTransport:
    """A :class:`~realtime_anyio.transport.Transport` backed by a trio-websocket connection."""

    def __init__(
        self,
        ws: trio_websocket.WebSocketConnection,
        stream: trio.abc.Stream,
        done: anyio.Event,
        close_timeout: float,
    ) -> None:
        self._ws = ws
        self._stream = stream
        self._done = done
        self._stream_closed = False
        self._close_sent = False
        self.close_timeout = close_timeout
        self.bytes_sent = 0
        self.bytes_received = 0
        self.response_headers: dict[str, str] = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in ws.handshake_headers
        }

    @property
    def idle(self) -> bool:
        """Always true: trio-websocket serializes writes with its own lock."""
        return True

    @property
    def open(self) -> bool:
        """True until a close frame was sent or received."""
        return self._ws.closed is None and not self._close_sent

    @property
    def close_code(self) -> int | None:
        """The close code once the connection ended."""
        reason = self._ws.closed
        return None if reason is None else reason.code

    @property
    def close_reason(self) -> str | None:
        """The close reason once the connection ended."""
        reason = self._ws.closed
        return None if reason is None else (reason.reason or "")

    def _closed_error(self, exc: BaseException | None = None) -> ConnectionClosed:
        reason = self._ws.closed
        if reason is None:
            return ConnectionLost(1006, "connection lost")
        if reason.code == 1009:
            error = ConnectionClosed(1009, reason.reason or "message too big")
            error.__cause__ = MessageTooLarge(reason.reason or "message too big", 0, 0)
            return error
        if reason.code == 1006:
            return ConnectionLost(1006, reason.reason or "connection lost without a close frame")
        return ConnectionClosed(reason.code, reason.reason or "")

    async def receive(self) -> Message:
        """The next complete message.

        Cancellation: safe.
        """
        import trio_websocket

        try:
            message = await self._ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise self._closed_error(exc) from None
        if isinstance(message, str):
            data = message.encode()
            self.bytes_received += len(data)
            return Message(data, True)
        self.bytes_received += len(message)
        return Message(message, False)

    def receive_nowait(self) -> Message | None:
        """Always ``None``: trio-websocket's queue is read through :meth:`receive`."""
        return None

    async def _send(self, message: str | bytes) -> None:
        import trio_websocket

        if self._close_sent:
            raise ConnectionClosed(1006, "connection is closing")
        try:
            await self._ws.send_message(message)
        except trio_websocket.ConnectionClosed:
            raise self._closed_error() from None

    async def send_text(self, data: bytes | bytearray | str) -> None:
        """Send one text message.

        Cancellation: trio-websocket's write is not shielded; a cancel mid-write breaks the
        connection.
        """
        text = data if isinstance(data, str) else bytes(data).decode()
        await self._send(text)
        self.bytes_sent += len(text)

    async def send_binary(self, data: bytes | bytearray) -> None:
        """Send one binary message.

        Cancellation: as for :meth:`send_text`.
        """
        await self._send(bytes(data))
        self.bytes_sent += len(data)

    async def send_texts(self, batch: Sequence[bytes | bytearray]) -> None:
        """Send several text messages in order.

        Cancellation: as for :meth:`send_text`.
        """
        for data in batch:
            await self.send_text(data)

    async def ping(self, data: bytes | None = None) -> None:
        """Ping and wait for the pong.

        Cancellation: safe.
        """
        import trio_websocket

        try:
            await self._ws.ping(data)
        except trio_websocket.ConnectionClosed:
            raise self._closed_error() from None

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Closing handshake within ``close_timeout``, then close the TCP stream.

        Cancellation: shielded and bounded.
        """
        with anyio.move_on_after(self.close_timeout, shield=True):
            self._close_sent = True
            await self._ws.aclose(code, reason or None)
        await self.abort()

    async def abort(self) -> None:
        """Close the TCP stream at once and end the reader.

        Cancellation: returns promptly.
        """
        if not self._stream_closed:
            self._stream_closed = True
            import trio

            # trio-websocket leaves its stream open when the peer closed first; close it.
            with anyio.move_on_after(_ABORT_TIMEOUT, shield=True), contextlib.suppress(Exception):
                await trio.aclose_forcefully(self._stream)
        self._done.set()
        await anyio.lowlevel.cancel_shielded_checkpoint()


async def connect_trio_websocket(request: ConnectRequest) -> TrioWebSocketTransport:
    """Open the connection with trio-websocket (trio only; pass as ``transport=``).

    Cancellation: safe; a cancelled connect leaves no socket open.
    """
    import trio
    import trio_websocket

    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        raise LocalProtocolError("the trio-websocket transport runs under trio only") from None
    if request.task_group is None:
        raise LocalProtocolError("the trio-websocket transport needs the connection's task group")
    from websockets.uri import parse_uri

    check_headers(request.headers)
    uri = parse_uri(request.url)
    use_ssl = (request.ssl_context or True) if uri.secure else False
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()]
    max_size = request.max_message_size or 2**62
    done = anyio.Event()

    async def run(*, task_status: anyio.abc.TaskStatus[TrioWebSocketTransport]) -> None:
        started = False
        stream: trio.abc.Stream | None = None
        try:
            # The stream is opened here and handed to trio-websocket's public
            # wrap_client_stream, so that it is closed on every failure (trio-websocket leaves
            # it open when the handshake is refused, and after a close the server started).
            if use_ssl is False:
                stream = await trio.open_tcp_stream(uri.host, uri.port)
            else:
                context = use_ssl if isinstance(use_ssl, ssl.SSLContext) else None
                stream = await trio.open_ssl_over_tcp_stream(
                    uri.host,
                    uri.port,
                    ssl_context=context or ssl.create_default_context(),
                    https_compatible=True,
                )
            default_port = 443 if uri.secure else 80
            host = uri.host if uri.port == default_port else f"{uri.host}:{uri.port}"
            async with trio.open_nursery() as nursery:
                ws = await trio_websocket.wrap_client_stream(
                    nursery,
                    stream,
                    host,
                    uri.resource_name,
                    extra_headers=headers,
                    message_queue_size=_QUEUE,
                    max_message_size=max_size,
                    receive_buffer_size=DEFAULT_READ_SIZE,
                )
                transport = TrioWebSocketTransport(ws, stream, done, request.close_timeout)
                task_status.started(transport)
                started = True
                await done.wait()
                await transport.abort()
                nursery.cancel_scope.cancel()
        except Exception as exc:
            if stream is not None:
                with anyio.move_on_after(_ABORT_TIMEOUT, shield=True):
                    await trio.aclose_forcefully(stream)
            if started:
                # The connection reports its end through receive(); never raise into the group.
                done.set()
                return
            _raise_connect_error(exc, request)
        except BaseException as exc:
            if stream is not None:
                with anyio.move_on_after(_ABORT_TIMEOUT, shield=True):
                    await trio.aclose_forcefully(stream)
            # Cancelled while trio-websocket's nursery runs (its reader and the handshake): a
            # group of Cancelled only. The caller gets the cancel itself, not a group.
            cancelled = _lone_cancel(exc, trio.Cancelled)
            if cancelled is not None and cancelled is not exc:
                raise cancelled from None
            raise

    transport: TrioWebSocketTransport = await request.task_group.start(run)
    return transport


def _lone_cancel(exc: BaseException, cancelled: type[BaseException]) -> BaseException | None:
    """``exc`` if it is a ``cancelled``; the first one of a group made of nothing else."""
    if isinstance(exc, cancelled):
        return exc
    inner: object = getattr(exc, "exceptions", None)
    if not isinstance(inner, tuple) or not inner:
        return None
    first: BaseException | None = None
    for sub in inner:  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(sub, BaseException):
            return None
        leaf = _lone_cancel(sub, cancelled)
        if leaf is None:
            return None
        first = first or leaf
    return first


def _raise_connect_error(exc: BaseException, request: ConnectRequest) -> None:
    import trio_websocket

    # trio's nurseries wrap errors in groups; a lone error is reported as itself.
    while True:
        inner: object = getattr(exc, "exceptions", None)
        if not isinstance(inner, tuple) or len(inner) != 1:  # pyright: ignore[reportUnknownArgumentType]
            break
        first: object = inner[0]  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(first, BaseException):
            break
        exc = first
    if isinstance(exc, trio_websocket.ConnectionRejected) and exc.status_code >= 400:
        raise handshake_error(
            exc.status_code,
            "",
            {k.decode("latin-1"): v.decode("latin-1") for k, v in exc.headers},
            exc.body or b"",
            header_secrets(request.headers),
        ) from None
    if isinstance(exc, (trio_websocket.HandshakeError, OSError)):
        raise APIConnectionError(f"cannot open the WebSocket: {exc}") from exc
    if isinstance(exc, Exception) and not isinstance(exc, RealtimeError):
        # A malformed answer to the upgrade (a 101 with a wrong Sec-WebSocket-Accept) fails
        # inside the protocol libraries with their own exception types.
        raise APIConnectionError(f"invalid WebSocket handshake response: {exc!r}") from exc
    raise exc
