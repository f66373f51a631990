"""The fake session's protocol machine on its own: plain synchronous tests, no sockets, no loop.

A small synchronous driver performs the machine's effects by hand: sends are collected, pacing
is instant (and recorded), streams a frame spawned run once the frame is handled, and the script
is asked for replies without an event loop (a queued reply or a plain responder never awaits).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Coroutine
from typing import Any

import pytest

from realtime_anyio.testing import Reply, Script, TurnContext
from realtime_anyio.testing._audio import silence, speech
from realtime_anyio.testing._core import ConnectInfo, LinkClosed, SessionOptions
from realtime_anyio.testing._effects import (
    Checkpoint,
    Close,
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
from realtime_anyio.testing._ids import IdFactory
from realtime_anyio.testing._machine import SessionMachine


def _finish_now(coroutine: Coroutine[Any, Any, Reply]) -> Reply:
    """Run a coroutine that completes without suspending (no event loop needed)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        reply: Reply = done.value
        return reply
    coroutine.close()
    raise AssertionError("the responder suspended; these tests use queued replies")


class Driver:
    """Performs a machine's effects synchronously and records them."""

    def __init__(self, machine: SessionMachine) -> None:
        self.machine = machine
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self.effects: list[Effect] = []
        self.pending: list[Spawn] = []

    def run(self, steps: Steps[Any]) -> Any:
        result: Any = None
        error: Exception | None = None
        while True:
            try:
                effect = steps.send(result) if error is None else steps.throw(error)
            except StopIteration as stop:
                return stop.value
            result, error = None, None
            try:
                result = self.perform(effect)
            except Exception as exc:
                error = exc

    def perform(self, effect: Effect) -> Any:
        self.effects.append(effect)
        if isinstance(effect, Send):
            self.sent.append(json.loads(effect.data))
        elif isinstance(effect, Close):
            self.closed = (effect.code, effect.reason)
        elif isinstance(effect, Now):
            return 0.0
        elif isinstance(effect, Spawn):
            self.pending.append(effect)
        elif isinstance(effect, Interrupt):
            for spawn in list(self.pending):
                if spawn.response_id == effect.response_id:
                    self.pending.remove(spawn)
                    self.run(spawn.steps)
        elif isinstance(effect, NextReply):
            return _finish_now(self.machine.script.next_reply(effect.context))
        else:
            assert isinstance(effect, (Received, Checkpoint, Sleep, Pace, PaceAudio))
        return None

    def settle(self) -> None:
        while self.pending:
            self.run(self.pending.pop(0).steps)

    def open(self) -> bool:
        going_on: bool = self.run(self.machine.open())
        return going_on

    def send(self, event: dict[str, Any] | str | bytes) -> list[dict[str, Any]]:
        """Hand one frame to the machine, let what it spawned finish; the events it caused."""
        start = len(self.sent)
        frame = event if isinstance(event, (str, bytes)) else json.dumps(event)
        self.run(self.machine.receive_frame(frame))
        self.settle()
        return self.sent[start:]


