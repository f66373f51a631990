"""Nothing the server sends is lost: members no Struct defines survive decode and encode.

The frames of ``tests/data/*.jsonl`` get extra members injected at every object that decodes
to a Struct (the event, its response, item, content part, usage, session, tools, ...). The
differential tests compare each with the plain frame's decoding; the property test injects
random members with random JSON values at random levels.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_anyio.events import (
    CLIENT_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    UNSET,
    AudioContent,
    ConversationItemCreate,
    ConversationItemRetrieved,
    InputTextContent,
    MessageItem,
    RealtimeSession,
    ResponseDone,
    ResponseOutputItemDone,
    SessionUpdate,
    UnknownFields,
    UnknownServerEvent,
    decode_client_event,
    decode_server_event,
    encode_event,
    has_unknown_fields,
    to_client_event,
    to_dict,
)
from realtime_anyio.events._base import UNKNOWN_FIELDS_KEY, Model

DATA = Path(__file__).parent / "data"


def _load(name: str) -> list[dict[str, Any]]:
    with open(DATA / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


SERVER = _load("server_events.jsonl")
CLIENT = _load("client_events.jsonl")


def _struct_paths(value: Any, obj: object, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths (keys and indices) of every JSON object in ``value`` that decoded to a Struct."""
    if isinstance(obj, Model):
        yield path
        for name in obj.__struct_fields__:
            if name in value:
                yield from _struct_paths(value[name], getattr(obj, name), (*path, name))
    elif isinstance(obj, list):
        items: list[object] = obj  # pyright: ignore[reportUnknownVariableType]
        for i, item in enumerate(items):
            yield from _struct_paths(value[i], item, (*path, i))
    elif isinstance(obj, dict):
        mapping: dict[str, object] = obj  # pyright: ignore[reportUnknownVariableType]
        for key, item in mapping.items():
            yield from _struct_paths(value[key], item, (*path, key))


def _at(value: Any, path: tuple[Any, ...]) -> dict[str, Any]:
    for step in path:
        value = value[step]
    return value


def _without_unknown(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_unknown(v) for k, v in value.items() if k != UNKNOWN_FIELDS_KEY}
    if isinstance(value, list):
        return [_without_unknown(v) for v in value]
    return value


def _cases(
    payloads: list[dict[str, Any]], decode: Any
) -> list[tuple[str, dict[str, Any], tuple[Any, ...]]]:
    cases: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = []
    for payload in payloads:
        event = decode(json.dumps(payload))
        for path in _struct_paths(payload, event):
            cases.append((f"{payload['type']}@{'.'.join(map(str, path)) or '.'}", payload, path))
    return cases


SERVER_CASES = _cases(SERVER, decode_server_event)
CLIENT_CASES = _cases(CLIENT, decode_client_event)
EXTRA: dict[str, Any] = {"x_future_flag": True, "x_future_obj": {"a": [1, None, "b"]}}


def test_every_level_is_covered() -> None:
    levels = {path[-1] for _, _, path in SERVER_CASES if path and isinstance(path[-1], str)}
    for name in ("response", "item", "part", "usage", "output_token_details", "session"):
        assert name in levels, name
    assert {"tools", "audio", "turn_detection"} <= {
        step for _, _, path in SERVER_CASES + CLIENT_CASES for step in path
    }
    assert len(SERVER_CASES) > 150


@pytest.mark.parametrize(
    ("case", "payload", "path"), SERVER_CASES, ids=[c[0] for c in SERVER_CASES]
)
def test_server_frame_with_unknown_members(
    case: str, payload: dict[str, Any], path: tuple[Any, ...]
) -> None:
    plain = decode_server_event(json.dumps(payload))
    extended = copy.deepcopy(payload)
    _at(extended, path).update(EXTRA)
    frame = json.dumps(extended).encode()

    event = decode_server_event(frame)
    assert type(event) is type(plain)
    assert not isinstance(event, UnknownServerEvent)
    assert has_unknown_fields(event) and not has_unknown_fields(plain)
    # the same JSON back, and the same typed values as the frame without the extra members
    assert json.loads(encode_event(event)) == extended
    assert to_dict(event) == extended
    assert _without_unknown(msgspec.to_builtins(event)) == msgspec.to_builtins(plain)
    holder = _struct_at(event, path)
    assert holder.unknown_fields == EXTRA
    # str frames keep them the same way
    assert decode_server_event(frame.decode()) == event


