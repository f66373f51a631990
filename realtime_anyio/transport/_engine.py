"""A backend-neutral driver of the ``websockets`` Sans-I/O protocol over an anyio byte stream.

``WebSocketEngine`` owns one :class:`websockets.protocol.Protocol` (client or server side) and one
:class:`anyio.abc.ByteStream`. It moves bytes between them and nothing else: no event decoding, no
reconnects, no task of its own. It uses only the protocol's documented Sans-I/O interface
(``receive_data``, ``receive_eof``, ``events_received``, ``data_to_send``, the ``send_*``
methods, ``state``, ``handshake_exc`` and ``close_exc``). The opening handshake is left to the
caller, because it differs between the sides:

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
  one write) take the write lock, let the protocol frame the data and write it; frames never
  interleave and each caller's order is kept.
* ``await engine.flush()`` writes whatever the protocol has queued (after calling a
  ``protocol.send_*`` method yourself, e.g. a fragmented message or a close with a reason).
* ``await engine.ping()`` sends a ping and waits for its pong (someone must be receiving).
* ``await engine.aclose(code, reason)`` runs the closing handshake: sends a close frame (unless
  one was already exchanged), reads and discards until the peer closes TCP, then closes the
  stream. It is bounded by ``close_timeout``; ``await engine.abort()`` drops the stream at once.
  ``close_code``/``close_reason`` tell how it ended; ``bytes_sent`` and ``bytes_received``
  count traffic.

Writes and cancellation. Output leaves ``data_to_send()`` once, so a write cut short would
lose a pong or tear a frame. A send therefore waits for the write lock cancellably (a cancel
there sends nothing), and once its bytes are handed to the stream the write is shielded, for
at most ``write_timeout`` seconds (``close_timeout`` by default). A write that cannot finish in
that time (a peer that stopped reading) aborts the stream and raises ``ConnectionLost``: the
stream is unusable after a torn frame anyway. So a cancelled send returns within
``write_timeout`` plus the time to abort.

Control replies (pongs, the close echo) are produced by the receiving task. It writes them
itself when nobody holds the write lock, and otherwise leaves them to the lock holder, which
writes everything pending before it lets go; the receiver never waits for another task's write.
What waits this way is bounded by ``max_unwritten`` bytes: a peer that floods pings without
reading our replies fails the connection with ``ConnectionLost`` instead of growing our memory.

Receiving on the client side, the engine cuts complete, unmasked, unfragmented text and binary
frames within ``max_size`` out of each read itself, as zero-copy views of the chunk (the
protocol's parser costs a few microseconds per frame). It hands every other frame to the
protocol whole and in order (the HTTP head, control frames, fragments, anything malformed or
over the limit; everything once the protocol leaves the open state or an extension such as
compression is negotiated), so the protocol's checks, replies and closing apply unchanged.
Every decision rests on the engine's own state: which frames it routed, whether the protocol's
events showed a fragmented message in progress, the ``max_size`` the caller gave, and the
response's ``Sec-WebSocket-Extensions`` header. ``fast_framing=False`` leaves all parsing to the
protocol; tests check that both give the same results for any byte stream.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.streams.tls import TLSStream
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

__all__ = ["DEFAULT_MAX_UNWRITTEN", "DEFAULT_READ_SIZE", "Message", "WebSocketEngine"]

#: Bytes requested per read. Large reads matter: anyio on asyncio copies when it slices a
#: transport chunk, and each read costs a wake-up.
DEFAULT_READ_SIZE = 256 * 1024

#: Protocol output (control replies) allowed to wait for the write lock before the connection
#: is failed: about 8,000 pongs to maximal pings.
DEFAULT_MAX_UNWRITTEN = 1 << 20

_TEXT = Opcode.TEXT
_BINARY = Opcode.BINARY
_CONT = Opcode.CONT
_PONG = Opcode.PONG
_CLOSE = Opcode.CLOSE
_OPEN = State.OPEN
_CLOSED = State.CLOSED
_CONNECTING = State.CONNECTING
_CLIENT = Side.CLIENT
#: Routes for received bytes (see ``WebSocketEngine._split_frames``).
_HANDSHAKE = "handshake"
_FRAMES = "frames"
_PROTOCOL = "protocol"
#: Indexed by a frame's first byte: 1 where the opcode is reserved (3-7, 11-15).
_BAD_OPCODE = bytes(0 if b & 0x0F in (0, 1, 2, 8, 9, 10) else 1 for b in range(256))
#: An HTTP head longer than this goes to the protocol, which refuses it.
_MAX_HEAD = 1 << 20
#: Failures of the byte stream: the connection is gone. BusyResourceError is included for a TLS
#: stream, whose receive may need to write (a key update) while a send is in progress.
_STREAM_ERRORS = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.BusyResourceError,
    OSError,
)
#: Bound on closing the stream in :meth:`WebSocketEngine.abort` (forceful, so it is quick).
_ABORT_TIMEOUT = 1.0


class Message(NamedTuple):
    """One complete data message: its payload and whether it was a text message."""

    data: bytes | bytearray | memoryview
    text: bool


_MessageFactory = Callable[[type[Message], tuple[bytes | bytearray | memoryview, bool]], Message]


def _message_factory() -> _MessageFactory:
    return tuple.__new__  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]


#: ``_new_message(Message, (data, text))``: the C constructor, without NamedTuple's Python one.
_new_message = _message_factory()


def _negotiated_extensions(response: Response) -> bool:
    return any(value.strip() for value in response.headers.get_all("Sec-WebSocket-Extensions"))


class WebSocketEngine:
    """Drive ``protocol`` over ``stream``; see the module docstring for the contract.

    ``max_size`` must be the ``max_size`` the protocol was created with (the client-side fast
    route refuses nothing itself: it hands larger frames to the protocol, so a smaller value
    here is safe, a larger one is not). ``write_timeout`` bounds each shielded write
    (``close_timeout`` when ``None``); ``max_unwritten`` bounds control replies waiting to be
    written.
    """

    def __init__(
        self,
        protocol: Protocol,
        stream: anyio.abc.ByteStream,
        *,
        max_size: int | None = 2**20,
        read_size: int = DEFAULT_READ_SIZE,
        close_timeout: float = 5.0,
        write_timeout: float | None = None,
        max_unwritten: int = DEFAULT_MAX_UNWRITTEN,
        fast_framing: bool = True,
    ) -> None:
        self.protocol = protocol
        self.stream = stream
        self.max_size = max_size
        self.read_size = read_size
        self.close_timeout = close_timeout
        self.write_timeout = close_timeout if write_timeout is None else write_timeout
        self.max_unwritten = max_unwritten
        self._messages: deque[Message] = deque()
        self._handshake: deque[Request | Response] = deque()
        self._fragments: list[bytes | bytearray | memoryview] = []
        self._fragment_text = False
        self._fragment_size = 0
        self._pings: dict[bytes, anyio.Event] = {}
        # fast_acquire: taking a free lock only checks for cancellation; the stream's send and
        # receive that follow are the schedule points (see _write_locked and _read_more).
        self._write_lock = anyio.Lock(fast_acquire=True)
        self._read_lock = anyio.Lock(fast_acquire=True)
        # Protocol output taken from data_to_send() and not written yet, in order.
        self._unwritten: list[bytes] = []
        self._unwritten_size = 0
        self._eof_wanted = False
        self._eof_written = False
        self._close_after_write = False
        self._discard = False
        self._eof = False
        self._closed_exc: ConnectionClosed | None = None
        self._stream_closed = False
        self._write_error: BaseException | None = None
        # The size of the frame that made the protocol fail, when the engine saw its header.
        self._refused_size = 0
        # Receiving (see _split_frames): the route for incoming bytes, and the state of a frame
        # that spans reads.
        self._limit = max_size if max_size is not None else 2**63
        fast = fast_framing and protocol.side is _CLIENT
        if not fast:
            self._route = _PROTOCOL
        elif protocol.state is _CONNECTING:
            self._route = _HANDSHAKE
        elif protocol.state is _OPEN:
            # A protocol created open has no extensions: they come only from a handshake.
            self._route = _FRAMES
        else:
            self._route = _PROTOCOL
        self._head = b""
        self._partial: bytearray | None = None
        self._partial_start = 0
        self._partial_text = False
        self._partial_need = 0
        self._protocol_need = 0
        #: Counters, read by the owner's statistics.
        self.bytes_received = 0
        self.bytes_sent = 0

    # -- state -------------------------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """True when no task holds the write lock."""
        return not self._write_lock.locked()

    @property
    def open(self) -> bool:
        """True while data messages may still be sent."""
        return (
            self.protocol.state is _OPEN and self._write_error is None and not self._stream_closed
        )

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
            if self._eof or self._stream_closed:
                raise ConnectionLost(1006, "connection closed during the opening handshake")
            await self._read_more()
        return self._handshake.popleft()

    async def receive_message(self) -> Message:
        """Return the next complete data message; raise ``ConnectionClosed`` when it ends.

        Always a checkpoint, also when a message is already buffered.

        Cancellation: safe; a cancelled call loses no data and a later call continues.
        """
        messages = self._messages
        checked = False
        while True:
            if messages:
                if checked:
                    return messages.popleft()
                await anyio.lowlevel.checkpoint()
                checked = True
                continue
            closed = self._closed_exc
            if closed is not None:
                if not checked:
                    await anyio.lowlevel.checkpoint()
                raise closed
            # A read is a checkpoint.
            await self._read_more()
            checked = True

    def receive_message_nowait(self) -> Message | None:
        """Return a message already buffered by an earlier read, or ``None`` (no checkpoint)."""
        return self._messages.popleft() if self._messages else None

    receive_nowait = receive_message_nowait

    async def _read_more(self) -> None:
        async with self._read_lock:
            if self._eof:
                await anyio.lowlevel.checkpoint()
                return
            protocol = self.protocol
            try:
                chunk = await self.stream.receive(self.read_size)
            except _STREAM_ERRORS:
                self._to_protocol(b"")
                self._eof = True
                protocol.receive_eof()
                self._process(protocol.events_received())
                if self._closed_exc is None:  # the protocol always closes at EOF; be sure
                    self._closed_exc = ConnectionLost(1006, "connection lost without a close frame")
            else:
                # Taken after the await: another task may have started a close meanwhile.
                before = protocol.state
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
                if before is _OPEN:
                    self._check_failed()
            self._take_output(limit=True)
            if self._write_error is not None:
                if not self._stream_closed:
                    await self.abort()
            elif self._unwritten or (self._eof_wanted and not self._eof_written):
                await self._write_if_free()

    def _check_failed(self) -> None:
        """Stop reading when the protocol failed the connection on what it just received.

        A protocol that refuses a frame queues a close frame of its own and then only waits
        for the TCP stream to end. It left the open state although no close frame arrived and
        the engine sent none; the engine ends its side of the stream at once (it would close
        it anyway), which completes the protocol's state and gives the cause through the
        documented ``close_exc``.
        """
        protocol = self.protocol
        if protocol.state is _OPEN or self._closed_exc is not None or self._discard:
            return
        if protocol.state is not _CLOSED:
            self._eof = True
            protocol.receive_eof()
            self._process(protocol.events_received())
        if self._closed_exc is None:
            self._closed_exc = self._closed_from_protocol()
            self._fail_pings()

    async def _write_if_free(self) -> None:
        # The receiver writes control replies only when nobody else is writing; the lock
        # holder writes them otherwise. Never wait here.
        try:
            self._write_lock.acquire_nowait()
        except anyio.WouldBlock:
            return
        try:
            await self._write_unwritten()
        finally:
            self._write_lock.release()

    # Routing received bytes. The protocol parses everything except the frames that make up
    # nearly all the traffic of a client: complete, unmasked, unfragmented text and binary
    # frames within the size limit, with no extension negotiated. Those are cut out of the
    # chunk here as zero-copy views. Every other frame -- control frames, fragments, anything
    # malformed or over the limit -- is handed to the protocol whole and in order, so the
    # protocol always sits on a frame boundary and its own checks, replies and close handling
    # apply unchanged. Once the protocol leaves the OPEN state (a close, an error), every byte
    # goes to it. Only the client side routes this way; a server engine hands everything to
    # the protocol.

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
        response = self._handshake[-1] if self._handshake else None
        if (
            protocol.state is _OPEN
            and protocol.handshake_exc is None
            and isinstance(response, Response)
            and not _negotiated_extensions(response)
        ):
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
            # A data frame that continues a message counts towards the message's size.
            self._refused_size = length + (self._fragment_size if head & 0x0F == 0 else 0)
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
                    if event.fin:
                        if not discard:
                            append(new(Message, (event.data, opcode is _TEXT)))
                    else:
                        self._fragments = [event.data]
                        self._fragment_size = len(event.data)
                        self._fragment_text = opcode is _TEXT
                elif opcode is _CONT:
                    self._fragments.append(event.data)
                    self._fragment_size += len(event.data)
                    if event.fin:
                        data = b"".join(self._fragments)
                        self._fragments = []
                        self._fragment_size = 0
                        if not discard:
                            self._messages.append(Message(data, self._fragment_text))
                elif opcode is _PONG:
                    self._pong(bytes(event.data))
                elif opcode is _CLOSE and self._closed_exc is None:
                    # The protocol yields a close frame only after checking its code and its
                    # UTF-8 reason; an empty one means "no status code" (1005).
                    payload = bytes(event.data)
                    if len(payload) >= 2:
                        code = int.from_bytes(payload[:2], "big")
                        reason = payload[2:].decode("utf-8", "replace")
                    else:
                        code, reason = 1005, ""
                    self._closed_exc = ConnectionClosed(code, reason)
                    self._fail_pings()
            elif isinstance(event, (Request, Response)):
                self._handshake.append(event)
        if self._closed_exc is None and self.protocol.state is _CLOSED:
            self._closed_exc = self._closed_from_protocol()
            self._fail_pings()

    def _closed_from_protocol(self) -> ConnectionClosed:
        """The exception for a closed protocol that received no close frame."""
        cause = self.protocol.close_exc.__cause__
        closed: ConnectionClosed
        if isinstance(cause, PayloadTooBig):
            limit = self.max_size or 0
            reason = f"message exceeds the {limit}-byte limit"
            closed = ConnectionClosed(1009, reason)
            closed.__cause__ = MessageTooLarge(reason, self._refused_size, limit)
        elif cause is None or isinstance(cause, EOFError):
            closed = ConnectionLost(1006, "connection lost without a close frame")
            closed.__cause__ = cause
        elif isinstance(cause, UnicodeDecodeError):
            closed = ConnectionClosed(1007, "invalid UTF-8 in a close frame")
            closed.__cause__ = RemoteProtocolError(str(cause))
        elif isinstance(cause, WSProtocolError):
            closed = ConnectionClosed(1002, f"protocol error: {cause}")
            closed.__cause__ = RemoteProtocolError(str(cause))
        else:
            closed = ConnectionClosed(1011, "the WebSocket parser failed")
            closed.__cause__ = cause
        return closed

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

        Cancellation: while waiting for the write lock, a cancel sends nothing. Once the
        frame is handed to the stream the write is shielded for at most ``write_timeout``
        seconds; a write that cannot finish by then aborts the connection (``ConnectionLost``).
        """
        if isinstance(data, str):
            data = data.encode()
        async with self._write_lock:
            self._check_can_send()
            self.protocol.send_text(data)
            await self._write_locked()

    async def send_binary(self, data: bytes | bytearray) -> None:
        """Send one binary message.

        Cancellation: as for :meth:`send_text`.
        """
        async with self._write_lock:
            self._check_can_send()
            self.protocol.send_binary(data)
            await self._write_locked()

    async def send_texts(self, batch: Sequence[bytes | bytearray]) -> None:
        """Send several text messages with a single write, in order.

        Cancellation: as for :meth:`send_text`; the batch is written whole or not at all
        (unless the connection fails in the middle of the write).
        """
        async with self._write_lock:
            self._check_can_send()
            send = self.protocol.send_text
            for data in batch:
                send(data)
            await self._write_locked()

    async def flush(self) -> None:
        """Write everything the protocol has queued, in order, holding the write lock.

        Cancellation: as for :meth:`send_text`.
        """
        async with self._write_lock:
            await self._write_locked()

    def _check_can_send(self) -> None:
        if self._write_error is not None:
            raise ConnectionLost(1006, "the connection failed while writing") from (
                self._write_error
            )
        if self.protocol.state is not _OPEN or self._stream_closed:
            closed = self._closed_exc or ConnectionClosed(
                1006, f"connection is {self.protocol.state.name.lower()}"
            )
            raise ConnectionClosed(closed.code, closed.reason) from closed

    def _take_output(self, *, limit: bool = False) -> None:
        """Move the protocol's output to the engine's own queue (an empty chunk asks for EOF).

        With ``limit``, fail the connection when more than ``max_unwritten`` bytes wait.
        """
        for chunk in self.protocol.data_to_send():
            if chunk:
                self._unwritten.append(chunk)
                self._unwritten_size += len(chunk)
            else:
                self._eof_wanted = True
        if limit and self._unwritten_size > self.max_unwritten and self._write_error is None:
            self._write_error = ConnectionLost(
                1006,
                f"more than {self.max_unwritten} bytes of replies to the peer are waiting "
                "to be written: the peer does not read",
            )
            self._unwritten.clear()
            self._unwritten_size = 0
            if self._closed_exc is None:
                self._closed_exc = ConnectionLost(1006, "the peer does not read our replies")
            self._fail_pings()

    async def _write_locked(self) -> None:
        self._take_output()
        if self._unwritten or (self._eof_wanted and not self._eof_written):
            await self._write_unwritten()
        else:
            # Nothing to write: still a schedule point (the lock only checked for cancellation).
            await anyio.lowlevel.cancel_shielded_checkpoint()
        if self._write_error is not None:
            raise ConnectionLost(1006, "the connection failed while writing") from (
                self._write_error
            )

    async def _write_unwritten(self) -> None:
        """Write the queued output; the caller holds the write lock.

        Each write is shielded for at most ``write_timeout`` seconds; one that does not finish
        by then (or fails) marks the connection failed and closes the stream.
        """
        while self._unwritten or (self._eof_wanted and not self._eof_written):
            if self._write_error is not None or self._stream_closed:
                self._unwritten.clear()
                self._unwritten_size = 0
                break
            chunks = self._unwritten
            self._unwritten = []
            self._unwritten_size = 0
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            with anyio.move_on_after(self.write_timeout, shield=True) as scope:
                try:
                    if data:
                        await self.stream.send(data)
                        self.bytes_sent += len(data)
                    if self._eof_wanted and not self._unwritten and not self._eof_written:
                        self._eof_written = True
                        await self._send_eof()
                except _STREAM_ERRORS as exc:
                    self._write_error = exc
            if scope.cancelled_caught:
                self._write_error = TimeoutError(
                    f"a write did not finish within {self.write_timeout} s"
                )
        if (self._write_error is not None or self._close_after_write) and not self._stream_closed:
            await self.abort()

    async def _send_eof(self) -> None:
        # TLS cannot half-close (anyio's TLS stream refuses, or fails once the session has
        # ended): close the whole stream instead, or a peer waiting for our EOF would wait for
        # its close timeout.
        if isinstance(self.stream, TLSStream):
            self._close_after_write = True
            return
        try:
            await self.stream.send_eof()
        except NotImplementedError:
            self._close_after_write = True
        except _STREAM_ERRORS:
            pass

    async def ping(self, data: bytes | None = None) -> None:
        """Send a ping and wait for its pong; returns early if the connection ends.

        Pongs are seen only while some task is receiving. Wrap the call in a timeout.

        Cancellation: safe; the ping may have been sent, its pong is then ignored. Sending
        it is bounded as for :meth:`send_text`.
        """
        payload = os.urandom(4) if data is None else data
        event = anyio.Event()
        try:
            async with self._write_lock:
                if self._closed_exc is not None:
                    raise self._closed_exc
                self._check_can_send()
                try:
                    self.protocol.send_ping(payload)
                except InvalidState:
                    raise ConnectionClosed(1006, "connection is closing") from None
                self._pings[payload] = event
                await self._write_locked()
            await event.wait()
        finally:
            self._pings.pop(payload, None)

    # -- closing -----------------------------------------------------------------------------

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection gracefully within ``close_timeout``, then release the stream.

        Sends a close frame unless one was already sent, reads and discards until the peer
        closes TCP, and closes the stream. Silent if called again.

        Cancellation: shielded; returns within ``close_timeout`` plus about a second (the
        bound on the forceful close) even when cancelled.
        """
        with anyio.move_on_after(self.close_timeout, shield=True):
            try:
                async with self._write_lock:
                    if self.open:
                        self._discard = True
                        self.protocol.send_close(code, reason)
                    await self._write_locked()
                self._discard = True
                self._messages.clear()
                while not self._eof and not self._stream_closed and self._write_error is None:
                    await self._read_more()
                    self._messages.clear()
                async with self._write_lock:
                    await self._write_locked()
            except (ConnectionClosed, *_STREAM_ERRORS):
                pass
        await self.abort()

    async def abort(self) -> None:
        """Close the stream at once, without a closing handshake. Silent if called again.

        A task blocked reading or writing the stream is woken with a stream error.

        Cancellation: shielded; returns promptly (the close is bounded by a second, then
        forced).
        """
        if self._stream_closed:
            await anyio.lowlevel.cancel_shielded_checkpoint()
            return
        self._stream_closed = True
        if self._closed_exc is None:
            self._closed_exc = ConnectionLost(1006, "connection aborted")
        self._fail_pings()
        # A plain aclose() first: anyio before 4.13 leaves an asyncio socket with unsent data
        # open when its aclose() is cancelled (as aclose_forcefully does), so a task blocked
        # on it would never wake. The streams opened here close without waiting for the peer
        # (TLS without close_notify); a stream whose close does wait is closed forcefully
        # after the bound.
        with anyio.move_on_after(_ABORT_TIMEOUT, shield=True) as scope:
            with contextlib.suppress(*_STREAM_ERRORS):
                await self.stream.aclose()
        if scope.cancelled_caught:
            with anyio.move_on_after(_ABORT_TIMEOUT, shield=True):
                with contextlib.suppress(*_STREAM_ERRORS):
                    await anyio.aclose_forcefully(self.stream)
