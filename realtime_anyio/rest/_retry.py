"""When to retry a REST request and how long to wait first (pure logic, no I/O).

Two things decide whether a failed attempt is retried:

- **Was the failure transient?** Connection errors and timeouts, and HTTP 408, 409, 429 and 5xx
  are; the server can override with ``x-should-retry: true`` / ``false``.
- **Could a retry act twice?** A request is *safe* to repeat when doing it twice has the same
  effect as doing it once (creating a client secret: a spare secret simply expires; hanging up:
  an ended call stays ended). Other requests (creating a WebRTC call, accepting, rejecting or
  referring a SIP call) are retried only after failures that prove the first attempt never
  reached the service or was refused before acting: the connection could not be opened, no
  pooled connection became free, 408 (the server gave up waiting for our request), 429 (refused
  by the rate limiter), or an explicit ``x-should-retry: true``. A timeout while waiting for the
  answer, a dropped connection or a 5xx may hide a request that was carried out, so those are
  not retried for unsafe requests: the error reaches the caller, who knows what to check.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime

__all__ = [
    "DEFAULT_INITIAL_DELAY",
    "DEFAULT_MAX_DELAY",
    "backoff_delay",
    "retry_after",
    "status_is_retryable",
    "status_proves_not_processed",
]

DEFAULT_INITIAL_DELAY = 0.5
DEFAULT_MAX_DELAY = 8.0

_TRANSIENT = frozenset({408, 409, 429})
_NOT_PROCESSED = frozenset({408, 429})


def _should_retry_header(headers: Mapping[str, str]) -> bool | None:
    value = headers.get("x-should-retry")
    if value is None:
        return None
    value = value.strip().lower()
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def status_is_retryable(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an HTTP error status is transient (``x-should-retry`` wins when present)."""
    override = _should_retry_header(headers)
    if override is not None:
        return override
    return status in _TRANSIENT or status >= 500


def status_proves_not_processed(status: int, headers: Mapping[str, str]) -> bool:
    """Whether the answer shows the request was not carried out, so even an unsafe request
    may be sent again."""
    override = _should_retry_header(headers)
    if override is not None:
        return override
    return status in _NOT_PROCESSED


def retry_after(headers: Mapping[str, str], *, now: float) -> float | None:
    """The delay the server asked for, in seconds: ``retry-after-ms``, else ``Retry-After``
    (seconds or an HTTP date). ``None`` when absent or unreadable; never negative."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis)
        except ValueError:
            value = None
        if value is not None and value == value and value != float("inf"):
            return max(0.0, value / 1000)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        pass
    else:
        if value == value and value != float("inf"):
            return max(0.0, value)
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        return None
    return max(0.0, when.timestamp() - now)


def backoff_delay(
    attempt: int,
    *,
    initial: float = DEFAULT_INITIAL_DELAY,
    maximum: float = DEFAULT_MAX_DELAY,
    random_fraction: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff with jitter before retry number ``attempt`` (0 for the first retry).

    The nominal delay doubles from ``initial`` up to ``maximum``; the actual delay is drawn from
    the upper three quarters of it, so clients that failed together do not retry together.
    """
    nominal = min(maximum, initial * (2.0 ** min(attempt, 30)))
    return nominal * (0.25 + 0.75 * random_fraction())
