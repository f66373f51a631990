"""In-memory stand-ins for the network, for tests: a byte-stream pair and a transport pair.

``memory_byte_stream_pair()`` gives two connected :class:`anyio.abc.ByteStream` objects (what
``anyio.connect_tcp`` would give), so the WebSocket engine can be tested on both sides without
sockets. ``memory_transport_pair()`` skips framing altogether: a client-side
:class:`~realtime_anyio.transport.Transport` and a :class:`MemoryPeer` that plays the server,
sending and receiving whole messages and closing with a code.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .._errors import ConnectionClosed, ConnectionLost
from ._engine import Message

__all__ = [
    "MemoryByteStream",
    "MemoryPeer",
    "MemoryTransport",
    "memory_byte_stream_pair",
    "memory_transport_pair",
]


class MemoryByteStream(anyio.abc.ByteStream):
    """One end of an in-memory byte pipe; ``send_eof`` half-closes it like TCP."""

    def __init__(
        self,
        send: MemoryObjectSendStream[bytes],
        receive: MemoryObjectReceiveStream[bytes],
    ) -> None:
        self._send = send
        self._receive = receive
        self._leftover = b""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._leftover:
            self._leftover = await self._receive.receive()
        else:
            await anyio.lowlevel.checkpoint()
        chunk, self._leftover = self._leftover[:max_bytes], self._leftover[max_bytes:]
        return chunk

    async def send(self, item: bytes) -> None:
        if item:
            await self._send.send(bytes(item))
        else:
            await anyio.lowlevel.checkpoint()

    async def send_eof(self) -> None:
        self._send.close()

    async def aclose(self) -> None:
        self._send.close()
        self._receive.close()
        await anyio.lowlevel.checkpoint()


def memory_byte_stream_pair(
    max_buffer: float = math.inf,
) -> tuple[MemoryByteStream, MemoryByteStream]:
    """Two connected in-memory byte streams; ``max_buffer`` bounds writes in flight each way."""
    a_send, b_receive = anyio.create_memory_object_stream[bytes](max_buffer)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](max_buffer)
    return MemoryByteStream(a_send, a_receive), MemoryByteStream(b_send, b_receive)


class _Close:
    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


_Item = Message | _Close


class MemoryTransport:
    """The client end of :func:`memory_transport_pair`: a transport with no framing at all."""

    def __init__(
        self,
        send: MemoryObjectSendStream[_Item],
        receive: MemoryObjectReceiveStream[_Item],
    ) -> None:
        self._send = send
        self._receive = receive
        self._closed: ConnectionClosed | None = None
        self._close_sent = False
        self.response_headers: dict[str, str] = {}
        self.bytes_sent = 0
        self.bytes_received = 0
        self.close_timeout = 1.0

    @property
    def idle(self) -> bool:
        """Always true: a send never waits for another sender's write."""
        return True

    @property
    def open(self) -> bool:
        """True until a close was sent or received."""
        return self._closed is None and not self._close_sent

    @property
    def close_code(self) -> int | None:
        """The peer's close code once the connection ended."""
        return self._closed.code if self._closed is not None else None

    @property
    def close_reason(self) -> str | None:
        """The peer's close reason once the connection ended."""
        return self._closed.reason if self._closed is not None else None

    async def receive(self) -> Message:
        """The next message from the peer; ``ConnectionClosed`` when it closed.

        Cancellation: safe.
        """
        if self._closed is not None:
            await anyio.lowlevel.checkpoint()
            raise self._closed
        try:
            item = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._closed = ConnectionLost(1006, "connection lost without a close frame")
            raise self._closed from None
        if isinstance(item, _Close):
            self._closed = ConnectionClosed(item.code, item.reason)
            raise self._closed
        self.bytes_received += len(item.data)
        return item

    def receive_nowait(self) -> Message | None:
        """Always ``None``: nothing is read ahead."""
        return None

    def _check(self) -> None:
        if self._closed is not None:
            raise ConnectionClosed(self._closed.code, self._closed.reason) from self._closed
        if self._close_sent:
            raise ConnectionClosed(1006, "connection is closing")

    async def send_text(self, data: bytes | bytearray | str) -> None:
        """Deliver one text message to the peer.

        Cancellation: safe; a cancelled call delivered nothing.
        """
        self._check()
        payload = data.encode() if isinstance(data, str) else bytes(data)
        try:
            await self._send.send(Message(payload, True))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise ConnectionLost(1006, "peer went away") from None
        self.bytes_sent += len(payload)

    async def send_binary(self, data: bytes | bytearray) -> None:
        """Deliver one binary message to the peer.

        Cancellation: safe; a cancelled call delivered nothing.
        """
        self._check()
        try:
            await self._send.send(Message(bytes(data), False))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise ConnectionLost(1006, "peer went away") from None
        self.bytes_sent += len(data)

    async def send_texts(self, batch: Sequence[bytes | bytearray]) -> None:
        """Deliver several text messages in order.

        Cancellation: a cancel may leave a prefix of the batch delivered.
        """
        for data in batch:
            await self.send_text(data)

    async def ping(self, data: bytes | None = None) -> None:
        """Answered at once while the peer end is open.

        Cancellation: safe.
        """
        await anyio.lowlevel.checkpoint()
        self._check()

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Send a close to the peer (if still open) and release both ends.

        Cancellation: shielded and bounded by ``close_timeout``.
        """
        with anyio.move_on_after(self.close_timeout, shield=True):
            if self._closed is None and not self._close_sent:
                self._close_sent = True
                with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await self._send.send(_Close(code, reason))
        await self.abort()

    async def abort(self) -> None:
        """Release both ends at once.

        Cancellation: returns promptly.
        """
        if self._closed is None:
            self._closed = ConnectionLost(1006, "connection aborted")
        self._send.close()
        self._receive.close()
        await anyio.lowlevel.cancel_shielded_checkpoint()


class MemoryPeer:
    """The server end of :func:`memory_transport_pair`."""

    def __init__(
        self,
        send: MemoryObjectSendStream[_Item],
        receive: MemoryObjectReceiveStream[_Item],
    ) -> None:
        self._send = send
        self._receive = receive
        #: The close code and reason the client sent, once it did.
        self.close_received: tuple[int, str] | None = None

    async def send_text(self, data: bytes | str) -> None:
        """Send one text message to the client.

        Cancellation: safe.
        """
        payload = data.encode() if isinstance(data, str) else data
        try:
            await self._send.send(Message(payload, True))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise ConnectionLost(1006, "client went away") from None

    async def send_binary(self, data: bytes) -> None:
        """Send one binary message to the client.

        Cancellation: safe.
        """
        try:
            await self._send.send(Message(data, False))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            raise ConnectionLost(1006, "client went away") from None

    async def receive(self) -> bytes:
        """The next message from the client; ``ConnectionClosed`` once it closed.

        Cancellation: safe.
        """
        try:
            item = await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise ConnectionLost(1006, "client went away") from None
        if isinstance(item, _Close):
            self.close_received = (item.code, item.reason)
            raise ConnectionClosed(item.code, item.reason)
        return bytes(item.data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame to the client, then stop sending.

        Cancellation: safe.
        """
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
            await self._send.send(_Close(code, reason))
        self._send.close()

    async def drop(self) -> None:
        """End the connection with no close frame, like a TCP reset.

        Cancellation: returns promptly.
        """
        self._send.close()
        self._receive.close()
        await anyio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        """Release this end.

        Cancellation: returns promptly.
        """
        await self.drop()


def memory_transport_pair(max_buffer: float = 64) -> tuple[MemoryTransport, MemoryPeer]:
    """A client transport and its in-memory server peer; ``max_buffer`` messages each way."""
    c_send, s_receive = anyio.create_memory_object_stream[_Item](max_buffer)
    s_send, c_receive = anyio.create_memory_object_stream[_Item](max_buffer)
    return MemoryTransport(c_send, c_receive), MemoryPeer(s_send, s_receive)