def machine(script: Script | None = None, **options: Any) -> SessionMachine:
    info = options.pop("info", ConnectInfo(model="gpt-realtime"))
    return SessionMachine(
        SessionOptions(script=script or Script(), ids=IdFactory(0), **options), info
    )


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def user_text(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


def test_opening_sends_session_created() -> None:
    driver = Driver(machine())
    assert driver.open() is True
    assert types(driver.sent) == ["session.created"]
    assert driver.sent[0]["session"]["model"] == "gpt-realtime"
    assert driver.closed is None


def test_a_bad_key_is_an_error_and_a_close() -> None:
    driver = Driver(machine(info=ConnectInfo(auth_error=("invalid_api_key", "Incorrect key."))))
    assert driver.open() is False
    assert types(driver.sent) == ["error"]
    assert driver.sent[0]["error"]["code"] == "invalid_api_key"
    assert driver.closed == (3000, "invalid_request_error.invalid_api_key")
    assert driver.machine.close_code == 3000


def test_a_text_turn_in_order() -> None:
    driver = Driver(machine(Script().reply_text("Bonjour !")))
    driver.open()
    assert types(driver.send(user_text("Hi"))) == [
        "conversation.item.added",
        "conversation.item.done",
    ]
    update = {
        "type": "session.update",
        "session": {"type": "realtime", "output_modalities": ["text"]},
    }
    assert types(driver.send(update)) == ["session.updated"]
    events = driver.send({"type": "response.create"})
    assert types(events) == [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "conversation.item.done",
        "response.output_item.done",
        "response.done",
        "rate_limits.updated",
    ]
    assert "".join(e["delta"] for e in events if e["type"].endswith("text.delta")) == "Bonjour !"
    assert events[-2]["response"]["status"] == "completed"
    assert driver.machine.conversation.items[-1]["role"] == "assistant"
    assert driver.machine.received_count("response.create") == 1


def test_fast_pacing_asks_for_no_time_realtime_pacing_does() -> None:
    for pacing, paced in (("fast", False), ("realtime", True)):
        driver = Driver(machine(Script().reply_text("one two three"), pacing=pacing))
        driver.open()
        driver.send({"type": "response.create"})
        timed = [e for e in driver.effects if isinstance(e, (Pace, PaceAudio, Sleep))]
        assert bool(timed) is paced, pacing


def test_bad_frames_are_answered_with_errors() -> None:
    driver = Driver(machine())
    driver.open()
    (binary,) = driver.send(b"\x00")
    assert binary["error"]["code"] == "invalid_event"
    (garbage,) = driver.send("{nope")
    assert garbage["error"]["code"] == "invalid_json"
    (unknown,) = driver.send({"type": "response.bogus", "event_id": "e1"})
    assert unknown["error"]["code"] == "invalid_value"
    assert unknown["error"]["event_id"] == "e1"
    (nothing,) = driver.send({"type": "response.cancel"})
    assert nothing["error"]["code"] == "response_cancel_not_active"
    (short,) = driver.send({"type": "input_audio_buffer.commit"})
    assert short["error"]["code"] == "input_audio_buffer_commit_empty"
    assert driver.closed is None


def test_server_vad_commits_a_spoken_turn_and_answers_it() -> None:
    script = Script().reply_text("Heard you.").transcripts("hello there")
    driver = Driver(machine(script))
    driver.open()
    driver.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
            },
        }
    )
    pcm = silence(0.3) + speech("hello there") + silence(1.0)
    events = driver.send(
        {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
    )
    kinds = types(events)
    assert kinds[:5] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    assert "conversation.item.input_audio_transcription.completed" in kinds
    assert kinds[-2:] == ["response.done", "rate_limits.updated"]
    assert events[0]["audio_start_ms"] < events[1]["audio_end_ms"]


def test_a_responder_that_raises_fails_the_response() -> None:
    def broken(turn: TurnContext) -> str:
        raise RuntimeError("boom")

    driver = Driver(machine(Script().respond_with(broken)))
    driver.open()
    done = [e for e in driver.send({"type": "response.create"}) if e["type"] == "response.done"]
    assert done[0]["response"]["status"] == "failed"
    assert "RuntimeError: boom" in done[0]["response"]["status_details"]["error"]["message"]


def _continue(steps: Steps[None], effect: Effect) -> Steps[None]:
    """``steps``, suspended at ``effect``, as fresh steps to hand back to the driver."""
    while True:
        result = yield effect
        try:
            effect = steps.send(result)
        except StopIteration:
            return


def test_cancelling_a_started_response() -> None:
    driver = Driver(machine(Script().reply_text("a long answer " * 20)))
    driver.open()
    driver.run(driver.machine.receive_frame(json.dumps({"type": "response.create"})))
    (spawn,) = driver.pending
    # Stream until response.created is out (only then can a cancel reach it).
    steps = spawn.steps
    effect = next(steps)
    while not (isinstance(effect, Send) and b"response.created" in effect.data):
        effect = steps.send(driver.perform(effect))
    effect = steps.send(driver.perform(effect))
    driver.pending[0] = Spawn(_continue(steps, effect), spawn.response_id)
    events = driver.send({"type": "response.cancel"})
    done = [e for e in events if e["type"] == "response.done"]
    assert done[0]["response"]["status"] == "cancelled"
    assert done[0]["response"]["status_details"]["reason"] == "client_cancelled"
    assert any(isinstance(e, Interrupt) for e in driver.effects)


def test_session_close_and_expiry() -> None:
    driver = Driver(machine(session_duration=120, clock=lambda: 1000.0))
    driver.open()
    assert driver.machine.expiry_delay() == 120
    driver.run(driver.machine.expire())
    assert driver.sent[-1]["error"]["code"] == "session_expired"
    assert driver.closed == (1001, "Your session hit the maximum duration of 2 minutes.")
    with pytest.raises(LinkClosed):
        driver.send({"type": "session.close"})
    assert driver.closed == (1000, "")
