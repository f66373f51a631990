"""A backend-neutral driver of the ``websockets`` Sans-I/O protocol over an anyio byte stream.

``WebSocketEngine`` owns one :class:`websockets.protocol.Protocol` (client or server side) and one
:class:`anyio.abc.ByteStream`. It moves bytes between them and nothing else: no event decoding, no
reconnects, no task of its own. The opening handshake is left to the caller, because it differs
between the sides:

* client: ``protocol.send_request(protocol.connect())``, ``await engine.flush()``, then
  ``response = await engine.receive_handshake()`` and check ``protocol.handshake_exc``;
* server: ``request = await engine.receive_handshake()``, then
  ``protocol.send_response(protocol.accept(request))`` and ``await engine.flush()``.

Frames that arrive in the same read as the handshake are kept. After the handshake:

* ``await engine.receive_message()`` returns the next complete data message as a
  :class:`Message` ``(data, text)``; fragments are reassembled (the protocol's ``max_size``
  bounds the whole message). Pings are answered, pongs wake :meth:`ping`. When the connection
  ends it raises :class:`~realtime_anyio.ConnectionClosed` (``code``/``reason`` of the peer's
  close frame), :class:`~realtime_anyio.ConnectionLost` (EOF without a close frame, code 1006),
  or ``ConnectionClosed`` 1009/1002/1007 chained to ``MessageTooLarge`` /
  ``RemoteProtocolError`` when the peer broke the limits or the protocol. Only one task may
  receive at a time. ``receive_message_nowait()`` returns a message already read, or ``None``.
* ``await engine.send_text(data)``, ``send_binary(data)`` and ``send_texts([...])`` (many frames,
  one write) may be called from several tasks; frames never interleave and each caller's order
  is kept. ``engine.idle`` tells whether a send would start writing at once.
* ``await engine.flush()`` writes whatever the protocol has queued (after calling a
  ``protocol.send_*`` method yourself, e.g. a fragmented message or a close with a reason).
* ``await engine.ping()`` sends a ping and waits for its pong (someone must be receiving).
* ``await engine.aclose(code, reason)`` runs the closing handshake: sends a close frame (unless
  one was already exchanged), reads and discards until the peer closes TCP, then closes the
  stream. It is shielded and bounded by ``close_timeout``; ``await engine.abort()`` drops the
  stream at once. ``close_code``/``close_reason`` tell how it ended; ``bytes_sent`` and
  ``bytes_received`` count traffic.

Receiving on the client side, the engine cuts complete, unmasked, unfragmented text and binary
frames within the size limit out of each read itself, as zero-copy views of the chunk (the
protocol's parser costs about 4 us per frame, a large share of receiving an audio event). It
hands every other frame to the protocol whole and in order (the HTTP head, control frames,
fragments, anything malformed or over the limit; everything once a close starts or an
extension such as compression is negotiated), so the protocol's checks, replies and closing
apply unchanged and it always waits on a frame boundary. ``fast_framing=False`` leaves all
parsing to the protocol; tests check that both give the same results for any byte stream.
Under the same conditions the engine frames outgoing text and binary messages itself (the
same bytes as the protocol's serializer, a fresh random masking key each); otherwise, and
for every control frame, the protocol does.

Every write of protocol output is shielded from cancellation: bytes from ``data_to_send()`` are
handed out once, so a cancelled write would lose a pong or tear a frame. On anyio's plain TCP
streams a write the socket can take at once is made without awaiting at all (no cancellation
point, so no shield and no trip through the event loop); the rest is awaited. A write that can never
finish (a peer that stopped reading) is ended by :meth:`abort`, which the owner calls from its
keepalive or close timeout. The receiver never waits for another task's write: control
replies it produces are written by the task writing at the time, or by the receiver itself
when nobody is writing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple

import anyio
import anyio.abc
from websockets.exceptions import InvalidState, PayloadTooBig
from websockets.exceptions import ProtocolError as WSProtocolError
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import Protocol, Side, State

from .._errors import (
    ConnectionClosed,
    ConnectionLost,
    MessageTooLarge,
    RemoteProtocolError,
)
from ._lowlevel import CancelCheck

try:
    from websockets.speedups import apply_mask
except ImportError:  # pragma: no cover - websockets built without its C extension
    from websockets.utils import apply_mask

__all__ = ["DEFAULT_READ_SIZE", "Message", "WebSocketEngine"]

#: Bytes requested per read. Large reads matter: anyio on asyncio copies when it slices a
#: transport chunk, and each read costs a wake-up.
DEFAULT_READ_SIZE = 256 * 1024

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_PONG = Opcode.PONG
_OPEN = State.OPEN
_CLOSED = State.CLOSED
_CLIENT = Side.CLIENT
#: Routes for received bytes (see ``WebSocketEngine._split_frames``).
_HANDSHAKE = "handshake"
_FRAMES = "frames"
_PROTOCOL = "protocol"
#: Indexed by a frame's first byte: 1 where the opcode is reserved (3-7, 11-15).
_BAD_OPCODE = bytes(0 if b & 0x0F in (0, 1, 2, 8, 9, 10) else 1 for b in range(256))
#: An HTTP head longer than this goes to the protocol, which refuses it.
_MAX_HEAD = 1 << 20
_EOF_ERRORS = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
#: Headers of masked client frames with a 16-bit and a 64-bit length.
_HEAD_16 = struct.Struct("!BBH").pack
_HEAD_64 = struct.Struct("!BBQ").pack
#: Random bytes drawn at once for masking keys (4 per frame).
_MASK_POOL = 1024


def _sync_writer(stream: anyio.abc.ByteStream) -> Callable[[bytes], int] | None:
    """A function that writes to ``stream`` without awaiting, when the stream can take bytes now.

    It returns how many bytes it wrote; 0 means "await ``stream.send`` instead" (the stream is
    busy, full, closed or failed: the awaited send then waits or raises as usual). Only anyio's
    own plain TCP streams qualify: on asyncio the transport's buffer is written only while it is
    empty (so order is kept), on trio the socket itself, non-blocking. Any other stream, TLS
    included, returns None and is always awaited.
    """
    if not isinstance(stream, anyio.abc.SocketStream):
        return None
    module = type(stream).__module__
    try:
        if module == "anyio._backends._asyncio":
            return _asyncio_writer(stream)
        if module == "anyio._backends._trio":
            return _socket_writer(stream.extra(anyio.abc.SocketAttribute.raw_socket))
    except Exception:  # another anyio with other internals: always await
        return None
    return None


def _asyncio_writer(stream: anyio.abc.SocketStream) -> Callable[[bytes], int] | None:
    # anyio's asyncio SocketStream.send checks these, then calls transport.write() and, when
    # the transport took everything, only yields to the loop once more.
    transport = getattr(stream, "_transport")  # noqa: B009
    protocol = getattr(stream, "_protocol")  # noqa: B009
    if not (
        isinstance(getattr(stream, "_closed", None), bool)
        and callable(getattr(transport, "write", None))
        and callable(getattr(transport, "is_closing", None))
        and callable(getattr(getattr(protocol, "write_event", None), "is_set", None))
        and hasattr(protocol, "exception")
    ):
        return None

    def write(data: bytes) -> int:
        if (
            stream._closed  # pyright: ignore[reportAttributeAccessIssue, reportUnknownMemberType]
            or protocol.exception is not None
            or not protocol.write_event.is_set()
            or transport.is_closing()
        ):
            return 0
        transport.write(data)
        return len(data)

    return write


def _socket_writer(sock: socket.socket) -> Callable[[bytes], int]:
    send = sock.send

    def write(data: bytes) -> int:
        try:
            return send(data)
        except OSError:  # would block, or failed: the awaited send waits or reports it
            return 0

    return write


def _frame_limit(protocol: Protocol) -> int | None:
    """The largest data frame the protocol accepts on its own, or None if it cannot be told."""
    if hasattr(protocol, "max_message_size"):
        limits = [
            limit
            for limit in (protocol.max_message_size, getattr(protocol, "max_fragment_size", None))
            if limit is not None
        ]
        return min(limits) if limits else 2**63
    limit = getattr(protocol, "max_size", _UNKNOWN)  # websockets before 15
    if limit is None:
        return 2**63
    return limit if isinstance(limit, int) else None


_UNKNOWN = object()


class Message(NamedTuple):
    """One complete data message: its payload and whether it was a text message."""

    data: bytes | bytearray | memoryview
    text: bool


_MessageFactory = Callable[[type[Message], tuple[bytes | bytearray | memoryview, bool]], Message]


def _message_factory() -> _MessageFactory:
    return tuple.__new__  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]


#: ``_new_message(Message, (data, text))``: the C constructor, without NamedTuple's Python one.
_new_message = _message_factory()


class WebSocketEngine:
    """Drive ``protocol`` over ``stream``; see the module docstring for the contract."""

    def __init__(
        self,
        protocol: Protocol,
        stream: anyio.abc.ByteStream,
        *,
        read_size: int = DEFAULT_READ_SIZE,
        close_timeout: float = 5.0,
        fast_framing: bool = True,
    ) -> None:
        self.protocol = protocol
        self.stream = stream
        self.read_size = read_size
        self.close_timeout = close_timeout
        self._messages: deque[Message] = deque()
        self._handshake: deque[Request | Response] = deque()
        self._fragments: list[bytes | bytearray | memoryview] = []
        self._fragment_text = False
        self._pings: dict[bytes, anyio.Event] = {}
        self._cancel_check = CancelCheck()
        # A flag, not an anyio.Lock: every send takes it, and the flag costs nothing.
        self._writing = False
        self._write_done: anyio.Event | None = None
        self._read_lock = anyio.Lock(fast_acquire=True)
        self._discard = False
        self._eof = False
        self._closed_exc: ConnectionClosed | None = None
        self._stream_closed = False
        self._write_error: BaseException | None = None
        # Receiving (see _split_frames): the route for incoming bytes, and the state of a frame
        # that spans reads.
        limit = _frame_limit(protocol) if fast_framing and protocol.side is _CLIENT else None
        self._limit = limit if limit is not None else 0
        if limit is None:
            self._route = _PROTOCOL
        elif protocol.state is State.CONNECTING:
            self._route = _HANDSHAKE
        elif protocol.state is _OPEN and not protocol.extensions:
            self._route = _FRAMES
        else:
            self._route = _PROTOCOL
        self._head = b""
        self._partial: bytearray | None = None
        self._partial_start = 0
        self._partial_text = False
        self._partial_need = 0
        self._protocol_need = 0
        # Sending: data frames are framed here while the receive route is _FRAMES (the same
        # conditions: client side, open, no extension) and the protocol exposes the state that
        # says no fragmented message is in progress; written without awaiting when the stream
        # can take them at once.
        self._frame_sends = hasattr(protocol, "expect_continuation_frame")
        self._sync_write = _sync_writer(stream)
        self._masks = b""
        self._mask_at = 0
        #: Counters, read by the owner's statistics.
        self.bytes_received = 0
        self.bytes_sent = 0

    # -- state -------------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """True when no task is writing, so a send would write at once."""
        return not self._writing

    @property
    def open(self) -> bool:
        """True while data messages may still be sent."""
        return self.protocol.state is _OPEN and self._write_error is None

    @property
    def close_code(self) -> int | None:
        """The peer's close code once a close frame arrived (1006 after a bare EOF), else None."""
        exc = self._closed_exc
        return exc.code if exc is not None else None

    @property
    def close_reason(self) -> str | None:
        """The peer's close reason, like :attr:`close_code`."""
        exc = self._closed_exc
        return exc.reason if exc is not None else None

    # -- receiving ---------------------------------------------------------------------------

    async def receive_handshake(self) -> Request | Response:
        """Read until the peer's HTTP handshake message arrives and return it.

        Raises ``ConnectionLost`` if the stream ends first.

        Cancellation: safe; nothing read is lost, a later call continues.
        """
        while not self._handshake:
            failure = self.protocol.handshake_exc
            if failure is not None:
                raise ConnectionLost(1006, f"invalid opening handshake: {failure}") from failure
            if self._eof:
                raise ConnectionLost(1006, "connection closed during the opening handshake")
            await self._read_more()
        return self._handshake.popleft()

    async def receive_message(self) -> Message:
        """Return the next complete data message; raise ``ConnectionClosed`` when it ends.

        Cancellation: safe; a cancelled call loses no data and a later call continues.
        """
        messages = self._messages
        while True:
            if messages:
                # Messages already buffered must still honour a pending cancel.
                check = self._cancel_check
                if check.probe():
                    await check.checkpoint()
                return messages.popleft()
            if self._closed_exc is not None:
                raise self._closed_exc
            await self._read_more()

    def receive_message_nowait(self) -> Message | None:
        """Return a message already buffered by an earlier read, or ``None`` (no checkpoint)."""
        return self._messages.popleft() if self._messages else None

    receive_nowait = receive_message_nowait

    async def _read_more(self) -> None:
        async with self._read_lock:
            if self._eof:
                return
            protocol = self.protocol
            try:
                chunk = await self.stream.receive(self.read_size)
            except _EOF_ERRORS:
                self._to_protocol(b"")
                self._eof = True
                protocol.receive_eof()
                self._process(protocol.events_received())
            else:
                self.bytes_received += len(chunk)
                route = self._route
                if route is _FRAMES:
                    # Messages are views of the chunk: it must be immutable.
                    self._split_frames(chunk if type(chunk) is bytes else bytes(chunk))
                elif route is _PROTOCOL:
                    protocol.receive_data(chunk)
                    self._process(protocol.events_received())
                else:
                    self._split_handshake(chunk)
            if protocol.writes and not self._writing:
                await self._write_now()

    # Routing received bytes. The protocol parses everything except the frames that make up
    # nearly all the traffic of a client: complete, unmasked, unfragmented text and binary
    # frames within the size limit, with no extension negotiated. Those are cut out of the
    # chunk here as zero-copy views (the protocol's generator-based parser costs ~4 us per
    # frame; this costs well under 1 us). Every other frame -- control frames, fragments,
    # anything malformed or over the limit -- is handed to the protocol whole and in order, so
    # the protocol always sits on a frame boundary and its own checks, replies and close
    # handling apply unchanged. Once the protocol leaves the OPEN state (a close, an error),
    # every byte goes to it. Only the client side routes this way; a server engine hands
    # everything to the protocol.

    def _to_protocol(self, rest: bytes | bytearray | memoryview) -> None:
        """Route everything from now on to the protocol, starting with what is held back."""
        if self._route is _PROTOCOL:
            return
        self._route = _PROTOCOL
        held = bytearray(self._head)
        if self._partial is not None:
            held += self._partial
        held += rest
        self._head = b""
        self._partial = None
        if held:
            self.protocol.receive_data(bytes(held))
        self._process(self.protocol.events_received())

    def _split_handshake(self, chunk: bytes) -> None:
        # The HTTP head goes to the protocol alone, so that it then waits on a frame boundary.
        data = self._head + chunk if self._head else chunk
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self._head = data
            if len(data) > _MAX_HEAD:
                self._to_protocol(b"")  # the protocol rejects the oversized head itself
            return
        end += 4
        self._head = b""
        protocol = self.protocol
        protocol.receive_data(data[:end])
        self._process(protocol.events_received())
        if protocol.state is _OPEN and not protocol.extensions and protocol.parser_exc is None:
            self._route = _FRAMES
            if end < len(data):
                self._split_frames(data[end:])
        else:
            # Refused (the protocol wants the body), compressed or failed: all to the protocol.
            self._to_protocol(data[end:])

    def _split_frames(self, chunk: bytes) -> None:
        protocol = self.protocol
        if protocol.state is not _OPEN or self._discard:
            self._to_protocol(chunk)
            return
        n = len(chunk)
        i = 0
        if self._protocol_need:
            # The rest of a frame the protocol is parsing.
            i = min(self._protocol_need, n)
            self._protocol_need -= i
            protocol.receive_data(chunk[:i] if i < n else chunk)
            self._process(protocol.events_received())
            if protocol.state is not _OPEN:
                self._to_protocol(memoryview(chunk)[i:])
                return
            if self._protocol_need:
                return
        elif self._partial is not None:
            # The rest of a data frame that began in an earlier read.
            partial = self._partial
            i = min(self._partial_need, n)
            partial += memoryview(chunk)[:i]
            self._partial_need -= i
            if self._partial_need:
                return
            self._partial = None
            data = memoryview(partial)[self._partial_start :]
            self._messages.append(_new_message(Message, (data, self._partial_text)))
        elif self._head:
            # A frame header split between reads (rare: join and start over).
            chunk = self._head + chunk
            self._head = b""
            n = len(chunk)
        view = memoryview(chunk)
        append = self._messages.append
        new = _new_message
        limit = self._limit
        while True:
            left = n - i
            if left < 2:
                break
            head = chunk[i]
            length = chunk[i + 1]
            if length & 0x80 or _BAD_OPCODE[head]:
                # Masked or an unknown opcode: the protocol fails on these two bytes alone.
                self._to_protocol(view[i:])
                return
            start = i + 2
            if length == 126:
                if left < 4:
                    break
                length = (chunk[start] << 8) | chunk[start + 1]
                start = i + 4
            elif length == 127:
                if left < 10:
                    break
                length = int.from_bytes(chunk[start : i + 10], "big")
                start = i + 10
            end = start + length
            if (head == 0x81 or head == 0x82) and length <= limit and not self._fragments:
                if end <= n:
                    append(new(Message, (view[start:end], head == 0x81)))
                    i = end
                    continue
                # Incomplete: keep what arrived; the next reads complete it.
                partial = bytearray(view[i:])
                self._partial = partial
                self._partial_start = start - i
                self._partial_need = end - n
                self._partial_text = head == 0x81
                return
            if length > limit:
                # Over the limit: the protocol refuses it on the header.
                self._to_protocol(view[i:])
                return
            # A frame for the protocol, whole; its bytes may arrive over several reads.
            take = min(end, n)
            protocol.receive_data(chunk[i:take])
            self._process(protocol.events_received())
            i = take
            if take < end:
                self._protocol_need = end - take
                return
            if protocol.state is not _OPEN:
                self._to_protocol(view[i:])
                return
        if i < n:
            self._head = chunk[i:]

    def _process(self, events: Sequence[object]) -> None:
        # Runs once per frame: locals, and Message built by tuple.__new__ (a C call; the
        # NamedTuple's own __new__ is Python code and costs ~0.2 us per message).
        discard = self._discard
        append = self._messages.append
        new = _new_message
        for event in events:
            if isinstance(event, Frame):
                opcode = event.opcode
                if opcode is _TEXT or opcode is _BINARY:
                    if discard:
                        continue
                    if event.fin:
                        append(new(Message, (event.data, opcode is _TEXT)))
                    else:
                        self._fragments = [event.data]
                        self._fragment_text = opcode is _TEXT
                elif opcode is _CONT:
                    if discard:
                        continue
                    self._fragments.append(event.data)
                    if event.fin:
                        data = b"".join(self._fragments)
                        self._fragments = []
                        self._messages.append(Message(data, self._fragment_text))
                elif opcode is _PONG:
                    self._pong(bytes(event.data))
            elif isinstance(event, (Request, Response)):
                self._handshake.append(event)
        if self._closed_exc is None:
            self._check_closed()

    def _check_closed(self) -> None:
        protocol = self.protocol
        rcvd = protocol.close_rcvd
        if rcvd is not None:
            self._closed_exc = ConnectionClosed(rcvd.code, rcvd.reason)
            self._fail_pings()
            return
        exc = protocol.parser_exc
        if exc is None:
            if self._eof and protocol.state is not State.CONNECTING:
                self._closed_exc = ConnectionLost(1006, "connection lost without a close frame")
                self._fail_pings()
            return
        closed: ConnectionClosed
        if isinstance(exc, PayloadTooBig):
            limit = protocol.max_message_size or exc.max_size
            size = (exc.size or 0) + (exc.current_size or 0)
            reason = f"message of {size} bytes exceeds the {limit}-byte limit"
            closed = ConnectionClosed(1009, reason)
            closed.__cause__ = MessageTooLarge(reason, size, limit)
        elif isinstance(exc, EOFError):
            closed = ConnectionLost(1006, "connection lost without a close frame")
            closed.__cause__ = exc
        elif isinstance(exc, UnicodeDecodeError):
            closed = ConnectionClosed(1007, "invalid UTF-8 in a close frame")
            closed.__cause__ = RemoteProtocolError(str(exc))
        elif isinstance(exc, WSProtocolError):
            closed = ConnectionClosed(1002, f"protocol error: {exc}")
            closed.__cause__ = RemoteProtocolError(str(exc))
        else:
            closed = ConnectionClosed(1011, "the WebSocket parser failed")
            closed.__cause__ = exc
        self._closed_exc = closed
        self._fail_pings()

    def _pong(self, payload: bytes) -> None:
        # A pong answers its ping and every earlier one (RFC 6455 5.5.3).
        if payload not in self._pings:
            return
        for key in list(self._pings):
            self._pings.pop(key).set()
            if key == payload:
                break

    def _fail_pings(self) -> None:
        for event in self._pings.values():
            event.set()
        self._pings.clear()

    # -- sending -----------------------------------------------------------------------------

    async def send_text(self, data: bytes | bytearray | str) -> None:
        """Send one text message (``str`` is UTF-8 encoded; bytes are sent as given).

        Cancellation: the frame is queued in the protocol before the first await, so it is sent
        even if the call is cancelled while waiting for the write lock (the lock holder writes
        it); a write in progress is shielded and completes, or is ended by :meth:`abort`.
        """
        if isinstance(data, str):
            data = data.encode()
        self._check_can_send()
        self._queue_frame(0x81, data)
        await self.flush()

    async def send_binary(self, data: bytes | bytearray) -> None:
        """Send one binary message.

        Cancellation: as for :meth:`send_text`.
        """
        self._check_can_send()
        self._queue_frame(0x82, data)
        await self.flush()

    async def send_texts(self, batch: Sequence[bytes | bytearray]) -> None:
        """Send several text messages with a single write, in order.

        Cancellation: as for :meth:`send_text`.
        """
        self._check_can_send()
        for data in batch:
            self._queue_frame(0x81, data)
        await self.flush()

    def _queue_frame(self, first: int, data: bytes | bytearray) -> None:
        """Queue one unfragmented data frame (``first``: FIN plus the opcode) behind the
        protocol's own output.

        On the fast route the frame is built here: the protocol's Frame objects, per-frame
        ``os.urandom(4)`` and serializer cost several microseconds per audio append. The bytes
        are the same (a masked frame with a fresh random key from the system's CSPRNG, drawn
        a thousand bytes at a time); the protocol's state is untouched, as its own
        ``send_text`` would leave it when no fragmented message is in progress.
        """
        protocol = self.protocol
        if (
            not self._frame_sends
            or self._route is not _FRAMES
            or protocol.expect_continuation_frame
        ):
            if first == 0x81:
                protocol.send_text(data)
            else:
                protocol.send_binary(data)
            return
        at = self._mask_at
        masks = self._masks
        if at >= len(masks):
            masks = self._masks = os.urandom(_MASK_POOL)
            at = 0
        self._mask_at = at + 4
        mask = masks[at : at + 4]
        n = len(data)
        if n < 126:
            head = bytes((first, 0x80 | n))
        elif n < 0x10000:
            head = _HEAD_16(first, 0xFE, n)
        else:
            head = _HEAD_64(first, 0xFF, n)
        protocol.writes.append(b"".join((head, mask, apply_mask(data, mask))))

    def _check_can_send(self) -> None:
        if self._write_error is not None:
            raise ConnectionLost(1006, "the connection failed while writing") from (
                self._write_error
            )
        if self.protocol.state is not _OPEN:
            closed = self._closed_exc or ConnectionClosed(
                1006, f"connection is {self.protocol.state.name.lower()}"
            )
            raise ConnectionClosed(closed.code, closed.reason) from closed

    async def flush(self) -> None:
        """Write everything the protocol has queued, in order, holding the write lock.

        Cancellation: waiting for another task's write may be cancelled (that task writes our
        bytes too); the write itself is shielded.
        """
        while self._writing:
            # The writer in progress also writes what we queued; wait for it to finish.
            done = self._write_done
            if done is None:
                done = self._write_done = anyio.Event()
            await done.wait()
        if self.protocol.writes:
            await self._write_now()
        if self._write_error is not None:
            raise ConnectionLost(1006, "the connection failed while writing") from (
                self._write_error
            )

    async def _write_now(self) -> None:
        self._writing = True
        try:
            if not self._write_at_once():
                with anyio.CancelScope(shield=True):
                    await self._flush_locked()
        finally:
            self._writing = False
            done = self._write_done
            if done is not None:
                self._write_done = None
                done.set()

    def _write_at_once(self) -> bool:
        """Write the protocol's output without awaiting; False when it must be awaited.

        Only a single pending chunk is written this way, and only when the stream takes it
        now (see ``_sync_writer``): no await means no cancellation point, so no shield and no
        extra trip through the event loop per send. What a partial write leaves is awaited.
        """
        write = self._sync_write
        writes = self.protocol.writes
        if write is None or len(writes) != 1 or self._write_error is not None:
            return False
        data = writes[0]
        if not data or self._stream_closed:
            return False
        sent = write(data)
        if not sent:
            return False
        self.bytes_sent += sent
        if sent == len(data):
            writes.clear()
            return True
        writes[0] = data[sent:]
        return False

    async def _flush_locked(self) -> None:
        protocol = self.protocol
        while protocol.writes:
            writes = protocol.data_to_send()
            eof = False
            if writes[-1] == b"":
                # An empty chunk is the protocol asking for a half-close.
                writes = [w for w in writes if w]
                eof = True
            if self._write_error is None and not self._stream_closed:
                try:
                    if writes:
                        data = writes[0] if len(writes) == 1 else b"".join(writes)
                        await self.stream.send(data)
                        self.bytes_sent += len(data)
                    if eof:
                        await self._send_eof()
                except _EOF_ERRORS as exc:
                    self._write_error = exc

    async def _send_eof(self) -> None:
        try:
            await self.stream.send_eof()
        except (NotImplementedError, *_EOF_ERRORS):
            # TLS before 1.3 cannot half-close; the stream is closed right after anyway.
            pass

    async def ping(self, data: bytes | None = None) -> None:
        """Send a ping and wait for its pong; returns early if the connection ends.

        Pongs are seen only while some task is receiving. Wrap the call in a timeout.

        Cancellation: safe; the ping may have been sent, its pong is then ignored.
        """
        payload = os.urandom(4) if data is None else data
        event = anyio.Event()
        self._pings[payload] = event
        try:
            if self._closed_exc is not None:
                raise self._closed_exc
            try:
                self.protocol.send_ping(payload)
            except InvalidState:
                raise ConnectionClosed(1006, "connection is closing") from None
            await self.flush()
            await event.wait()
        finally:
            self._pings.pop(payload, None)

    # -- closing -----------------------------------------------------------------------------

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection gracefully within ``close_timeout``, then release the stream.

        Sends a close frame unless one was already sent, reads and discards until the peer
        closes TCP, and closes the stream. Silent if called again.

        Cancellation: shielded; returns within ``close_timeout`` even when cancelled.
        """
        with anyio.move_on_after(self.close_timeout, shield=True):
            try:
                if self.protocol.state is _OPEN and self._write_error is None:
                    self.protocol.send_close(code, reason)
                    await self.flush()
                self._discard = True
                self._messages.clear()
                while not self._eof and self._write_error is None:
                    await self._read_more()
                    self._messages.clear()
                if self.protocol.writes:
                    await self.flush()
            except (ConnectionClosed, *_EOF_ERRORS):
                pass
        await self.abort()

    async def abort(self) -> None:
        """Close the stream at once, without a closing handshake. Silent if called again.

        Cancellation: shielded; returns promptly.
        """
        if self._stream_closed:
            return
        self._stream_closed = True
        if self._closed_exc is None:
            self._closed_exc = ConnectionLost(1006, "connection aborted")
        self._fail_pings()
        with anyio.CancelScope(shield=True):
            with contextlib.suppress(*_EOF_ERRORS):
                await self.stream.aclose()
