"""The fault matrix of ``docs/faults.md``: the cells no other test file covers.

Each fault runs against the bundled server's fault injection and against independent peers (a
`websockets` server and a trio-websocket server from ``peers.py``, each in its own thread),
on asyncio and trio. The last test checks that every test the docs page names exists.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest
import trio
import trio_websocket
from peers import HELLO, silent_listener, trio_websocket_peer, websockets_peer
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request

from realtime_anyio import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConnectionClosed,
    ConnectionLost,
    ConnectTimeout,
    InternalServerError,
    InvalidServerEvent,
    MessageTooLarge,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    open_realtime,
)
from realtime_anyio.events import UnknownServerEvent
from realtime_anyio.testing import (
    CloseAfter,
    DelayEvents,
    DelayHandshake,
    DropAfter,
    FakeRealtimeServer,
    Fault,
    RefuseHandshake,
    Script,
    SendFrame,
    SendMalformed,
    StallAfter,
)
from realtime_anyio.transport import connect_trio_websocket

ROOT = Path(__file__).parent.parent
PEERS = ("bundled", "websockets", "trio-websocket")

DELTA = json.dumps(
    {
        "type": "response.output_text.delta",
        "event_id": "event_d",
        "response_id": "resp_1",
        "item_id": "item_1",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hel",
    }
)
CLEARED = json.dumps({"type": "input_audio_buffer.cleared", "event_id": "event_c"})
APPEND = {"type": "input_audio_buffer.append", "audio": "A" * (64 * 1024)}

# -- independent peers driven by a list of steps ---------------------------------------------------
#
# ("send", str | bytes)   a text frame (str) or a binary frame (bytes)
# ("send_text", bytes)    these bytes as a text frame, unchecked (websockets only)
# ("recv",)               wait for one message
# ("close", code, reason) the closing handshake with that code
# ("drop",)               close TCP without a close frame (websockets only)
# ("stop_reading", s)     stop reading the socket for s seconds, then drop TCP
# ("echo",)               answer every message with input_audio_buffer.cleared
# ("ignore",)             read and ignore every message (pings are still answered)

Step = tuple[Any, ...]


def websockets_handler(steps: Sequence[Step]) -> Any:
    async def handler(ws: ServerConnection) -> None:
        for kind, *args in steps:
            if kind == "send":
                await ws.send(args[0])
            elif kind == "send_text":
                await ws.send(args[0], text=True)
            elif kind == "recv":
                await ws.recv()
            elif kind == "close":
                await ws.close(args[0], args[1])
                return
            elif kind == "drop":
                ws.transport.abort()
                return
            elif kind == "stop_reading":
                ws.transport.pause_reading()  # no pongs, no close replies
                await asyncio.sleep(args[0])
                ws.transport.abort()
                return
            elif kind == "echo":
                async for _ in ws:
                    await ws.send(CLEARED)
            elif kind == "ignore":
                async for _ in ws:
                    pass
            else:  # pragma: no cover - a typo in a test
                raise ValueError(kind)
        await ws.wait_closed()

    return handler


def trio_handler(steps: Sequence[Step]) -> Any:
    async def handler(ws: trio_websocket.WebSocketConnection) -> None:
        for kind, *args in steps:
            if kind == "send":
                await ws.send_message(args[0])
            elif kind == "recv":
                await ws.get_message()
            elif kind == "close":
                await ws.aclose(args[0], args[1])
                return
            elif kind == "stop_reading":
                # trio-websocket's reader stops reading the socket once its one-message queue is
                # full and nobody takes from it.
                await trio.sleep(args[0])
                return
            elif kind == "echo":
                while True:
                    await ws.get_message()
                    await ws.send_message(CLEARED)
            elif kind == "ignore":
                while True:
                    await ws.get_message()
            else:  # pragma: no cover - a typo in a test
                raise ValueError(kind)
        while True:
            await ws.get_message()

    return handler


@asynccontextmanager
async def serving(
    peer: str, steps: Sequence[Step] = (), faults: Sequence[Fault] = (), **options: Any
) -> AsyncIterator[str]:
    """The websocket_base_url of ``peer``: the bundled server with ``faults``, or an independent
    peer running ``steps``."""
    if peer == "bundled":
        async with FakeRealtimeServer(faults=faults, close_timeout=0.5, **options) as server:
            yield server.url
    elif peer == "websockets":
        with websockets_peer(websockets_handler(steps), ping_interval=None, close_timeout=0.5) as (
            url,
            _seen,
        ):
            yield url
    else:
        assert peer == "trio-websocket"
        with trio_websocket_peer(trio_handler(steps)) as url:
            yield url


def long_reply() -> Script:
    script = Script()
    script.reply_text("A long answer, word after word. " * 20)
    return script


# -- leftovers: tasks and file descriptors ---------------------------------------------------------


class _TaskCounter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.live = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.live += 1

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        self.live -= 1


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


class Leftovers:
    """Tasks started and file descriptors opened since creation that are still there."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.fds = fd_count()
        self.counter: _TaskCounter | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        if backend == "trio":
            self.counter = _TaskCounter()
            trio.lowlevel.add_instrument(self.counter)
        else:
            self.tasks = asyncio.all_tasks()

    def _new_tasks(self) -> int:
        if self.counter is not None:
            return self.counter.live
        return len(asyncio.all_tasks() - self.tasks)

    async def assert_none(self, within: float = 5.0) -> None:
        """Wait (briefly) for the peer's side to finish, then fail if anything is left."""
        with anyio.move_on_after(within):
            while self._new_tasks() or fd_count() > self.fds:  # noqa: ASYNC110 - polls counts
                await anyio.sleep(0.02)
        left = (self._new_tasks(), fd_count() - self.fds)
        if self.counter is not None:
            trio.lowlevel.remove_instrument(self.counter)
        assert left == (0, 0), f"tasks and fds left behind: {left}"


