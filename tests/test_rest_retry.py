"""Pure retry logic: which answers are retried, how Retry-After is read, how backoff grows."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from realtime_anyio.rest._retry import (
    backoff_delay,
    retry_after,
    status_is_retryable,
    status_proves_not_processed,
)

NOW = 1_760_000_000.0


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 599])
def test_transient_statuses(status: int) -> None:
    assert status_is_retryable(status, {})


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_permanent_statuses(status: int) -> None:
    assert not status_is_retryable(status, {})


def test_should_retry_header_overrides() -> None:
    assert not status_is_retryable(503, {"x-should-retry": "false"})
    assert status_is_retryable(400, {"x-should-retry": "true"})
    assert status_is_retryable(503, {"x-should-retry": "maybe"})


def test_only_refusals_prove_nothing_happened() -> None:
    assert status_proves_not_processed(429, {})
    assert status_proves_not_processed(408, {})
    for status in (409, 500, 502, 503, 504):
        assert not status_proves_not_processed(status, {})
    assert status_proves_not_processed(503, {"x-should-retry": "true"})
    assert not status_proves_not_processed(429, {"x-should-retry": "false"})


def test_retry_after_seconds() -> None:
    assert retry_after({"retry-after": "2"}, now=NOW) == 2.0
    assert retry_after({"retry-after": " 0.25 "}, now=NOW) == 0.25
    assert retry_after({"retry-after": "-3"}, now=NOW) == 0.0


def test_retry_after_http_date() -> None:
    when = datetime.fromtimestamp(NOW + 7, tz=timezone.utc)
    header = format_datetime(when, usegmt=True)
    assert retry_after({"retry-after": header}, now=NOW) == pytest.approx(7.0)
    past = format_datetime(datetime.fromtimestamp(NOW - 60, tz=timezone.utc), usegmt=True)
    assert retry_after({"retry-after": past}, now=NOW) == 0.0


def test_retry_after_ms_wins() -> None:
    headers = {"retry-after-ms": "150", "retry-after": "9"}
    assert retry_after(headers, now=NOW) == pytest.approx(0.15)


@pytest.mark.parametrize(
    "headers",
    [{}, {"retry-after": "soon"}, {"retry-after": "nan"}, {"retry-after": "inf"}],
)
def test_retry_after_absent_or_unreadable(headers: dict[str, str]) -> None:
    assert retry_after(headers, now=NOW) is None


def test_bad_retry_after_ms_falls_back_to_retry_after() -> None:
    assert retry_after({"retry-after-ms": "x", "retry-after": "1"}, now=NOW) == 1.0


def test_backoff_grows_and_is_capped() -> None:
    top = [backoff_delay(n, random_fraction=lambda: 1.0) for n in range(8)]
    assert top == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    bottom = [backoff_delay(n, random_fraction=lambda: 0.0) for n in range(3)]
    assert bottom == [0.125, 0.25, 0.5]
    assert backoff_delay(10_000, random_fraction=lambda: 1.0) == 8.0


def test_backoff_is_jittered() -> None:
    delays = {backoff_delay(2) for _ in range(50)}
    assert len(delays) > 1
    assert all(0.5 <= d <= 2.0 for d in delays)


def test_public_exports() -> None:
    import realtime_anyio.rest as rest
    import realtime_anyio.webhooks as webhooks

    for module in (rest, webhooks):
        for name in module.__all__:
            assert getattr(module, name) is not None, name
    public = {n for n in vars(rest) if n.isidentifier() and not n.startswith("_")}
    assert set(rest.__all__) == public - {"annotations"}
