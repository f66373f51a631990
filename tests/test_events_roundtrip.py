"""Every event type decodes from a realistic payload and encodes back to the same JSON.

The payloads live in ``tests/data/*.jsonl`` (one event per line) so other tests, the fake
server's among them, can reuse them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from realtime_anyio import events
from realtime_anyio.events import (
    CLIENT_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    decode_client_event,
    decode_server_event,
    encode_event,
    to_client_event,
)

DATA = Path(__file__).parent / "data"


def _load(name: str) -> list[dict[str, Any]]:
    with open(DATA / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


SERVER = _load("server_events.jsonl")
CLIENT = _load("client_events.jsonl")


def _id(payload: dict[str, Any]) -> str:
    return str(payload["type"])


def test_every_type_has_a_payload() -> None:
    assert {p["type"] for p in SERVER} == set(SERVER_EVENT_TYPES)
    assert {p["type"] for p in CLIENT} == set(CLIENT_EVENT_TYPES)


@pytest.mark.parametrize("payload", SERVER, ids=_id)
def test_server_round_trip(payload: dict[str, Any]) -> None:
    frame = json.dumps(payload).encode()
    event = decode_server_event(frame)
    assert type(event) is SERVER_EVENT_TYPES[payload["type"]]
    assert event.type == payload["type"]
    assert json.loads(encode_event(event)) == payload
    # str frames decode the same way as bytes
    assert decode_server_event(frame.decode()) == event
    assert decode_server_event(bytearray(frame)) == event
    assert decode_server_event(memoryview(frame)) == event


@pytest.mark.parametrize("payload", CLIENT, ids=_id)
def test_client_round_trip(payload: dict[str, Any]) -> None:
    frame = json.dumps(payload).encode()
    event = decode_client_event(frame)
    assert type(event) is CLIENT_EVENT_TYPES[payload["type"]]
    assert event.type == payload["type"]
    assert json.loads(encode_event(event)) == payload
    # the same dict, validated the way user dicts are, gives the same event
    assert to_client_event(payload) == event
    assert to_client_event(event) is event


@pytest.mark.parametrize("payload", SERVER, ids=_id)
def test_server_event_without_event_id(payload: dict[str, Any]) -> None:
    payload = {k: v for k, v in payload.items() if k != "event_id"}
    event = decode_server_event(json.dumps(payload))
    assert event.event_id is msgspec.UNSET
    assert json.loads(encode_event(event)) == payload


def _tagged_classes() -> list[type[events.BaseServerEvent | events.BaseClientEvent]]:
    found: list[Any] = []
    for name in events.__all__:
        obj = getattr(events, name)
        if isinstance(obj, type) and issubclass(obj, msgspec.Struct):
            bases = (events.BaseServerEvent, events.BaseClientEvent)
            if obj.__struct_config__.tag is not None and obj not in bases:
                found.append(obj)
    return found


def test_type_class_attribute_matches_tag() -> None:
    classes = _tagged_classes()
    assert len(classes) > 57
    for cls in classes:
        assert cls.type == cls.__struct_config__.tag, cls
        assert cls.__struct_config__.tag_field == "type"


def test_event_class_names_are_camel_case_of_type() -> None:
    for mapping in (SERVER_EVENT_TYPES, CLIENT_EVENT_TYPES):
        for wire, cls in mapping.items():
            expected = "".join(
                part[:1].upper() + part[1:] for part in wire.replace(".", "_").split("_")
            )
            assert cls.__name__ == expected, wire
            assert getattr(events, cls.__name__) is cls


def test_error_alias() -> None:
    assert events.ErrorEvent is events.Error


def test_public_names_are_exported() -> None:
    import importlib

    assert sorted(events.__all__) == sorted(set(events.__all__))
    for name in events.__all__:
        assert hasattr(events, name), name
    for module in ("_items", "_session", "_response", "_client", "_server", "_codec"):
        private = importlib.import_module(f"realtime_anyio.events.{module}")
        assert set(private.__all__) <= set(events.__all__), module


def test_docs_list_every_event() -> None:
    page = Path(__file__).resolve().parents[1] / "docs" / "events.md"
    text = page.read_text(encoding="utf-8")
    for mapping in (SERVER_EVENT_TYPES, CLIENT_EVENT_TYPES):
        for wire, cls in mapping.items():
            assert f"| `{wire}` | `{cls.__name__}` |" in text, wire