def _struct_at(obj: Any, path: tuple[Any, ...]) -> Model:
    for step in path:
        obj = obj[step] if isinstance(step, int) or isinstance(obj, dict) else getattr(obj, step)
    assert isinstance(obj, Model)
    return obj


@pytest.mark.parametrize(
    ("case", "payload", "path"), CLIENT_CASES, ids=[c[0] for c in CLIENT_CASES]
)
def test_client_frame_with_unknown_members(
    case: str, payload: dict[str, Any], path: tuple[Any, ...]
) -> None:
    extended = copy.deepcopy(payload)
    _at(extended, path).update(EXTRA)
    event = decode_client_event(json.dumps(extended))
    assert type(event) is CLIENT_EVENT_TYPES[payload["type"]]
    assert json.loads(encode_event(event)) == extended
    # a user's dict with members this version does not know sends them on
    from_dict = to_client_event(extended)
    assert from_dict == event
    assert json.loads(encode_event(from_dict)) == extended


def test_known_new_fields_are_typed() -> None:
    frame = {
        "type": "response.done",
        "event_id": "event_1",
        "response": {
            "id": "resp_1",
            "status": "completed",
            "output": [
                {
                    "id": "item_1",
                    "type": "message",
                    "role": "assistant",
                    "phase": "commentary",
                    "content": [{"type": "output_text", "text": "Let me check."}],
                },
                {
                    "id": "item_2",
                    "type": "message",
                    "role": "assistant",
                    "phase": "final_answer",
                    "content": [{"type": "output_text", "text": "It is 21 degrees."}],
                },
            ],
            "usage": {"output_token_details": {"text_tokens": 9, "reasoning_tokens": 64}},
        },
    }
    event = decode_server_event(json.dumps(frame))
    assert isinstance(event, ResponseDone)
    assert not has_unknown_fields(event)
    output = event.response.output
    assert output is not UNSET
    assert [item.phase for item in output if isinstance(item, MessageItem)] == [
        "commentary",
        "final_answer",
    ]
    usage = event.response.usage
    assert usage and usage.output_token_details
    assert usage.output_token_details.reasoning_tokens == 64
    assert json.loads(encode_event(event)) == frame


def test_audio_part_format_from_the_spec_example() -> None:
    frame = {
        "type": "conversation.item.retrieved",
        "event_id": "event_1",
        "item": {
            "id": "item_1",
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [
                {"type": "audio", "transcript": "Yes.", "audio": "AAEC", "format": "pcm16"}
            ],
        },
    }
    event = decode_server_event(json.dumps(frame))
    assert isinstance(event, ConversationItemRetrieved)
    assert isinstance(event.item, MessageItem)
    part = event.item.content[0]
    assert isinstance(part, AudioContent)
    assert (part.format, part.audio) == ("pcm16", b"\x00\x01\x02")
    assert not has_unknown_fields(event)
    assert json.loads(encode_event(event)) == frame


def test_a_received_item_sent_back_carries_every_member() -> None:
    item = {
        "id": "item_1",
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "phase": "final_answer",
        "x_future_item": {"k": 1},
        "content": [{"type": "output_audio", "transcript": "Hi.", "x_future_part": "p"}],
    }
    frame = {
        "type": "response.output_item.done",
        "event_id": "event_1",
        "response_id": "resp_1",
        "output_index": 0,
        "item": item,
    }
    event = decode_server_event(json.dumps(frame))
    assert isinstance(event, ResponseOutputItemDone)
    replay = ConversationItemCreate(item=event.item, previous_item_id="root")
    sent = json.loads(encode_event(replay))
    assert sent == {"type": "conversation.item.create", "item": item, "previous_item_id": "root"}
    # also when the event is given as a dict holding the received item's wire form
    again = to_client_event({"type": "conversation.item.create", "item": to_dict(event.item)})
    assert json.loads(encode_event(again))["item"] == item
    # replace() keeps them: they are a field of the Struct
    edited = msgspec.structs.replace(event.item, status="incomplete")
    assert json.loads(encode_event(ConversationItemCreate(item=edited)))["item"]["x_future_item"]