def client_transports(backend: str) -> list[Any]:
    """The client's transports to try: the default one, and under trio trio-websocket's too."""
    return [None, connect_trio_websocket] if backend == "trio" else [None]


# -- abrupt close with each code, before session.created and mid-response --------------------------

CLOSE_CODES = [1000, 1001, 1008, 1011, 3000, 4000, 4321]
REFUSALS: dict[int, type[APIStatusError]] = {3000: AuthenticationError, 4000: BadRequestError}


@pytest.mark.parametrize("code", CLOSE_CODES)
@pytest.mark.parametrize("peer", PEERS)
async def test_close_before_session_created(peer: str, code: int) -> None:
    steps = [("close", code, "bye")]
    with anyio.fail_after(10):
        async with serving(peer, steps, [CloseAfter(0, code, "bye")]) as url:
            with pytest.raises((ConnectionClosed, APIStatusError)) as info:
                async with open_realtime(model="m", websocket_base_url=url, api_key="k"):
                    pytest.fail("entered")
    exc = info.value
    if code in REFUSALS:
        assert type(exc) is REFUSALS[code]
        assert isinstance(exc, APIStatusError)
        assert (exc.close_code, exc.status_code) == (code, None)
    else:
        assert type(exc) is ConnectionClosed
        assert (exc.code, exc.reason, exc.__cause__) == (code, "bye", None)


