"""One Realtime session on the fake server: the async driver of its protocol machine.

:class:`FakeSession` reads client frames from a :class:`Link`, hands them to the session's
:class:`~._machine.SessionMachine` and performs the effects it asks for: frames out, closes,
pacing (scaled by the server's pacing speed), and the concurrent tasks that stream responses and
transcripts. All protocol behaviour is in the machine; this module only does I/O and time. The
server (``_server.py``) supplies the link, which is where faults are injected.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal, Protocol, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel

from ._conversation import Conversation
from ._core import CLIENT_EVENT_TYPES, ConnectInfo, LinkClosed, Pacing, SessionOptions
from ._effects import (
    Checkpoint,
    Effect,
    Interrupt,
    NextReply,
    Now,
    Pace,
    PaceAudio,
    Received,
    Send,
    Sleep,
    Spawn,
    Steps,
)
from ._machine import SessionMachine

__all__ = [
    "CLIENT_EVENT_TYPES",
    "ConnectInfo",
    "FakeSession",
    "Link",
    "LinkClosed",
    "Pacing",
    "SessionOptions",
]

T = TypeVar("T")


class Link(Protocol):
    """The socket side of a session, as the server provides it."""

    async def send(self, data: bytes) -> None:
        """Send one text frame (UTF-8 JSON); once the link is closed, frames are dropped.

        Cancellation: the frame is sent whole or not at all.
        """
        ...

    async def receive(self) -> str | bytes:
        """The next data frame (text as ``str``); raises :class:`LinkClosed` when closed.

        Cancellation: safe; no frame is lost.
        """
        ...

    async def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake with ``code`` and ``reason``.

        Cancellation: safe; the close frame is queued before the first await.
        """
        ...

    async def abort(self) -> None:
        """Drop the TCP connection without a close frame.

        Cancellation: shielded; returns promptly.
        """
        ...


