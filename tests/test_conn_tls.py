"""Leaving the block over ``wss://`` is bounded whatever the peer does, and the body's own
exception always comes out as itself.

The peers are written here from the ``websockets`` Sans-I/O server protocol over anyio's TLS
listener on 127.0.0.1, with a ``trustme`` test CA: one that answers the close, one that reads
but never answers it, one that stops reading altogether (our send buffers fill), and one that
drops TCP.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest
import trustme
from anyio.streams.tls import TLSListener
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol

from realtime_anyio import ConnectionClosed, open_realtime
from realtime_anyio.events import InputAudioBufferAppend

CLOSE_TIMEOUT = 0.5
#: What leaving the block may take beyond close_timeout: the abort, scheduling, a slow CI.
SLACK = 1.5
HELLO = json.dumps(
    {"type": "session.created", "event_id": "e1", "session": {"type": "realtime", "id": "s"}}
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


Behaviour = Callable[[anyio.abc.ByteStream, ServerProtocol], Any]


async def _flush(stream: anyio.abc.ByteStream, protocol: ServerProtocol) -> None:
    for data in protocol.data_to_send():
        if data:
            await stream.send(data)


async def answers(stream: anyio.abc.ByteStream, protocol: ServerProtocol) -> None:
    while True:
        data = await stream.receive()
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
                await _flush(stream, protocol)
                await stream.aclose()
                return
        await _flush(stream, protocol)


async def never_answers(stream: anyio.abc.ByteStream, protocol: ServerProtocol) -> None:
    while True:
        await stream.receive()


async def stops_reading(stream: anyio.abc.ByteStream, protocol: ServerProtocol) -> None:
    await anyio.sleep_forever()


async def drops_tcp(stream: anyio.abc.ByteStream, protocol: ServerProtocol) -> None:
    await anyio.sleep(0.05)
    await anyio.aclose_forcefully(stream)


@asynccontextmanager
async def tls_peer(ca: trustme.CA, behaviour: Behaviour) -> AsyncIterator[str]:
    """A wss:// peer on 127.0.0.1; yields its base URL."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    listener = TLSListener(tcp, server_context, standard_compatible=False)
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(stream: anyio.abc.ByteStream) -> None:
        protocol = ServerProtocol()
        try:
            request = None
            while request is None:
                protocol.receive_data(await stream.receive())
                for event in protocol.events_received():
                    request = event
            protocol.send_response(protocol.accept(request))  # type: ignore[arg-type]
            protocol.send_text(HELLO.encode())
            await _flush(stream, protocol)
            await behaviour(stream, protocol)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            await anyio.aclose_forcefully(stream)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield f"wss://127.0.0.1:{port}/v1"
        finally:
            tg.cancel_scope.cancel()


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


class BodyError(Exception):
    pass


@pytest.mark.parametrize("behaviour", [answers, never_answers, stops_reading, drops_tcp])
async def test_the_body_exception_wins_and_the_exit_is_bounded(
    ca: trustme.CA, behaviour: Behaviour
) -> None:
    audio = InputAudioBufferAppend(audio=bytes(48000))  # 1 s of audio: fills buffers fast
    with anyio.fail_after(15):
        async with tls_peer(ca, behaviour) as url:
            exited = 0.0
            with pytest.raises(BodyError):
                async with open_realtime(
                    model="m",
                    api_key="sk-tls",
                    websocket_base_url=url,
                    ssl_context=client_context(ca),
                    close_timeout=CLOSE_TIMEOUT,
                    ping_interval=None,
                ) as conn:
                    await conn.receive()
                    if behaviour is stops_reading:
                        # Fill the peer's receive window and our own send buffers.
                        # (the transport's write bound may end the connection first)
                        with anyio.move_on_after(1.0), contextlib.suppress(ConnectionClosed):
                            while True:
                                await conn.send(audio)
                    exited = anyio.current_time()
                    raise BodyError
            assert anyio.current_time() - exited < CLOSE_TIMEOUT + SLACK


@pytest.mark.parametrize("behaviour", [answers, never_answers, stops_reading])
async def test_a_normal_exit_is_bounded_over_tls(ca: trustme.CA, behaviour: Behaviour) -> None:
    with anyio.fail_after(15):
        async with tls_peer(ca, behaviour) as url:
            start = 0.0
            try:
                async with open_realtime(
                    model="m",
                    api_key="sk-tls",
                    websocket_base_url=url,
                    ssl_context=client_context(ca),
                    close_timeout=CLOSE_TIMEOUT,
                    ping_interval=None,
                ) as conn:
                    await conn.receive()
                    await conn.send(InputAudioBufferAppend(audio=bytes(960)))
                    start = anyio.current_time()
            except ConnectionClosed as exc:
                # Only a peer that never reads can leave accepted frames unwritten.
                assert behaviour is stops_reading and exc.unsent
            assert anyio.current_time() - start < CLOSE_TIMEOUT + SLACK