@pytest.mark.parametrize("code", CLOSE_CODES)
@pytest.mark.parametrize("peer", PEERS)
async def test_close_mid_response(peer: str, code: int) -> None:
    # Two response events arrive, then the close: the events are delivered, then the close.
    steps = [("send", HELLO), ("recv",), ("send", DELTA), ("send", DELTA), ("close", code, "bye")]
    with anyio.fail_after(10):
        async with (
            serving(peer, steps, [CloseAfter(3, code, "bye")], script=long_reply()) as url,
            open_realtime(model="m", websocket_base_url=url, api_key="k") as conn,
        ):
            assert (await conn.receive()).type == "session.created"
            await conn.response.create()
            seen: list[str] = []
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    seen.append((await conn.receive()).type)
            assert len(seen) == 2 and "response.done" not in seen
            with pytest.raises(ConnectionClosed) as sent:
                await conn.input_audio_buffer.clear()
    exc = info.value
    assert type(exc) is ConnectionClosed
    assert (exc.code, exc.reason) == (code, "bye")
    assert sent.value.code == code
    if code in REFUSALS:
        assert type(exc.__cause__) is REFUSALS[code]
    else:
        assert exc.__cause__ is None


# -- TCP drop without a close frame ----------------------------------------------------------------


@pytest.mark.parametrize("point", ["before_session_created", "mid_response"])
@pytest.mark.parametrize("peer", ["bundled", "websockets"])
async def test_tcp_drop_without_close_frame(peer: str, point: str) -> None:
    if point == "before_session_created":
        steps: list[Step] = [("drop",)]
        faults = [DropAfter(0)]
    else:
        steps = [("send", HELLO), ("recv",), ("send", DELTA), ("send", DELTA), ("drop",)]
        faults = [DropAfter(3)]
    with anyio.fail_after(10):
        async with serving(peer, steps, faults, script=long_reply()) as url:
            if point == "before_session_created":
                with pytest.raises(ConnectionLost) as info:
                    async with open_realtime(model="m", websocket_base_url=url, api_key="k"):
                        pytest.fail("entered")
            else:
                async with open_realtime(model="m", websocket_base_url=url, api_key="k") as conn:
                    await conn.receive()
                    await conn.response.create()
                    seen: list[str] = []
                    with pytest.raises(ConnectionLost) as info:
                        while True:
                            seen.append((await conn.receive()).type)
                    assert len(seen) == 2
    assert info.value.code == 1006


# -- a peer that stops reading; a peer that is silent but alive ------------------------------------


@pytest.mark.parametrize("peer", PEERS)
async def test_peer_that_stops_reading(peer: str) -> None:
    # Our sends back up: the caller's own deadline still ends its send, and the keepalive
    # (its ping cannot even be written) declares the peer gone; leaving is quick and says what
    # was accepted but never written.
    steps = [("send", HELLO), ("stop_reading", 3.0)]
    left = 0.0
    with anyio.fail_after(15):
        async with serving(peer, steps, [StallAfter(1)]) as url:
            with pytest.raises(ConnectionLost) as at_exit:
                async with open_realtime(
                    model="m",
                    websocket_base_url=url,
                    api_key="k",
                    send_buffer=4,
                    ping_interval=0.5,
                    ping_timeout=0.5,
                    close_timeout=2.0,
                ) as conn:
                    await conn.receive()
                    start = anyio.current_time()
                    with anyio.move_on_after(0.3) as scope:
                        while True:
                            await conn.send(APPEND)
                    assert scope.cancelled_caught
                    assert anyio.current_time() - start < 1.0
                    with pytest.raises(ConnectionLost, match="pong"):
                        await conn.receive()
                    assert anyio.current_time() - start < 2.0
                    left = anyio.current_time()
            assert anyio.current_time() - left < 1.0
    assert at_exit.value.unsent > 0


@pytest.mark.parametrize("peer", PEERS)
async def test_silent_peer_that_answers_pings_is_not_dead(peer: str) -> None:
    steps = [("send", HELLO), ("echo",)]
    with anyio.fail_after(10):
        async with (
            serving(peer, steps) as url,
            open_realtime(
                model="m",
                websocket_base_url=url,
                api_key="k",
                ping_interval=0.1,
                ping_timeout=0.5,
            ) as conn,
        ):
            await conn.receive()
            with anyio.move_on_after(1.5) as scope:
                await conn.receive()
            assert scope.cancelled_caught
            assert not conn.closed
            await conn.input_audio_buffer.clear()
            assert (await conn.receive()).type == "input_audio_buffer.cleared"