class FakeSession:
    """One connection's Realtime session: its state (the machine's) and its driver.

    Tests reach sessions through ``FakeRealtimeServer.sessions``: ``session`` is the effective
    configuration, ``conversation.items`` the default conversation, ``received`` the client
    events as decoded JSON and ``sent`` the server events (both bounded to the most recent
    ``history`` entries). ``machine`` is the protocol state machine itself.
    """

    def __init__(self, options: SessionOptions, info: ConnectInfo) -> None:
        self.options = options
        self.info = info
        self.machine = SessionMachine(options, info)
        self.closed = anyio.Event()
        self._received_signal = anyio.Event()
        self._link: Link | None = None
        self._tg: anyio.abc.TaskGroup | None = None
        # Per streaming response: woken to cut its pacing short, set when its steps ended.
        self._wakes: dict[str, anyio.Event] = {}
        self._finished: dict[str, anyio.Event] = {}

    # -- the machine's state -------------------------------------------------------------------

    @property
    def session(self) -> dict[str, Any]:
        """The effective session configuration, as the server would send it."""
        return self.machine.session

    @property
    def conversation(self) -> Conversation:
        """The default conversation."""
        return self.machine.conversation

    @property
    def received(self) -> deque[dict[str, Any]]:
        """Client events as decoded JSON, most recent last."""
        return self.machine.received

    @property
    def sent(self) -> deque[dict[str, Any]]:
        """Server events as sent, most recent last."""
        return self.machine.sent

    @property
    def close_code(self) -> int | None:
        """The close code the server sent, if it closed the connection."""
        return self.machine.close_code

    @property
    def kind(self) -> Literal["realtime", "transcription"]:
        """The session type."""
        return self.machine.kind

    @property
    def sideband(self) -> bool:
        """Whether this connection is attached to a call (``call_id``)."""
        return self.machine.sideband

    @property
    def conversation_id(self) -> str:
        """The id of the default conversation."""
        return self.machine.conversation_id

    # -- control from tests -------------------------------------------------------------------

    def received_count(self, kind: str) -> int:
        """How many client events of type ``kind`` arrived so far (valid or not)."""
        return self.machine.received_count(kind)

    async def wait_for_received(self, kind: str, count: int = 1) -> None:
        """Wait until ``count`` client events of type ``kind`` arrived in this session.

        Cancellation: safe.
        """
        while self.received_count(kind) < count:
            await self._received_signal.wait()

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send any server event now (``event_id`` is added); for testing a client's handling
        of events the script cannot produce.

        Cancellation: safe; the event is sent whole or not at all.
        """
        await self._do(self.machine.emit(event))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection from the server side with ``code`` and ``reason``.

        Cancellation: safe.
        """
        await self._do(self.machine.close(code, reason))

    async def drop(self) -> None:
        """Drop the TCP connection without a close frame.

        Cancellation: safe.
        """
        assert self._link is not None
        await self._link.abort()

    # -- running -------------------------------------------------------------------------------

    async def run(self, link: Link) -> None:
        """Serve the session until the client leaves or the session ends.

        Cancellation: safe; the link is left to the caller to close.
        """
        self._link = link
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                if not await self._perform(self.machine.open()):
                    tg.cancel_scope.cancel()
                    return
                tg.start_soon(self._expire)
                if self.info.call_ended is not None:
                    tg.start_soon(self._watch_call, self.info.call_ended)
                try:
                    while True:
                        frame = await link.receive()
                        await self._perform(self.machine.receive_frame(frame))
                except LinkClosed:
                    pass
                tg.cancel_scope.cancel()
        except LinkClosed:
            pass
        finally:
            for finished in self._finished.values():
                finished.set()
            self.closed.set()

    async def _expire(self) -> None:
        await anyio.sleep(self.machine.expiry_delay())
        await self._perform(self.machine.expire())

    async def _watch_call(self, ended: anyio.Event) -> None:
        await ended.wait()
        await self._do(self.machine.close(1000, "call ended"))

    # -- performing effects --------------------------------------------------------------------

    async def _perform(self, steps: Steps[T]) -> T:
        """Run the machine's ``steps`` to the end, performing each effect they yield.

        An effect that fails (a responder that raised, a cancellation) is thrown into the
        steps at the point that asked for it, like an exception from an ``await``.
        """
        result: Any = None
        error: BaseException | None = None
        while True:
            try:
                effect = steps.send(result) if error is None else steps.throw(error)
            except StopIteration as stop:
                value: T = stop.value
                return value
            result, error = None, None
            try:
                result = await self._do(effect)
            except BaseException as exc:
                error = exc

    async def _do(self, effect: Effect) -> Any:
        speed = self.options.pacing_speed
        if isinstance(effect, Send):
            assert self._link is not None
            await self._link.send(effect.data)
        elif isinstance(effect, Received):
            self._received_signal.set()
            self._received_signal = anyio.Event()
        elif isinstance(effect, Checkpoint):
            await anyio.lowlevel.checkpoint()
        elif isinstance(effect, Pace):
            await self._pace(effect.response_id, effect.seconds / speed)
        elif isinstance(effect, PaceAudio):
            due = effect.started + effect.ahead / speed
            await self._pace(effect.response_id, due - anyio.current_time())
        elif isinstance(effect, Now):
            return anyio.current_time()
        elif isinstance(effect, Sleep):
            await anyio.sleep(effect.seconds / speed)
        elif isinstance(effect, Spawn):
            if effect.response_id is not None:
                self._wakes[effect.response_id] = anyio.Event()
                self._finished[effect.response_id] = anyio.Event()
            assert self._tg is not None
            self._tg.start_soon(self._run_spawned, effect.steps, effect.response_id)
        elif isinstance(effect, Interrupt):
            wake = self._wakes.get(effect.response_id)
            finished = self._finished.get(effect.response_id)
            if wake is not None and finished is not None:
                wake.set()
                await finished.wait()
            else:
                await anyio.lowlevel.checkpoint()
        elif isinstance(effect, NextReply):
            return await self.machine.script.next_reply(effect.context)
        else:
            assert self._link is not None
            await self._link.close(effect.code, effect.reason)
        return None

    async def _pace(self, response_id: str, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        wake = self._wakes.get(response_id)
        if wake is None:
            await anyio.sleep(seconds)
            return
        with anyio.move_on_after(seconds):
            await wake.wait()

    async def _run_spawned(self, steps: Steps[None], response_id: str | None) -> None:
        try:
            await self._perform(steps)
        finally:
            if response_id is not None:
                self._wakes.pop(response_id, None)
                finished = self._finished.pop(response_id, None)
                if finished is not None:
                    finished.set()
