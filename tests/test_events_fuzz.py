"""Property tests: whatever arrives, the decoders return an event or raise ProtocolError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_anyio._errors import ProtocolError
from realtime_anyio.events import (
    CLIENT_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    UnknownServerEvent,
    decode_client_event,
    decode_server_event,
    encode_event,
)

DATA = Path(__file__).parent / "data"
SAMPLES: list[dict[str, Any]] = [
    json.loads(line)
    for name in ("server_events.jsonl", "client_events.jsonl")
    for line in (DATA / name).read_text(encoding="utf-8").splitlines()
    if line.strip()
]
FIELD_NAMES = sorted(
    {f.encode_name for cls in SERVER_EVENT_TYPES.values() for f in msgspec.structs.fields(cls)}
    | {f.encode_name for cls in CLIENT_EVENT_TYPES.values() for f in msgspec.structs.fields(cls)}
)
TYPES = sorted(SERVER_EVENT_TYPES) + sorted(CLIENT_EVENT_TYPES)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode_both(frame: bytes | str) -> None:
    """Both decoders either succeed or raise a ProtocolError; nothing else escapes."""
    try:
        event = decode_server_event(frame)
    except ProtocolError as exc:
        assert exc.raw == frame
    else:
        # whatever decoded also encodes
        encode_event(event)
        if isinstance(event, UnknownServerEvent):
            # Either an unknown type, or a known one carrying a nested tag we do not know.
            assert event.payload["type"] == event.wire_type
    try:
        client_event = decode_client_event(frame)
    except ProtocolError as exc:
        assert exc.raw == frame
    else:
        encode_event(client_event)


@FAST
@given(st.binary(max_size=200))
def test_random_bytes(frame: bytes) -> None:
    _decode_both(frame)


@FAST
@given(json_values)
def test_random_json(value: Any) -> None:
    frame = msgspec.json.encode(value)
    _decode_both(frame)
    _decode_both(frame.decode())


@FAST
@given(
    st.sampled_from(TYPES),
    st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), json_values, max_size=6),
)
def test_known_type_with_junk_fields(kind: str, junk: dict[str, Any]) -> None:
    _decode_both(msgspec.json.encode({**junk, "type": kind}))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*prefix, i))
    return found


@FAST
@given(st.sampled_from(SAMPLES), st.data())
def test_mutated_valid_events(sample: dict[str, Any], data: st.DataObject) -> None:
    """Replace one value somewhere inside a valid event with junk."""
    event = json.loads(json.dumps(sample))
    paths = _paths(event)
    path = data.draw(st.sampled_from(paths))
    target = event
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = data.draw(json_values)
    _decode_both(msgspec.json.encode(event))


@FAST
@given(st.sampled_from(SAMPLES), st.integers(min_value=0), st.binary(min_size=1, max_size=3))
def test_corrupted_bytes_in_valid_events(sample: dict[str, Any], where: int, junk: bytes) -> None:
    """Splice raw bytes (often invalid UTF-8 or broken JSON) into a valid frame."""
    frame = json.dumps(sample).encode()
    where %= len(frame)
    _decode_both(frame[:where] + junk + frame[where:])