# -- frames that are not valid events --------------------------------------------------------------

FRAMES: dict[str, tuple[str | bytes, Fault, type[object]]] = {
    "garbage": (
        '{"type": "response.output_text.delta", "delta": ',
        SendMalformed(1),
        InvalidServerEvent,
    ),
    "invalid_utf8": (
        b'{"type": "response.output_text.delta", "delta": "\xff\xfe"}',
        SendFrame(1, b'{"type": "response.output_text.delta", "delta": "\xff\xfe"}'),
        InvalidServerEvent,
    ),
    "binary": (b"\x00\x01binary", SendFrame(1, b"\x00\x01binary", binary=True), InvalidServerEvent),
    "unknown_type": (
        '{"type": "brand.new.event", "x": {"y": 1}}',
        SendMalformed(1, '{"type": "brand.new.event", "x": {"y": 1}}'),
        UnknownServerEvent,
    ),
    "wrong_field_types": (
        '{"type": "response.done", "response": 5}',
        SendMalformed(1, '{"type": "response.done", "response": 5}'),
        InvalidServerEvent,
    ),
}
FRAME_CASES = [
    (peer, kind)
    for peer in PEERS
    for kind in FRAMES
    # trio-websocket's API cannot put invalid UTF-8 into a text frame.
    if not (peer == "trio-websocket" and kind == "invalid_utf8")
]


@pytest.mark.parametrize(("peer", "kind"), FRAME_CASES)
async def test_bad_frame_arrives_as_a_value_and_the_session_goes_on(peer: str, kind: str) -> None:
    payload, fault, expected = FRAMES[kind]
    send: Step = ("send_text", payload) if kind == "invalid_utf8" else ("send", payload)
    steps = [("send", HELLO), send, ("echo",)]
    with anyio.fail_after(10):
        async with (
            serving(peer, steps, [fault]) as url,
            open_realtime(model="m", websocket_base_url=url, api_key="k") as conn,
        ):
            assert (await conn.receive()).type == "session.created"
            bad = await conn.receive()
            assert type(bad) is expected
            raw = payload if isinstance(payload, bytes) else payload.encode()
            assert bytes(bad.raw) == raw  # type: ignore[attr-defined]
            await conn.input_audio_buffer.clear()
            assert (await conn.receive()).type == "input_audio_buffer.cleared"
            invalid = conn.statistics().invalid_frames
            assert invalid == (1 if expected is InvalidServerEvent else 0)


async def test_oversize_frame_from_trio_websocket() -> None:
    steps = [("send", HELLO), ("send", json.dumps({"type": "x", "blob": "y" * 200_000}))]
    with anyio.fail_after(10):
        async with (
            serving("trio-websocket", steps) as url,
            open_realtime(
                model="m", websocket_base_url=url, api_key="k", max_message_size=100_000
            ) as conn,
        ):
            await conn.receive()
            with pytest.raises(ConnectionClosed) as info:
                await conn.receive()
    assert info.value.code == 1009
    assert isinstance(info.value.__cause__, MessageTooLarge)


# -- handshake refusals ----------------------------------------------------------------------------

STATUSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
    500: InternalServerError,
    503: InternalServerError,
}
REFUSAL_BODY = b'{"error": {"message": "refused here", "type": "invalid_request_error"}}'


@contextmanager
def refusing_websockets_peer(status: int) -> Iterator[str]:
    def process(connection: ServerConnection, request: Request) -> Any:
        response = connection.respond(status, REFUSAL_BODY.decode())
        response.headers["Content-Type"] = "application/json"
        return response

    with websockets_peer(websockets_handler([]), process) as (url, _seen):
        yield url


