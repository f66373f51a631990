"""Keepalive timing under trio's MockClock (virtual time, no sockets): a pure-timing layer."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from realtime_anyio import ConnectionLost, open_realtime
from realtime_anyio.transport import ConnectRequest, MemoryTransport, memory_transport_pair

HELLO = json.dumps({"type": "session.created", "session": {"type": "realtime"}})


class SilentPeerTransport(MemoryTransport):
    """Pings never come back after ``answer`` pongs: a peer that vanished."""

    answer = 0

    async def ping(self, data: bytes | None = None) -> None:
        if self.answer > 0:
            self.answer -= 1
            await trio.lowlevel.checkpoint()
            return
        await trio.sleep_forever()


def run_virtual(fn: Any) -> None:
    trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def make_pair(answer: int) -> tuple[SilentPeerTransport, Any]:
    client, peer = memory_transport_pair()
    silent = SilentPeerTransport(client._send, client._receive)  # pyright: ignore[reportPrivateUsage]
    silent.answer = answer
    return silent, peer


def test_a_vanished_peer_is_detected_within_interval_plus_timeout() -> None:
    async def main() -> None:
        client, peer = make_pair(answer=2)

        async def factory(request: ConnectRequest) -> Any:
            return client

        await peer.send_text(HELLO)
        start = trio.current_time()
        async with open_realtime(
            model="m", api_key="k", transport=factory, ping_interval=20, ping_timeout=10
        ) as conn:
            await conn.receive()
            with pytest.raises(ConnectionLost, match="pong"):
                await conn.receive()
            # two answered pings (40 s), then 20 s + 10 s for the unanswered one
            assert trio.current_time() - start == pytest.approx(70, abs=0.5)
        await peer.aclose()

    run_virtual(main)


def test_no_keepalive_means_no_pings() -> None:
    async def main() -> None:
        client, peer = make_pair(answer=0)

        async def factory(request: ConnectRequest) -> Any:
            return client

        await peer.send_text(HELLO)
        async with open_realtime(
            model="m", api_key="k", transport=factory, ping_interval=None
        ) as conn:
            await conn.receive()
            with anyio.move_on_after(3600):
                await conn.receive()
            assert not conn.closed
        await peer.aclose()

    run_virtual(main)


def test_a_slow_consumer_is_not_mistaken_for_a_dead_peer() -> None:
    async def main() -> None:
        client, peer = make_pair(answer=0)

        async def factory(request: ConnectRequest) -> Any:
            return client

        await peer.send_text(HELLO)
        for _ in range(10):
            await peer.send_text(json.dumps({"type": "input_audio_buffer.cleared"}))
        async with open_realtime(
            model="m",
            api_key="k",
            transport=factory,
            ping_interval=1,
            ping_timeout=1,
            receive_buffer=2,
        ) as conn:
            await trio.sleep(30)  # the consumer is busy; the reader is stalled on a full buffer
            kinds = [(await conn.receive()).type for _ in range(11)]
            assert kinds[0] == "session.created"
            assert conn.statistics().reader_stalls >= 1
        await peer.aclose()

    run_virtual(main)
