"""A cheaper ``checkpoint_if_cancelled`` for hot paths.

``anyio.lowlevel.checkpoint_if_cancelled()`` looks the running backend up on every call, which
costs more than the check itself when it runs once per received event. ``cancel_checker()``
does that lookup once and returns the backend's own coroutine function; call it from inside
the event loop and keep the result for the loop's lifetime.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio.lowlevel

__all__ = ["cancel_checker"]


def cancel_checker() -> Callable[[], Awaitable[None]]:
    """The running backend's ``checkpoint_if_cancelled`` (anyio's generic one as a fallback)."""
    try:
        from anyio._core._eventloop import (  # pyright: ignore[reportPrivateUsage]
            get_async_backend,
        )

        return get_async_backend().checkpoint_if_cancelled
    except Exception:  # pragma: no cover - a future anyio without this internal
        return anyio.lowlevel.checkpoint_if_cancelled