@pytest.mark.parametrize("status", list(STATUSES))
@pytest.mark.parametrize("peer", PEERS)
async def test_handshake_refusal(peer: str, status: int) -> None:
    with anyio.fail_after(10):
        if peer == "bundled":
            refuse = RefuseHandshake(status, REFUSAL_BODY, {"content-type": "application/json"})
            async with serving(peer, faults=[refuse]) as url:
                await _expect_refusal(url, status)
        elif peer == "websockets":
            with refusing_websockets_peer(status) as url:
                await _expect_refusal(url, status)
        else:
            with trio_websocket_peer(trio_handler([]), reject=(status, REFUSAL_BODY)) as url:
                await _expect_refusal(url, status)


async def _expect_refusal(url: str, status: int) -> None:
    with pytest.raises(APIStatusError) as info:
        async with open_realtime(model="m", websocket_base_url=url, api_key="sk-refused"):
            pytest.fail("entered")
    exc = info.value
    assert type(exc) is STATUSES[status]
    assert (exc.status_code, exc.close_code) == (status, None)
    assert exc.message == "refused here"
    assert "sk-refused" not in str(exc)


# -- no connection, or not a WebSocket -----------------------------------------------------------


async def test_nothing_listening_is_a_connection_error() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with anyio.fail_after(10), pytest.raises(APIConnectionError, match="cannot connect"):
        async with open_realtime(
            model="m", websocket_base_url=f"ws://127.0.0.1:{port}/v1", api_key="k"
        ):
            pytest.fail("entered")


NOT_WEBSOCKET = {
    "web_page": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "redirect": (
        b"HTTP/1.1 301 Moved Permanently\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
    ),
    "not_http": b"SSH-2.0-OpenSSH_9.6\r\n",
    "bad_accept_key": (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: wrong\r\n\r\n"
    ),
}


@asynccontextmanager
async def answering(answer: bytes) -> AsyncIterator[str]:
    """Answers the first read of each connection with ``answer``, then closes."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            await stream.receive()
            await stream.send(answer)
            await anyio.sleep(0.5)

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(listener.serve, handle)
        yield f"ws://127.0.0.1:{listener.extra(anyio.abc.SocketAttribute.local_port)}/v1"
        tg.cancel_scope.cancel()


@pytest.mark.parametrize("answer", list(NOT_WEBSOCKET))
async def test_an_answer_that_is_not_a_websocket_upgrade(
    answer: str, anyio_backend_name: str
) -> None:
    # Not a refusal by the service (no APIStatusError, even for a 200 or a redirect): the
    # endpoint is not a WebSocket. The same with the trio-websocket transport.
    transports: list[Any] = [None]
    if anyio_backend_name == "trio":
        transports.append(connect_trio_websocket)
    for transport in transports:
        with anyio.fail_after(10):
            async with answering(NOT_WEBSOCKET[answer]) as url:
                with pytest.raises(APIConnectionError):
                    async with open_realtime(
                        model="m",
                        websocket_base_url=url,
                        api_key="k",
                        connect_timeout=2,
                        transport=transport,
                    ):
                        pytest.fail("entered")


# -- connects that never finish: each phase -------------------------------------------------------


@asynccontextmanager
async def full_backlog() -> AsyncIterator[int]:
    """A listener whose accept queue is full, so a new TCP connection never completes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.socket()
    filler.setblocking(False)
    try:
        filler.connect_ex(("127.0.0.1", port))
        await anyio.sleep(0.05)
        yield port
    finally:
        filler.close()
        listener.close()


@asynccontextmanager
async def stuck_at(phase: str, peer: str) -> AsyncIterator[str]:
    """A websocket_base_url where connecting stops at ``phase``."""
    if phase == "tcp":
        async with full_backlog() as port:
            yield f"ws://127.0.0.1:{port}/v1"
    elif phase == "tls" or (phase == "upgrade" and peer == "raw"):
        scheme = "wss" if phase == "tls" else "ws"
        async with silent_listener() as port:
            yield f"{scheme}://127.0.0.1:{port}/v1"
    elif phase == "upgrade":
        async with serving(peer, faults=[DelayHandshake(float("inf"))]) as url:
            yield url
    else:
        assert phase == "session_created"
        async with serving(peer, [("ignore",)], [DelayEvents(3600)]) as url:
            yield url


