"""ReconnectPolicy classification and backoff (pure), and backoff timing in virtual time."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
import trio.testing

from realtime_anyio import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ConnectionClosed,
    ConnectionLost,
    ConnectTimeout,
    GaveUp,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Reconnecting,
    ReconnectPolicy,
    RolloverPolicy,
    SessionExpired,
    open_resilient,
)
from realtime_anyio.transport import ConnectRequest, memory_transport_pair

HELLO = json.dumps({"type": "session.created", "session": {"type": "realtime"}})


def _closed(code: int, cause: BaseException | None = None) -> ConnectionClosed:
    exc = ConnectionClosed(code, "x")
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    "error",
    [
        SessionExpired(1001, "Your session hit the maximum duration of 60 minutes."),
        ConnectionLost(1006, "no close frame"),
        _closed(1011),
        _closed(1012),
        _closed(1013),
        ConnectTimeout("slow"),
        APIConnectionError("refused"),
        RateLimitError("slow down", status_code=429),
        InternalServerError("bad gateway", status_code=502),
    ],
    ids=lambda e: type(e).__name__,
)
def test_retryable(error: BaseException) -> None:
    assert ReconnectPolicy().retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        None,
        _closed(1000),
        _closed(3000, AuthenticationError("bad key", close_code=3000)),
        _closed(4000, BadRequestError("bad model", close_code=4000)),
        AuthenticationError("bad key", status_code=401),
        PermissionDeniedError("no", status_code=403),
        NotFoundError("no call", status_code=404),
        BadRequestError("bad", status_code=400),
        ValueError("a bug"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_not_retryable(error: BaseException | None) -> None:
    assert not ReconnectPolicy().retryable(error)


def test_retry_codes_are_configurable() -> None:
    policy = ReconnectPolicy(retry_close_codes=frozenset({1000}), retry_errors=())
    assert policy.retryable(_closed(1000))
    assert not policy.retryable(_closed(1011))
    assert not policy.retryable(APIConnectionError("refused"))


def test_full_jitter_backoff() -> None:
    top = ReconnectPolicy(base_delay=0.5, max_delay=4.0, random=lambda: 1.0)
    assert [top.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert ReconnectPolicy(random=lambda: 0.0).delay(5) == 0.0
    half = ReconnectPolicy(base_delay=1.0, max_delay=100.0, random=lambda: 0.5)
    assert half.delay(3) == 2.0


def test_backoff_runs_on_the_anyio_clock() -> None:
    """Attempts wait 1, 2, 4, 8 s (virtual), then the policy gives up; no sockets involved."""

    async def main() -> None:
        client, peer = memory_transport_pair()
        calls: list[float] = []

        async def factory(request: ConnectRequest) -> Any:
            calls.append(trio.current_time())
            if len(calls) == 1:
                return client
            raise APIConnectionError("connection refused")

        await peer.send_text(HELLO)
        policy = ReconnectPolicy(
            base_delay=1.0, max_delay=8.0, max_attempts=4, deadline=100.0, random=lambda: 1.0
        )
        events: list[Any] = []
        with pytest.raises(APIConnectionError):
            async with open_resilient(
                model="m",
                api_key="k",
                transport=factory,
                ping_interval=None,
                policy=policy,
                rollover=RolloverPolicy(before_expiry=None, warn_before=None),
            ) as conn:
                await conn.receive()
                start = trio.current_time()
                await peer.drop()
                async for event in conn:
                    events.append((trio.current_time() - start, event))
        assert [round(t - calls[1] + 1.0, 3) for t in calls[1:]] == [1.0, 3.0, 7.0, 15.0]
        delays = [e.delay for _, e in events if isinstance(e, Reconnecting)]
        assert delays == [1.0, 2.0, 4.0, 8.0]
        assert isinstance(events[-1][1], GaveUp)
        assert events[-1][0] == pytest.approx(15.0, abs=0.01)
        await peer.aclose()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
