"""Matching received events to the requests and waits that expect them; no I/O.

The connection registers a :class:`Pending` for every ``request`` (by the ``event_id`` it sent)
and every ``wait_for``/``expect`` (by a predicate) *before* anything is sent or awaited, then
feeds every received event to :meth:`Correlator.deliver`. This module decides who gets what;
the connection only wakes the waiting tasks (``Pending.wake``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .events import Error

__all__ = ["Correlator", "Pending"]


def _no_wake() -> None:
    pass


class Pending:
    """One registered wait: finished with a ``result`` (an event) or an ``error``."""

    __slots__ = ("done", "error", "event_id", "match", "result", "wake")

    def __init__(
        self,
        match: Callable[[Any], bool],
        event_id: str | None = None,
        wake: Callable[[], None] = _no_wake,
    ) -> None:
        self.match = match
        #: The ``event_id`` of the request this waits for a reply to (``None`` for plain waits).
        self.event_id = event_id
        self.wake = wake
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        self.result = result
        self.error = error
        self.wake()


class Correlator:
    """The registered waits of one connection, oldest first.

    An ``error`` event whose ``error.event_id`` names a request fails that request. Any other
    event finishes every plain wait it matches, and at most one request: the oldest whose
    matcher accepts it (one reply answers one request).
    """

    __slots__ = ("_pending", "_to_error")

    def __init__(self, to_error: Callable[[Error], BaseException]) -> None:
        self._pending: list[Pending] = []
        self._to_error = to_error

    def __len__(self) -> int:
        return len(self._pending)

    def register(self, pending: Pending) -> Pending:
        self._pending.append(pending)
        return pending

    def discard(self, pending: Pending) -> None:
        if pending in self._pending:
            self._pending.remove(pending)

    def deliver(self, event: Any) -> None:
        """Finish the waits that ``event`` answers."""
        pending = self._pending
        if getattr(event, "type", None) == "error":
            target = getattr(event.error, "event_id", None)
            if isinstance(target, str):
                for wait in pending:
                    if wait.event_id == target:
                        pending.remove(wait)
                        wait.finish(error=self._to_error(event))
                        break
        claimed = False
        for wait in list(pending):
            if claimed and wait.event_id is not None:
                continue
            try:
                matched = wait.match(event)
            except Exception as exc:  # a user predicate failed: hand it to that waiter
                pending.remove(wait)
                wait.finish(error=exc)
                continue
            if matched:
                pending.remove(wait)
                wait.finish(result=event)
                claimed = claimed or wait.event_id is not None

    def fail_all(self, error: Callable[[], BaseException]) -> None:
        """Finish every wait with a fresh exception from ``error`` (the connection ended)."""
        pending, self._pending = self._pending, []
        for wait in pending:
            wait.finish(error=error())