PHASES = [
    ("tcp", "raw"),
    ("tls", "raw"),
    ("upgrade", "raw"),
    ("upgrade", "bundled"),
    ("session_created", "bundled"),
    ("session_created", "websockets"),
    ("session_created", "trio-websocket"),
]
PHASE_TEXT = {
    "tcp": "no TCP connection",
    "tls": "TLS handshake",
    "upgrade": "WebSocket upgrade was not answered",
    "session_created": "no session.created",
}


@pytest.mark.parametrize(("phase", "peer"), PHASES)
async def test_connect_timeout_names_the_phase(phase: str, peer: str) -> None:
    with anyio.fail_after(10):
        async with stuck_at(phase, peer) as url:
            start = anyio.current_time()
            with pytest.raises(ConnectTimeout) as info:
                async with open_realtime(
                    model="m", websocket_base_url=url, api_key="sk-phase", connect_timeout=0.3
                ):
                    pytest.fail("entered")
            assert anyio.current_time() - start < 2.0
    assert PHASE_TEXT[phase] in str(info.value)
    assert "sk-phase" not in str(info.value)


# -- cancellation at every await -------------------------------------------------------------------


@pytest.mark.parametrize(("phase", "peer"), PHASES)
async def test_cancel_while_connecting(phase: str, peer: str, anyio_backend_name: str) -> None:
    transports = client_transports(anyio_backend_name)
    leftovers = Leftovers(anyio_backend_name)
    came_out = 0
    with anyio.fail_after(20):
        async with stuck_at(phase, peer) as url:
            for transport in transports:
                start = anyio.current_time()
                with anyio.move_on_after(0.2):
                    try:
                        async with open_realtime(
                            model="m", websocket_base_url=url, api_key="k", transport=transport
                        ):
                            pytest.fail("entered")
                    except anyio.get_cancelled_exc_class():
                        came_out += 1
                        raise
                assert anyio.current_time() - start < 1.5
    assert came_out == len(transports)
    await leftovers.assert_none()


@pytest.mark.parametrize("peer", PEERS)
async def test_cancel_a_send_waiting_on_a_full_queue(peer: str, anyio_backend_name: str) -> None:
    leftovers = Leftovers(anyio_backend_name)
    came_out = 0
    transports = client_transports(anyio_backend_name)
    with anyio.fail_after(30):
        async with serving(peer, [("send", HELLO), ("stop_reading", 2.0)], [StallAfter(1)]) as url:
            for transport in transports:
                with anyio.CancelScope() as scope:
                    async with open_realtime(
                        model="m",
                        websocket_base_url=url,
                        api_key="k",
                        send_buffer=4,
                        ping_interval=None,
                        # Far from the deadline: a write stuck this long would end the
                        # connection (ConnectionLost) before the cancel.
                        close_timeout=1.5,
                        transport=transport,
                    ) as conn:
                        await conn.receive()
                        # The peer reads nothing: the buffers on the way and then the send queue
                        # fill up, and a send waits until the cancel comes.
                        scope.deadline = anyio.current_time() + 0.5
                        try:
                            while True:
                                await conn.send(APPEND)
                        except anyio.get_cancelled_exc_class():
                            stats = conn.statistics()
                            assert stats.send_queue_used == stats.send_queue_size
                            came_out += 1
                            raise
                assert scope.cancelled_caught
    assert came_out == len(transports)
    await leftovers.assert_none()


