"""Transports: the WebSocket under a connection.

The default is :func:`connect_websocket` (the ``websockets`` Sans-I/O protocol driven by
:class:`WebSocketEngine` over anyio TCP/TLS streams, on both backends).
:func:`connect_trio_websocket` uses trio-websocket instead (trio only).
:func:`memory_transport_pair` and :func:`memory_byte_stream_pair` replace the network in tests.
A transport factory is any ``async (ConnectRequest) -> Transport`` callable; pass it to
``open_realtime(transport=...)``.
"""

from __future__ import annotations

from ._base import ConnectRequest as ConnectRequest
from ._base import Transport as Transport
from ._base import TransportFactory as TransportFactory
from ._engine import DEFAULT_READ_SIZE as DEFAULT_READ_SIZE
from ._engine import Message as Message
from ._engine import WebSocketEngine as WebSocketEngine
from ._memory import MemoryByteStream as MemoryByteStream
from ._memory import MemoryPeer as MemoryPeer
from ._memory import MemoryTransport as MemoryTransport
from ._memory import memory_byte_stream_pair as memory_byte_stream_pair
from ._memory import memory_transport_pair as memory_transport_pair
from ._trio_websocket import TrioWebSocketTransport as TrioWebSocketTransport
from ._trio_websocket import connect_trio_websocket as connect_trio_websocket
from ._websocket import WebSocketTransport as WebSocketTransport
from ._websocket import connect_websocket as connect_websocket
from ._websocket import handshake_error as handshake_error

__all__ = [
    "DEFAULT_READ_SIZE",
    "ConnectRequest",
    "MemoryByteStream",
    "MemoryPeer",
    "MemoryTransport",
    "Message",
    "Transport",
    "TransportFactory",
    "WebSocketEngine",
    "TrioWebSocketTransport",
    "WebSocketTransport",
    "connect_trio_websocket",
    "connect_websocket",
    "handshake_error",
    "memory_byte_stream_pair",
    "memory_transport_pair",
]