def test_unknown_fields_set_by_hand_are_sent() -> None:
    event = SessionUpdate(
        session=RealtimeSession(
            instructions="Be brief.", unknown_fields=UnknownFields(new_knob={"level": 3})
        )
    )
    assert has_unknown_fields(event)
    assert json.loads(encode_event(event)) == {
        "type": "session.update",
        "session": {"type": "realtime", "instructions": "Be brief.", "new_knob": {"level": 3}},
    }
    # a defined field wins over a stray copy among the unknown ones
    part = InputTextContent(text="a", unknown_fields=UnknownFields(text="b", other=1))
    assert to_dict(part) == {"type": "input_text", "text": "a", "other": 1}


def test_the_internal_key_is_an_ordinary_unknown_member_on_the_wire() -> None:
    # A frame can never fill unknown_fields directly: the key is kept like any other.
    frame = {"type": "input_audio_buffer.cleared", "event_id": "e", UNKNOWN_FIELDS_KEY: {"a": 1}}
    event = decode_server_event(json.dumps(frame))
    assert event.unknown_fields == {UNKNOWN_FIELDS_KEY: {"a": 1}}
    assert json.loads(encode_event(event)) == frame


def test_unknown_member_and_a_real_error_still_raise() -> None:
    from realtime_anyio import RemoteProtocolError

    frame = {
        "type": "response.output_text.delta",
        "event_id": "e",
        "x_new": 1,
        "response_id": "r",
        "item_id": "i",
        "output_index": "zero",
        "content_index": 0,
        "delta": "hi",
    }
    with pytest.raises(RemoteProtocolError) as info:
        decode_server_event(json.dumps(frame))
    assert info.value.path == "output_index"


def test_unknown_member_next_to_an_unknown_nested_tag() -> None:
    payload = {
        "type": "response.output_item.added",
        "event_id": "e",
        "x_new": 1,
        "response_id": "r",
        "output_index": 0,
        "item": {"type": "hologram", "id": "item_1"},
    }
    event = decode_server_event(json.dumps(payload))
    assert isinstance(event, UnknownServerEvent)
    assert event.wire_type == "response.output_item.added"
    assert json.loads(encode_event(event)) == payload


# --- property test ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
# Names of the wire's shape that no Struct defines (every defined name is a member of some
# Struct, so a drawn name is rejected if any Struct at that level has it).
new_names = st.from_regex(r"\A[a-z][a-z_]{0,12}\Z").map(lambda s: f"zz_{s}")
SAMPLES = [(p, decode_server_event) for p in SERVER] + [(p, decode_client_event) for p in CLIENT]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.data())
def test_random_members_at_random_levels_round_trip(
    sample: tuple[dict[str, Any], Any], data: st.DataObject
) -> None:
    payload, decode = sample
    plain = decode(json.dumps(payload))
    paths = list(_struct_paths(payload, plain))
    extended = copy.deepcopy(payload)
    for path in data.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=4)):
        target = _at(extended, path)
        extra = data.draw(st.dictionaries(new_names, json_values, min_size=1, max_size=3))
        target.update(extra)
    frame = msgspec.json.encode(extended)
    event = decode(frame)
    assert type(event) is type(plain)
    assert json.loads(encode_event(event)) == json.loads(frame)
    assert _without_unknown(msgspec.to_builtins(event)) == msgspec.to_builtins(plain)


def test_every_event_type_is_sampled() -> None:
    assert {p["type"] for p, _ in SAMPLES} == set(SERVER_EVENT_TYPES) | set(CLIENT_EVENT_TYPES)
