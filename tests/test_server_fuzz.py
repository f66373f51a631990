"""Whatever a client sends, a session answers and stays up (no socket: an in-memory link)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.lowlevel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from realtime_anyio.testing import Script
from realtime_anyio.testing._ids import IdFactory
from realtime_anyio.testing._session import (
    CLIENT_EVENT_TYPES,
    ConnectInfo,
    FakeSession,
    LinkClosed,
    SessionOptions,
)


class MemoryLink:
    """Feeds frames to a session and records what it sends."""

    def __init__(self, frames: list[str | bytes]) -> None:
        self.frames = list(frames)
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    async def send(self, data: bytes) -> None:
        self.sent.append(json.loads(data))

    async def receive(self) -> str | bytes:
        await anyio.lowlevel.checkpoint()
        if not self.frames or self.closed is not None:
            raise LinkClosed
        return self.frames.pop(0)

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = (code, reason)

    async def abort(self) -> None:
        self.closed = (1006, "")


FIELDS = [
    "session",
    "item",
    "item_id",
    "previous_item_id",
    "content_index",
    "audio_end_ms",
    "audio",
    "response",
    "response_id",
    "event_id",
]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 100_000) | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["type", "role", "content", "text", "audio", "input", "output", "name", "id", "x"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
EVENT = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from([*CLIENT_EVENT_TYPES, "output_audio_buffer.clear", "bogus"]),
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=4),
)


TEMPLATES: list[dict[str, Any]] = [
    {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "instructions": "x",
            "output_modalities": ["text"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "turn_detection": {"type": "server_vad", "threshold": 0.5},
                    "transcription": {"model": "whisper-1"},
                },
                "output": {"voice": "alloy", "speed": 1.0},
            },
            "tools": [{"type": "function", "name": "f", "parameters": {}}],
        },
    },
    {
        "type": "conversation.item.create",
        "previous_item_id": "root",
        "item": {
            "id": "a",
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "hi"}, {"type": "input_audio", "audio": ""}],
        },
    },
    {
        "type": "conversation.item.create",
        "item": {"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c"},
    },
    {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "c", "output": "o"},
    },
    {"type": "conversation.item.truncate", "item_id": "a", "content_index": 0, "audio_end_ms": 0},
    {"type": "conversation.item.delete", "item_id": "a"},
    {"type": "conversation.item.retrieve", "item_id": "a"},
    {"type": "input_audio_buffer.append", "audio": "AAAAAAAA"},
    {"type": "input_audio_buffer.commit"},
    {
        "type": "response.create",
        "response": {
            "conversation": "none",
            "metadata": {"k": "v"},
            "input": [{"type": "item_reference", "id": "a"}],
            "max_output_tokens": 5,
            "output_modalities": ["audio"],
        },
    },
    {"type": "response.cancel"},
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found.extend(_paths(inner, (*prefix, key)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found.extend(_paths(inner, (*prefix, index)))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    event = json.loads(json.dumps(draw(st.sampled_from(TEMPLATES))))
    path = draw(st.sampled_from(_paths(event)[1:]))
    target = event
    for step in path[:-1]:
        target = target[step]
    if draw(st.booleans()) and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = draw(JSON)
    return event


async def _run(frames: list[str | bytes]) -> MemoryLink:
    script = Script()
    session = FakeSession(
        SessionOptions(script=script, ids=IdFactory(0)), ConnectInfo(model="gpt-realtime")
    )
    link = MemoryLink(frames)
    with anyio.fail_after(10):
        await session.run(link)
    return link


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EVENT, min_size=1, max_size=6))
def test_random_events_never_break_a_session(events: list[dict[str, Any]]) -> None:
    frames: list[str | bytes] = [json.dumps(e) for e in events]
    frames.append(json.dumps({"type": "input_audio_buffer.clear", "event_id": "probe"}))
    link = anyio.run(_run, frames)
    if link.closed is None:
        # The session was still answering at the end.
        assert link.sent[-1]["type"] in ("input_audio_buffer.cleared", "error") or any(
            e["type"] == "input_audio_buffer.cleared" for e in link.sent
        )
    for event in link.sent:
        if event["type"] == "error":
            assert set(event["error"]) == {"type", "code", "message", "param", "event_id"}


@settings(max_examples=examples(100), deadline=None)
@given(st.binary(max_size=40) | st.text(max_size=40))
def test_garbage_frames_get_errors(frame: bytes | str) -> None:
    link = anyio.run(_run, [frame])
    assert link.closed is None
    assert link.sent[0]["type"] == "session.created"
    assert all(e["type"] != "session.updated" for e in link.sent)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutated() | st.sampled_from(TEMPLATES), min_size=1, max_size=8))
def test_mutated_valid_events_never_break_a_session(events: list[dict[str, Any]]) -> None:
    frames: list[str | bytes] = [json.dumps(e) for e in events]
    frames.append(json.dumps({"type": "input_audio_buffer.clear"}))
    link = anyio.run(_run, frames)
    assert link.closed is None
    assert any(e["type"] == "input_audio_buffer.cleared" for e in link.sent)
