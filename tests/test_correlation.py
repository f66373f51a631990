"""The correlator on its own: plain synchronous tests, no event loop, no I/O."""

from __future__ import annotations

import json
from typing import Any

from realtime_anyio._correlation import Correlator, Pending
from realtime_anyio.events import (
    InputAudioBufferCleared,
    SessionUpdated,
    decode_server_event,
)


class Boom(Exception):
    pass


def error_event(event_id: str | None) -> Any:
    body: dict[str, Any] = {
        "type": "error",
        "event_id": "event_e",
        "error": {"type": "invalid_request_error", "code": "x", "message": "no", "param": None},
    }
    body["error"]["event_id"] = event_id
    return decode_server_event(json.dumps(body))


def cleared() -> Any:
    return decode_server_event(b'{"type":"input_audio_buffer.cleared","event_id":"e1"}')


def updated() -> Any:
    return decode_server_event(
        b'{"type":"session.updated","event_id":"e2","session":{"type":"realtime"}}'
    )


def make() -> tuple[Correlator, list[str]]:
    woken: list[str] = []
    return Correlator(lambda event: Boom(event.error.message)), woken


def test_one_reply_answers_the_oldest_matching_request() -> None:
    correlator, woken = make()
    first = correlator.register(
        Pending(lambda e: isinstance(e, InputAudioBufferCleared), "a", lambda: woken.append("a"))
    )
    second = correlator.register(
        Pending(lambda e: isinstance(e, InputAudioBufferCleared), "b", lambda: woken.append("b"))
    )
    correlator.deliver(cleared())
    assert first.done and not second.done and woken == ["a"]
    correlator.deliver(cleared())
    assert second.done and woken == ["a", "b"]
    assert len(correlator) == 0


def test_a_plain_wait_and_a_request_both_see_the_same_event() -> None:
    correlator, _ = make()
    plain = correlator.register(Pending(lambda e: e.type == "input_audio_buffer.cleared"))
    request = correlator.register(Pending(lambda e: e.type == "input_audio_buffer.cleared", "r"))
    event = cleared()
    correlator.deliver(event)
    assert plain.result is event and request.result is event


def test_an_error_naming_the_request_fails_only_that_request() -> None:
    correlator, _ = make()
    mine = correlator.register(Pending(lambda e: isinstance(e, SessionUpdated), "mine"))
    other = correlator.register(Pending(lambda e: isinstance(e, SessionUpdated), "other"))
    correlator.deliver(error_event("mine"))
    assert mine.done and isinstance(mine.error, Boom) and mine.result is None
    assert not other.done
    correlator.deliver(updated())
    assert other.done and other.error is None


def test_an_error_naming_nobody_fails_nobody() -> None:
    correlator, _ = make()
    wait = correlator.register(Pending(lambda e: isinstance(e, SessionUpdated), "mine"))
    correlator.deliver(error_event(None))
    correlator.deliver(error_event("someone-else"))
    assert not wait.done


def test_a_failing_predicate_fails_its_own_wait_and_no_other() -> None:
    correlator, _ = make()

    def broken(event: Any) -> bool:
        raise Boom("predicate")

    bad = correlator.register(Pending(broken))
    good = correlator.register(Pending(lambda e: True))
    correlator.deliver(cleared())
    assert isinstance(bad.error, Boom) and good.result is not None


def test_discard_and_fail_all() -> None:
    correlator, _ = make()
    gone = correlator.register(Pending(lambda e: True))
    correlator.discard(gone)
    correlator.discard(gone)  # silent when called again
    left = correlator.register(Pending(lambda e: True))
    correlator.fail_all(lambda: Boom("closed"))
    assert isinstance(left.error, Boom) and not gone.done and len(correlator) == 0
    left.finish(result="late")  # finishing twice keeps the first outcome
    assert isinstance(left.error, Boom) and left.result is None
