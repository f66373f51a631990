"""Credentials never leave the transport: not in logs at DEBUG level, not in exceptions.

The ``websockets`` protocol logs every handshake header at DEBUG level; the transport gives it
a logger that takes credentials out. Header values HTTP cannot carry are refused before
connecting, with the project's own error and without the value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import pytest

from realtime_anyio import APIConnectionError, AuthenticationError, LocalProtocolError
from realtime_anyio.testing import FakeRealtimeServer
from realtime_anyio.transport import ConnectRequest, connect_websocket
from realtime_anyio.transport._websocket import RedactingLogger, check_headers, header_secrets

KEY = "sk-proj-SECRETkey1234567890"
SUBPROTOCOL_KEY = "sk-SUBPROTOCOLsecret987"


def _headers(key: str = KEY) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {key}",
        "api-key": key,
        "Sec-WebSocket-Protocol": f"realtime, openai-insecure-api-key.{SUBPROTOCOL_KEY}",
    }


def _assert_clean(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "nothing was logged: DEBUG logging is not on"
    for record in caplog.records:
        line = record.getMessage()
        assert KEY not in line and SUBPROTOCOL_KEY not in line, line
        assert "SECRET" not in line, line
    assert KEY not in caplog.text
    assert SUBPROTOCOL_KEY not in caplog.text


async def test_no_secret_in_debug_logs_of_a_whole_session(
    realtime_server: FakeRealtimeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(10):
        transport = await connect_websocket(
            ConnectRequest(url=f"{realtime_server.url}/realtime?model=m", headers=_headers())
        )
        message = await transport.receive()
        assert b"session.created" in bytes(message.data)
        await transport.send_text(b'{"type":"input_audio_buffer.clear"}')
        await transport.receive()
        await transport.aclose()
    _assert_clean(caplog)
    # The headers were logged, with their values taken out (client and fake server).
    assert "> Authorization: <redacted>" in caplog.text
    assert "< Authorization: <redacted>" in caplog.text
    assert "openai-insecure-api-key.<redacted>" in caplog.text


@asynccontextmanager
async def raw_peer(answer: Callable[[bytes], bytes]) -> AsyncIterator[int]:
    """Reads the request head, writes ``answer(head)`` and closes."""

    async def handle(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            head = b""
            while b"\r\n\r\n" not in head:
                head += await stream.receive()
            await stream.send(answer(head))

    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(listener.serve, handle)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.cancel_scope.cancel()


def _refusal(head: bytes) -> bytes:
    message = f"Incorrect API key provided: {KEY}. You can find your API key in your account."
    body = json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_api_key"}}
    ).encode()
    return (
        b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nX-Echo: %s\r\n\r\n%s" % (len(body), KEY.encode(), body)
    )


def _garbage(head: bytes) -> bytes:
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: wrong\r\nX-Key: " + KEY.encode() + b"\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("answer", "error"),
    [(_refusal, AuthenticationError), (_garbage, APIConnectionError)],
    ids=["401-echoing-the-key", "not-an-upgrade"],
)
async def test_no_secret_in_logs_or_errors_of_failed_handshakes(
    caplog: pytest.LogCaptureFixture,
    answer: Callable[[bytes], bytes],
    error: type[Exception],
) -> None:
    caplog.set_level(logging.DEBUG)
    with anyio.fail_after(10):
        async with raw_peer(answer) as port:
            with pytest.raises(error) as info:
                await connect_websocket(
                    ConnectRequest(url=f"ws://127.0.0.1:{port}/v1/realtime", headers=_headers())
                )
    for text in (str(info.value), repr(info.value), str(info.value.__cause__)):
        assert KEY not in text
    _assert_clean(caplog)


@pytest.mark.parametrize("bad", ["\n", "\r", "\r\n", "\x00", "\nX-Injected: 1"])
async def test_a_header_value_http_cannot_carry_is_refused_before_connecting(bad: str) -> None:
    with anyio.fail_after(5), pytest.raises(LocalProtocolError) as info:
        # Nothing listens on port 9: the check comes first, so this is not a connect error.
        await connect_websocket(
            ConnectRequest(url="ws://127.0.0.1:9/v1/realtime", headers=_headers(KEY + bad))
        )
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value)
    assert "Authorization" in str(info.value)


def test_every_credential_form_counts_as_a_secret() -> None:
    assert set(header_secrets(_headers())) == {f"Bearer {KEY}", KEY, SUBPROTOCOL_KEY}


def test_header_names_are_checked_too() -> None:
    with pytest.raises(LocalProtocolError):
        check_headers({"Bad Name": "x"})
    with pytest.raises(LocalProtocolError):
        check_headers({"X-A\r\nX-B": "x"})
    check_headers({"OpenAI-Beta": "realtime=v1", "X-Tab": "a\tb", "X-Utf8": "é"})


def test_the_redacting_logger_scrubs_every_form(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    log = RedactingLogger(logging.getLogger("websockets.client"), [KEY])
    log.debug("> %s: %s", "Authorization", f"Bearer {KEY}")
    log.debug("> %s: %s", "api-key", "azure-key-value")
    log.debug("> Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.%s", SUBPROTOCOL_KEY)
    log.info("the key %s appears in free text", KEY)
    log.debug("a bad format %s %s", "only one")
    assert "azure-key-value" not in caplog.text
    _assert_clean(caplog)
    assert caplog.text.count("<redacted>") == 4
