"""The fake server's handshake checks, limits, injected faults, REST side and life cycle."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import anyio
import httpx
import pytest
from test_server_helpers import connect, user_text, ws_url

from realtime_anyio import (
    APIStatusError,
    ConnectionClosed,
    ConnectionLost,
    ConnectTimeout,
    NotFoundError,
)
from realtime_anyio.testing import (
    CloseAfter,
    DelayEvents,
    DelayHandshake,
    DropAfter,
    FakeRealtimeServer,
    RefuseHandshake,
    SendFrame,
    SendMalformed,
    SendOversized,
    StallAfter,
)
from realtime_anyio.transport import ConnectRequest, connect_websocket

KEY = "sk-test-0123456789abcdefWXYZ"


async def expect_close(wire_recv: Callable[[], Awaitable[object]]) -> ConnectionClosed:
    with pytest.raises(ConnectionClosed) as caught:
        while True:
            await wire_recv()
    return caught.value


async def test_wrong_key_gets_invalid_api_key_and_close_3000() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer(api_key=KEY) as server:
            headers = {"Authorization": "Bearer sk-wrong-key-1234AAAA"}
            async with connect(server, headers=headers, created=False) as wire:
                event = await wire.recv()
                assert event["type"] == "error"
                assert event["error"] == {
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                    "message": "Incorrect API key provided: sk-\u2026AAAA. You can find your API "
                    "key at https://platform.openai.com/account/api-keys.",
                    "param": None,
                    "event_id": None,
                }
                closed = await expect_close(wire.recv)
                assert (closed.code, closed.reason) == (
                    3000,
                    "invalid_request_error.invalid_api_key",
                )
            async with connect(server, headers={}, created=False) as wire:
                error = await wire.error()
                assert error["code"] is None
                assert error["message"] == "Missing bearer or basic authentication in header"
                closed = await expect_close(wire.recv)
                assert (closed.code, closed.reason) == (3000, "invalid_request_error")
            # The right key, as a bearer token or Azure's api-key header.
            async with connect(server, headers={"Authorization": f"Bearer {KEY}"}):
                pass
            async with connect(server, headers={"api-key": KEY}):
                pass


async def test_model_checks_close_4000() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer(models={"gpt-realtime"}) as server:
            async with connect(server, query="model=gpt-nope", created=False) as wire:
                error = await wire.error()
                assert error["code"] == "invalid_model"
                assert error["message"] == 'Model "gpt-nope" is not supported in realtime mode.'
                closed = await expect_close(wire.recv)
                assert (closed.code, closed.reason) == (4000, "invalid_request_error.invalid_model")
            async with connect(server, query="", created=False) as wire:
                assert (await wire.error())["code"] == "missing_model"
                assert (await expect_close(wire.recv)).code == 4000
        async with (
            FakeRealtimeServer(models=lambda name: name.startswith("gpt-")) as server,
            connect(server, query="model=gpt-anything"),
        ):
            pass


async def test_beta_header_is_refused() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server:
            headers = {"Authorization": "Bearer sk-x", "OpenAI-Beta": "realtime=v1"}
            async with connect(server, headers=headers, created=False) as wire:
                error = await wire.error()
                assert error["code"] == "beta_api_shape_disabled"
                assert error["message"] == (
                    "The Realtime Beta API is no longer supported. Please use /v1/realtime for "
                    "the GA API."
                )
                closed = await expect_close(wire.recv)
                assert closed.reason == "invalid_request_error.beta_api_shape_disabled"


async def test_unknown_call_id_is_refused_with_404() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server:
            request = ConnectRequest(
                url=ws_url(server, "call_id=rtc_unknown"), headers={"Authorization": "Bearer k"}
            )
            with pytest.raises(NotFoundError) as caught:
                await connect_websocket(request)
            assert caught.value.status_code == 404 and caught.value.body is None


async def test_session_expiry_closes_1001() -> None:
    with anyio.fail_after(5):
        async with (
            FakeRealtimeServer(session_duration=0.3) as server,
            connect(server, created=False) as wire,
        ):
            expires_at = (await wire.recv())["session"]["expires_at"]
            assert isinstance(expires_at, int)
            error = await wire.error()
            assert error["code"] == "session_expired"
            assert error["message"] == "Your session hit the maximum duration of 0.3 seconds."
            closed = await expect_close(wire.recv)
            assert (closed.code, closed.reason) == (1001, error["message"])


async def test_server_pings_and_client_pongs() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer(ping_interval=0.05) as server, connect(server) as wire:
            # Pongs go out while the client reads.
            while server.pongs_received < 2:
                await wire.quiet(0.05)


async def test_close_after_events() -> None:
    with anyio.fail_after(5):
        async with (
            FakeRealtimeServer(faults=[CloseAfter(1, 1011, "boom")]) as server,
            connect(server) as wire,
        ):
            closed = await expect_close(wire.recv)
            assert (closed.code, closed.reason) == (1011, "boom")


async def test_drop_without_close_frame() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server:
            server.inject(DropAfter(1))
            async with connect(server) as wire:
                await wire.send({"type": "conversation.item.create", "item": user_text("hi")})
                with pytest.raises(ConnectionLost) as caught:
                    while True:
                        await wire.recv()
                assert caught.value.code == 1006
            # One-off: the next connection is healthy.
            async with connect(server) as wire:
                await wire.send({"type": "conversation.item.create", "item": user_text("hi")})
                await wire.until("conversation.item.done")


async def test_stall_stops_reading_and_writing() -> None:
    with anyio.fail_after(5):
        async with (
            FakeRealtimeServer(faults=[StallAfter(1)], close_timeout=0.3) as server,
            connect(server) as wire,
        ):
            await wire.send({"type": "conversation.item.create", "item": user_text("hi")})
            assert await wire.quiet(0.2) == []
            with anyio.move_on_after(0.2) as scope:
                await wire.transport.ping()
            assert scope.cancelled_caught, "a stalled server answered a ping"
        async with (
            FakeRealtimeServer(faults=[StallAfter(1, seconds=0.2)]) as server,
            connect(server) as wire,
        ):
            await wire.send({"type": "conversation.item.create", "item": user_text("hi")})
            await wire.until("conversation.item.done")


async def test_delay_events() -> None:
    with anyio.fail_after(5):
        async with (
            FakeRealtimeServer(faults=[DelayEvents(0.2, after=1)]) as server,
            connect(server) as wire,
        ):
            start = anyio.current_time()
            await wire.send({"type": "conversation.item.create", "item": user_text("hi")})
            await wire.until("conversation.item.done")
            assert anyio.current_time() - start >= 0.4


async def test_malformed_and_oversized_frames() -> None:
    with anyio.fail_after(5):
        async with (
            FakeRealtimeServer(faults=[SendMalformed(after=1, data="{broken")]) as server,
            connect(server) as wire,
        ):
            message = await wire.transport.receive()
            assert bytes(message.data) == b"{broken"
        async with FakeRealtimeServer(faults=[SendOversized(after=1)]) as server:
            async with connect(server, max_message_size=1024 * 1024) as wire:
                closed = await expect_close(wire.recv)
                assert closed.code == 1009
            async with connect(server) as wire:
                message = await wire.transport.receive()
                event = json.loads(bytes(message.data))
                assert event["type"] == "response.output_audio.delta"
                assert len(message.data) >= 2 * 1024 * 1024 - 8


async def test_raw_text_and_binary_frames() -> None:
    with anyio.fail_after(5):
        faults = [SendFrame(after=1, data=b'{"a": "\xff"}'), SendFrame(1, b"\x00", binary=True)]
        async with FakeRealtimeServer(faults=faults) as server, connect(server) as wire:
            text = await wire.transport.receive()
            assert (bytes(text.data), text.text) == (b'{"a": "\xff"}', True)
            binary = await wire.transport.receive()
            assert (bytes(binary.data), binary.text) == (b"\x00", False)


async def test_refused_and_slow_handshakes() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server:
            server.inject(
                RefuseHandshake(429, b'{"error": {"message": "slow down", "code": "rate"}}')
            )
            request = ConnectRequest(url=ws_url(server), headers={"Authorization": "Bearer k"})
            with pytest.raises(APIStatusError) as caught:
                await connect_websocket(request)
            assert caught.value.status_code == 429 and caught.value.message == "slow down"

            server.inject(DelayHandshake(10))
            slow = ConnectRequest(
                url=ws_url(server), headers={"Authorization": "Bearer k"}, connect_timeout=0.2
            )
            with pytest.raises(ConnectTimeout):
                await connect_websocket(slow)


async def test_concurrent_connections() -> None:
    async def one(server: FakeRealtimeServer, index: int) -> None:
        async with connect(server) as wire:
            await wire.send(
                {
                    "type": "session.update",
                    "session": {"type": "realtime", "output_modalities": ["text"]},
                }
            )
            await wire.send({"type": "conversation.item.create", "item": user_text(f"n{index}")})
            await wire.send({"type": "response.create"})
            done = await wire.until("response.done")
            assert done["response"]["output"][0]["content"][0]["text"] == f"You said: n{index}"

    with anyio.fail_after(10):
        async with FakeRealtimeServer() as server:
            async with anyio.create_task_group() as tg:
                for index in range(8):
                    tg.start_soon(one, server, index)
            assert len(server.sessions) == 8
            assert len({s.session["id"] for s in server.sessions}) == 8


async def test_shutdown_closes_connected_clients() -> None:
    with anyio.fail_after(5):
        request_holder: list[object] = []
        async with FakeRealtimeServer(close_timeout=0.3) as server:
            transport = await connect_websocket(
                ConnectRequest(url=ws_url(server), headers={"Authorization": "Bearer k"})
            )
            request_holder.append(transport)
        try:
            with pytest.raises(ConnectionClosed) as caught:
                while True:
                    await transport.receive()
            assert caught.value.code in (1001, 1006)
        finally:
            await transport.aclose()


async def test_user_errors_are_not_wrapped() -> None:
    with anyio.fail_after(5), pytest.raises(KeyError):
        async with FakeRealtimeServer():
            raise KeyError("mine")


async def test_rest_on_the_same_port_and_client_secret_sessions() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer(api_key=KEY) as server:
            async with httpx.AsyncClient(base_url=server.http_url, trust_env=False) as http:
                response = await http.post(
                    "/realtime/client_secrets",
                    headers={"Authorization": f"Bearer {KEY}"},
                    json={
                        "session": {
                            "type": "realtime",
                            "model": "gpt-realtime-mini",
                            "instructions": "You are a pirate.",
                        }
                    },
                )
                assert response.status_code == 200, response.text
                secret = response.json()["value"]
                assert secret.startswith("ek_")
                missing = await http.get("/nothing-here")
                assert missing.status_code == 404
            async with connect(
                server, query="", headers={"Authorization": f"Bearer {secret}"}, created=False
            ) as wire:
                session = (await wire.recv())["session"]
                assert session["model"] == "gpt-realtime-mini"
                assert session["instructions"] == "You are a pirate."


async def test_sideband_connection_to_an_accepted_call() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server:
            call_id = await server.rest.simulate_incoming_call()
            async with httpx.AsyncClient(base_url=server.http_url, trust_env=False) as http:
                response = await http.post(
                    f"/realtime/calls/{call_id}/accept",
                    headers={"Authorization": "Bearer k"},
                    json={"type": "realtime", "model": "gpt-realtime", "instructions": "Hi."},
                )
                assert response.status_code == 200, response.text
            async with connect(server, query=f"call_id={call_id}", created=False) as wire:
                server.script.reply_text("Hello caller.")
                await wire.send({"type": "response.create"})
                events = await wire.collect("output_audio_buffer.stopped")
                names = [e["type"] for e in events]
                # No session.created and no audio deltas on a side band; the buffer events
                # use the short hex ids.
                assert "session.created" not in names
                assert "response.output_audio.delta" not in names
                assert names.index("output_audio_buffer.started") < names.index("response.done")
                assert names[-2:] == ["rate_limits.updated", "output_audio_buffer.stopped"]
                stopped = events[-1]
                assert len(stopped["event_id"]) == len("event_") + 16
                assert server.sessions[0].session["id"].startswith("sess_u0_")
                assert server.sessions[0].session["instructions"] == "Hi."
                server.rest.end_call(call_id)
                closed = await expect_close(wire.recv)
                assert closed.code == 1000


async def test_client_vanishing_mid_response_leaves_the_server_healthy() -> None:
    with anyio.fail_after(10):
        async with FakeRealtimeServer(pacing="realtime") as server:
            server.script.reply_text("A long answer that will never be heard by anyone at all.")
            async with connect(server) as wire:
                await wire.send({"type": "response.create"})
                await wire.until("response.output_audio.delta")
                await wire.transport.abort()
                with pytest.raises(ConnectionClosed):
                    await wire.recv()
            await server.sessions[0].closed.wait()
            async with connect(server) as wire:
                await wire.send({"type": "conversation.item.create", "item": user_text("hi")})
                await wire.until("conversation.item.done")


async def test_http_keep_alive_and_bad_requests() -> None:
    with anyio.fail_after(5):
        async with FakeRealtimeServer() as server:
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            async with stream:
                request = (
                    b"POST /v1/realtime/calls/rtc_x/hangup HTTP/1.1\r\nHost: x\r\n"
                    b"Authorization: Bearer k\r\nContent-Length: 0\r\n\r\n"
                )
                await stream.send(request + request)
                received = b""
                while received.count(b"HTTP/1.1 ") < 2:
                    received += await stream.receive()
                assert received.startswith(b"HTTP/1.1 404 ")
            stream = await anyio.connect_tcp("127.0.0.1", server.port)
            async with stream:
                await stream.send(b"NONSENSE\r\n\r\n")
                assert (await stream.receive()).startswith(b"HTTP/1.1 400 ")
            # A WebSocket upgrade outside /realtime is not found.
            request_ = ConnectRequest(
                url=f"ws://127.0.0.1:{server.port}/v1/other", headers={"Authorization": "k"}
            )
            with pytest.raises(NotFoundError):
                await connect_websocket(request_)
