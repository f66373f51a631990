"""Cancellation checks for code that returns buffered data without waiting.

What remains of an earlier speed-up that read anyio's and asyncio's internals: the same
interface, now answered with anyio's public API only. ``cancel_probe()`` always answers "maybe"
and the checkpoint is :func:`anyio.lowlevel.checkpoint_if_cancelled`, so
``if check.probe(): await check.checkpoint()`` raises promptly when the caller is cancelled.
New code should simply ``await anyio.lowlevel.checkpoint()``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio.lowlevel

__all__ = ["CancelCheck", "cancel_checker", "cancel_probe"]


def cancel_checker() -> Callable[[], Awaitable[None]]:
    """anyio's ``checkpoint_if_cancelled``."""
    return anyio.lowlevel.checkpoint_if_cancelled


def _always() -> bool:
    return True


def cancel_probe() -> Callable[[], bool]:
    """A synchronous "is a cancel perhaps pending?": always "maybe" (no public API answers it
    without awaiting)."""
    return _always


class CancelCheck:
    """``if check.probe(): await check.checkpoint()``: a prompt cancellation check."""

    __slots__ = ("checkpoint", "probe")

    def __init__(self) -> None:
        self.probe: Callable[[], bool] = _always
        self.checkpoint: Callable[[], Awaitable[None]] = anyio.lowlevel.checkpoint_if_cancelled
