"""The transport protocol: what the connection needs from a WebSocket implementation."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import anyio.abc

from ._engine import Message

__all__ = ["ConnectRequest", "Transport", "TransportFactory"]


class Transport(Protocol):
    """A connected WebSocket, message by message.

    The expected use: one reader task calls ``receive``/``receive_nowait``; one writer task
    calls ``send_text``/``send_texts``; a keepalive may call ``ping`` concurrently. The send
    methods may also be called from several tasks and never interleave frames. Closing ends
    with ``ConnectionClosed`` (or its subclass ``ConnectionLost``) from ``receive`` and the
    send methods.

    Every ``async`` method is a checkpoint. A send waits for the write lock cancellably (a
    cancel there sends nothing); once its frame is handed to the network its write runs
    shielded for at most ``close_timeout`` seconds, after which the connection is aborted and
    ``ConnectionLost`` raised. ``aclose`` returns within ``close_timeout`` plus about a second,
    whatever the peer does.
    """

    #: Bytes written to and read from the network so far.
    bytes_sent: int
    bytes_received: int

    @property
    def open(self) -> bool:
        """True while data messages may still be sent."""
        ...

    @property
    def close_code(self) -> int | None:
        """The peer's close code once the connection ended, else ``None``."""
        ...

    @property
    def close_reason(self) -> str | None:
        """The peer's close reason once the connection ended, else ``None``."""
        ...

    async def receive(self) -> Message:
        """The next complete data message.

        Cancellation: safe; no data is lost.
        """
        ...

    def receive_nowait(self) -> Message | None:
        """A message already read from the network, or ``None`` (never waits, never checks
        for cancellation: for a reader that drains what one read brought in)."""
        ...

    async def send_text(self, data: bytes | bytearray | str) -> None:
        """Send one text message.

        Cancellation: a cancel while waiting to write sends nothing; a started write
        completes or, after ``close_timeout``, aborts the connection (``ConnectionLost``).
        """
        ...

    async def send_binary(self, data: bytes | bytearray) -> None:
        """Send one binary message.

        Cancellation: as for :meth:`send_text`.
        """
        ...

    async def send_texts(self, batch: Sequence[bytes | bytearray]) -> None:
        """Send several text messages in order, in as few writes as possible.

        Cancellation: as for :meth:`send_text`.
        """
        ...

    async def ping(self, data: bytes | None = None) -> None:
        """Send a ping and wait for its pong (someone must be receiving).

        Cancellation: safe.
        """
        ...

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Run the closing handshake (bounded) and release the connection.

        Cancellation: shielded; returns within ``close_timeout`` plus about a second.
        """
        ...

    async def abort(self) -> None:
        """Release the connection at once, with no closing handshake.

        Cancellation: returns promptly.
        """
        ...


@dataclass(frozen=True)
class ConnectRequest:
    """Everything a transport factory needs to open one connection.

    ``headers`` hold credentials: never log or show them.
    """

    url: str
    headers: Mapping[str, str] = field(repr=False)
    connect_timeout: float = 10.0
    close_timeout: float = 5.0
    max_message_size: int | None = 32 * 1024 * 1024
    ssl_context: ssl.SSLContext | None = None
    compression: bool = False
    #: The connection's task group, for transports that run background tasks (they must
    #: end them when closed). ``None`` when the caller has none.
    task_group: anyio.abc.TaskGroup | None = field(default=None, repr=False, compare=False)


#: Opens a transport for a request: ``await factory(request)``. Raises the library's
#: ``APIStatusError`` subclasses for refused handshakes, ``ConnectTimeout`` and
#: ``APIConnectionError`` for failures to connect.
TransportFactory = Callable[[ConnectRequest], Awaitable[Transport]]
