"""Differential tests against the official ``openai`` package's Realtime models.

Each SDK event model is filled in by a generator, once with every optional field set (once per
alternative of every union) and once with only the required fields. The SDK serializes it the
official way (``model_dump(mode="json", exclude_unset=True)``); our codec must decode that JSON,
agree with the SDK on every field, and encode it back to the same JSON. The spec is the
authority where the two differ, so the SDK-only event types are compared too but the SDK's
extra fields are listed explicitly below.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

import msgspec.structs
import pytest

pytest.importorskip("openai")

from openai._models import BaseModel, construct_type_unchecked
from openai.types.realtime.realtime_client_event import RealtimeClientEvent
from openai.types.realtime.realtime_server_event import RealtimeServerEvent

from realtime_anyio.events import (
    CLIENT_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    ContentPart,
    decode_client_event,
    decode_server_event,
    encode_event,
    to_client_event,
)

# base64 for fields that are audio bytes on our side
_AUDIO = "AAECAwQFBgc="
_AUDIO_FIELDS = {"audio", ("response.output_audio.delta", "delta")}


def _union_members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _union_members(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _union_members(arg)]
    return [tp]


class _Generator:
    """Builds JSON-ready values for an SDK annotation.

    ``variant`` picks the alternative of each union (modulo its size), so that running the
    generator with variant 0, 1, 2, … covers every alternative somewhere.
    """

    def __init__(self, variant: int, *, full: bool) -> None:
        self.variant = variant
        self.full = full
        self.depth = 0

    def value(self, tp: Any, field: str, event_type: str) -> Any:
        members = [m for m in _union_members(tp) if m is not type(None)]
        tp = members[self.variant % len(members)]
        origin = typing.get_origin(tp)
        if origin is typing.Literal:
            return typing.get_args(tp)[0]
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return self.model(tp, event_type)
        if origin in (list, typing.List):  # noqa: UP006
            (item,) = typing.get_args(tp) or (Any,)
            return [self.value(item, field, event_type)]
        if origin in (dict, typing.Dict):  # noqa: UP006
            args = typing.get_args(tp)
            value_type = args[1] if len(args) == 2 else str
            return {"key": self.value(value_type, field, event_type)}
        if tp is str:
            if field in _AUDIO_FIELDS or (event_type, field) in _AUDIO_FIELDS:
                return _AUDIO
            return f"{field}-value"
        if tp is bool:
            return True
        if tp is int:
            return 7
        if tp is float:
            return 0.5
        if tp is object or tp is Any:
            return {"free": ["form", 1]}
        raise AssertionError(f"no generator for {tp!r} ({field})")

    def model(self, cls: type[BaseModel], event_type: str) -> dict[str, Any]:
        self.depth += 1
        try:
            out: dict[str, Any] = {}
            for name, info in cls.model_fields.items():
                key = info.alias or name
                # The SDK marks some ``type`` discriminators optional (content parts, audio
                # formats); a part without one means nothing, so ours requires it.
                if info.is_required() or key == "type" or (self.full and self.depth < 8):
                    out[key] = self.value(info.annotation, key, event_type)
            return _own_part_fields(out)
        finally:
            self.depth -= 1


_PART_FIELDS = {
    cls.type: {f.encode_name for f in msgspec.structs.fields(cls)} | {"type"}
    for cls in typing.get_args(ContentPart)
}


def _own_part_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """Keep only the fields that belong to a content part's kind.

    The spec describes each role's content parts as one flat object whose fields are all
    optional (an ``input_text`` part may "have" ``audio``); ours gives each kind its own
    Struct with its own fields, so the nonsensical combinations are not generated.
    """
    fields = _PART_FIELDS.get(obj.get("type"))  # type: ignore[arg-type]
    if fields is None:
        return obj
    return {k: v for k, v in obj.items() if k in fields}


def _event_classes(union: Any) -> list[type[BaseModel]]:
    return [m for m in _union_members(union) if isinstance(m, type)]


def _wire_type(cls: type[BaseModel]) -> str:
    (value,) = typing.get_args(cls.model_fields["type"].annotation)
    return value


def _payloads(cls: type[BaseModel]) -> list[dict[str, Any]]:
    wire = _wire_type(cls)
    out = [_Generator(0, full=False).model(cls, wire)]
    out += [_Generator(v, full=True).model(cls, wire) for v in range(10)]
    return out


def _official_json(union: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Let the SDK parse and re-serialize the payload, as its own code paths do."""
    model = construct_type_unchecked(value=payload, type_=union)
    assert isinstance(model, BaseModel)
    dumped = model.model_dump(mode="json", exclude_unset=True)
    assert json.loads(model.model_dump_json(exclude_unset=True)) == dumped
    return dumped


def _compare(ours: Any, theirs: Any, path: str) -> None:
    """Field by field: every field the SDK sent must come back with the same value."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), path
        assert set(ours) == set(theirs), f"{path}: {sorted(ours)} != {sorted(theirs)}"
        for key, value in theirs.items():
            _compare(ours[key], value, f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), path
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _compare(a, b, f"{path}[{i}]")
    else:
        assert ours == theirs, path


SERVER_CLASSES = _event_classes(RealtimeServerEvent)
CLIENT_CLASSES = _event_classes(RealtimeClientEvent)


def test_sdk_unions_match_ours() -> None:
    assert {_wire_type(c) for c in SERVER_CLASSES} == set(SERVER_EVENT_TYPES)
    assert {_wire_type(c) for c in CLIENT_CLASSES} == set(CLIENT_EVENT_TYPES)


@pytest.mark.parametrize("cls", SERVER_CLASSES, ids=_wire_type)
def test_server_events_agree_with_sdk(cls: type[BaseModel]) -> None:
    for payload in _payloads(cls):
        official = _official_json(RealtimeServerEvent, payload)
        event = decode_server_event(json.dumps(official))
        assert type(event) is SERVER_EVENT_TYPES[_wire_type(cls)]
        _compare(json.loads(encode_event(event)), official, event.type)
        # and the SDK reads our encoding back to the same model
        again = construct_type_unchecked(value=json.loads(encode_event(event)), type_=cls)
        assert isinstance(again, BaseModel)
        assert again.model_dump(mode="json", exclude_unset=True) == official


@pytest.mark.parametrize("cls", CLIENT_CLASSES, ids=_wire_type)
def test_client_events_agree_with_sdk(cls: type[BaseModel]) -> None:
    for payload in _payloads(cls):
        official = _official_json(RealtimeClientEvent, payload)
        event = decode_client_event(json.dumps(official).encode())
        assert type(event) is CLIENT_EVENT_TYPES[_wire_type(cls)]
        _compare(json.loads(encode_event(event)), official, event.type)
        assert to_client_event(official) == event
