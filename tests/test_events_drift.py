"""Drift check against the GA OpenAPI description in ``../shared/protocol``.

Every event type of the spec's ``RealtimeServerEvent`` / ``RealtimeClientEvent`` unions must
have a class, and every property of every event schema, followed recursively through the
nested objects, must exist as a field of the matching Struct.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import msgspec.structs
import pytest

from realtime_anyio.events import CLIENT_EVENT_TYPES, SERVER_EVENT_TYPES
from realtime_anyio.events._base import UNKNOWN_FIELDS_KEY

SPEC = Path(__file__).resolve().parents[2] / "shared/protocol/realtime-ga.openapi.yaml"


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    if not SPEC.exists():
        pytest.skip(f"the protocol description is not present at {SPEC}")
    yaml = pytest.importorskip("yaml")
    with open(SPEC, encoding="utf-8") as f:
        return yaml.safe_load(f)["components"]["schemas"]


class _Checker:
    def __init__(self, schemas: dict[str, Any]) -> None:
        self.schemas = schemas
        self.errors: list[str] = []
        self.checked_properties = 0
        self.spec_fields: dict[type, set[str]] = {}
        self._seen: set[tuple[int, str]] = set()

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    @staticmethod
    def flatten(t: mi.Type) -> list[mi.Type]:
        if isinstance(t, mi.UnionType):
            return [x for member in t.types for x in _Checker.flatten(member)]
        return [t]

    def check(self, schema: dict[str, Any], types: list[mi.Type], path: str) -> None:
        schema = self.resolve(schema)
        key = (id(schema), repr(types))
        if key in self._seen:
            return
        self._seen.add(key)
        types = [x for t in types for x in self.flatten(t)]
        for alt in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
            self.check(alt, types, path)
        if "items" in schema:
            lists = [t.item_type for t in types if isinstance(t, mi.ListType)]
            if not lists:
                self.errors.append(f"{path}: the spec has an array, we have {types}")
            else:
                self.check(schema["items"], lists, path + "[]")
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            dicts = [t.value_type for t in types if isinstance(t, mi.DictType)]
            if not dicts:
                self.errors.append(f"{path}: the spec has a map, we have {types}")
            else:
                self.check(extra, dicts, path + "{}")
        if "properties" in schema:
            self.check_object(schema, types, path)

    def check_object(self, schema: dict[str, Any], types: list[mi.Type], path: str) -> None:
        structs = [t for t in types if isinstance(t, mi.StructType)]
        if not structs:
            if any(isinstance(t, (mi.DictType, mi.AnyType)) for t in types):
                return  # a free-form object on our side too (JSON Schema, metadata)
            self.errors.append(f"{path}: the spec has an object, we have {types}")
            return
        props: dict[str, Any] = schema["properties"]
        type_prop = self.resolve(props.get("type", {}))
        tags = set(type_prop.get("enum", [])) | (
            {type_prop["const"]} if "const" in type_prop else set()
        )
        tagged = [s for s in structs if s.tag is not None]
        if tags and tagged:
            structs = [s for s in tagged if s.tag in tags]
            if not structs:
                self.errors.append(f"{path}: no Struct tagged {sorted(tags)}")
                return
        for s in structs:
            self.spec_fields.setdefault(s.cls, set()).update(props)
        for name, sub in props.items():
            self.checked_properties += 1
            if name == "type" and all(s.tag_field == "type" for s in structs):
                continue
            fields = [f for s in structs for f in s.fields if f.encode_name == name]
            if not fields:
                owners = ", ".join(s.cls.__name__ for s in structs)
                self.errors.append(f"{path}.{name}: missing from {owners}")
                continue
            self.check(sub, [f.type for f in fields], f"{path}.{name}")


def _event_schemas(schemas: dict[str, Any], union: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for ref in schemas[union]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[-1]
        type_prop = schemas[name]["properties"]["type"]
        (wire,) = type_prop.get("enum") or [type_prop["const"]]
        found[wire] = name
    return found


@pytest.mark.parametrize(
    ("union", "ours"),
    [("RealtimeServerEvent", SERVER_EVENT_TYPES), ("RealtimeClientEvent", CLIENT_EVENT_TYPES)],
)
def test_every_event_type_exists(
    schemas: dict[str, Any], union: str, ours: dict[str, type[msgspec.Struct]]
) -> None:
    assert set(_event_schemas(schemas, union)) == set(ours)


@pytest.mark.parametrize(
    ("union", "ours"),
    [("RealtimeServerEvent", SERVER_EVENT_TYPES), ("RealtimeClientEvent", CLIENT_EVENT_TYPES)],
)
def test_every_property_exists(
    schemas: dict[str, Any], union: str, ours: dict[str, type[msgspec.Struct]]
) -> None:
    checker = _Checker(schemas)
    for wire, name in _event_schemas(schemas, union).items():
        checker.check(schemas[name], [mi.type_info(ours[wire])], wire)
    assert checker.errors == []
    assert checker.checked_properties > (300 if union == "RealtimeServerEvent" else 150)


# Fields we have that the spec does not list, each for a reason:
# - ``obfuscation``: the live service adds it to text, transcript and argument deltas;
# - ``event_id`` on the DTMF event: every other server event has one;
# - ``strength`` (noise reduction) and ``ttl`` (cache breakpoint): in the official SDK;
# - ``message`` in a response's status error: the live service sends it;
# - ``phase`` on messages and ``reasoning_tokens`` in output token details: current models
#   send them; ``format`` on an audio part: the spec's own ``conversation.item.retrieved``
#   example has it.
# (``unknown_fields``, on every Struct, is not a wire field: it holds the members no Struct
# defines, and is left out here.)
EXPECTED_EXTRAS = {
    "AudioContent": {"format"},
    "MessageItem": {"phase"},
    "ResponseOutputTokenDetails": {"reasoning_tokens"},
    "InputAudioBufferDtmfEventReceived": {"event_id"},
    "NoiseReduction": {"strength"},
    "PromptCacheBreakpoint": {"ttl"},
    "ResponseError": {"message"},
    "ResponseFunctionCallArgumentsDelta": {"obfuscation"},
    "ResponseOutputAudioTranscriptDelta": {"obfuscation"},
    "ResponseOutputTextDelta": {"obfuscation"},
    "ConversationItemInputAudioTranscriptionDelta": {"obfuscation"},
}


def test_our_extra_fields_are_deliberate(schemas: dict[str, Any]) -> None:
    checker = _Checker(schemas)
    for union, ours in (
        ("RealtimeServerEvent", SERVER_EVENT_TYPES),
        ("RealtimeClientEvent", CLIENT_EVENT_TYPES),
    ):
        for wire, name in _event_schemas(schemas, union).items():
            checker.check(schemas[name], [mi.type_info(ours[wire])], wire)
    extras: dict[str, set[str]] = {}
    for cls, seen in checker.spec_fields.items():
        fields = {f.encode_name for f in msgspec.structs.fields(cls)} - {UNKNOWN_FIELDS_KEY}
        if fields - seen:
            extras[cls.__name__] = fields - seen
    assert extras == EXPECTED_EXTRAS