@pytest.mark.parametrize("peer", PEERS)
async def test_cancel_a_receive(peer: str, anyio_backend_name: str) -> None:
    leftovers = Leftovers(anyio_backend_name)
    came_out = 0
    transports = client_transports(anyio_backend_name)
    with anyio.fail_after(20):
        async with serving(peer, [("send", HELLO), ("echo",)]) as url:
            for transport in transports:
                with anyio.move_on_after(0.2) as scope:
                    async with open_realtime(
                        model="m", websocket_base_url=url, api_key="k", transport=transport
                    ) as conn:
                        await conn.receive()
                        try:
                            await conn.receive()
                        except anyio.get_cancelled_exc_class():
                            came_out += 1
                            raise
                assert scope.cancelled_caught
    assert came_out == len(transports)
    await leftovers.assert_none()


@pytest.mark.parametrize("peer", ["bundled", "websockets"])
async def test_cancel_a_close_the_peer_never_answers(peer: str, anyio_backend_name: str) -> None:
    # The close is shielded and bounded by close_timeout: the cancel is honoured once it ends,
    # and comes out as itself.
    leftovers = Leftovers(anyio_backend_name)
    with anyio.fail_after(30):
        async with serving(peer, [("send", HELLO), ("stop_reading", 2.0)], [StallAfter(1)]) as url:
            for transport in client_transports(anyio_backend_name):
                left = 0.0
                conn: Any = None
                with anyio.CancelScope() as scope:
                    async with open_realtime(
                        model="m",
                        websocket_base_url=url,
                        api_key="k",
                        ping_interval=None,
                        close_timeout=0.5,
                        transport=transport,
                    ) as conn:
                        await conn.receive()
                        scope.deadline = anyio.current_time() + 0.1
                        left = anyio.current_time()
                assert scope.cancelled_caught
                assert anyio.current_time() - left < 0.5 + 1.5
                assert conn.closed
    await leftovers.assert_none()


# -- 10,000 connect/close cycles -------------------------------------------------------------------

CYCLES = 10_000
WARM_UP = 1_000
#: Connections cycling at once: the client's CPU, not the round trips, sets the pace.
WORKERS = 4


@contextmanager
def hello_server_process() -> Iterator[str]:
    """A bare server in its own process (``python tests/peers.py``) that greets each
    connection with ``session.created``: this process then holds only the client's memory and
    file descriptors, and the server runs on the other core."""
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).parent / "peers.py")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        yield f"ws://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        server.wait(10)
        assert server.stdout is not None
        server.stdout.close()


async def test_10000_connect_close_cycles_keep_memory_and_fds_flat() -> None:
    # Memory: the interpreter's count of allocated blocks (cheap enough to leave the loop at
    # full speed, unlike tracemalloc); one object leaked per cycle would add 10,000.
    async def cycles(url: str, count: int) -> None:
        async def worker() -> None:
            for _ in range(count // WORKERS):
                async with open_realtime(
                    model="m", websocket_base_url=url, api_key="k", ping_interval=None
                ) as conn:
                    assert not conn.closed

        async with anyio.create_task_group() as tg:
            for _ in range(WORKERS):
                tg.start_soon(worker)

    def settled() -> tuple[int, int]:
        gc.collect()
        return sys.getallocatedblocks(), fd_count()

    with anyio.fail_after(300), hello_server_process() as url:
        await cycles(url, WARM_UP)  # caches, lazily built decoders, free lists
        blocks, fds = settled()
        await cycles(url, CYCLES - WARM_UP)
        blocks_after, fds_after = settled()
    assert fds_after == fds
    assert blocks_after - blocks < 2_000, (blocks, blocks_after)


# -- the docs table and the tests agree ------------------------------------------------------------


def test_every_test_named_in_the_fault_table_exists() -> None:
    page = (ROOT / "docs" / "faults.md").read_text()
    named = re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", page)
    assert len(named) > 20
    missing = []
    for path, name in named:
        source = (ROOT / path).read_text() if (ROOT / path).exists() else ""
        if not re.search(rf"^(async )?def {name}\(", source, re.MULTILINE):
            missing.append(f"{path}::{name}")
    assert missing == []
