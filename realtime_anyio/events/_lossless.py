"""Keeping the JSON members no Struct defines, and writing them back.

Every :class:`~._base.Model` forbids unknown fields, so the codec's one-call decoder fails on
a frame that carries one. Only then does this module run: it parses the frame as plain JSON,
walks it along the msgspec type information of the expected Struct, moves each member that the
matching Struct does not define into an :class:`~._base.UnknownFields` under that Struct's
``unknown_fields`` key, and hands the result to ``msgspec.convert``. Encoding reverses it: the
object is turned into builtins and each ``unknown_fields`` is merged back into the JSON object
it came from. Frames and events without unknown fields never come here.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi
from msgspec import UNSET

from ._base import UNKNOWN_FIELDS_KEY, Model, UnknownFields

__all__ = [
    "decode_keeping_unknown",
    "has_unknown_fields",
    "is_unknown_field_error",
    "prepare",
    "to_builtins",
    "type_info",
]

_T = TypeVar("_T")
_UNKNOWN_FIELD = re.compile(r"^Object contains unknown field `[^`]*`")
_AT = " - at `$"


def is_unknown_field_error(exc: msgspec.ValidationError) -> bool:
    """Whether typed decoding stopped at a member that no Struct there defines.

    That includes the key ``unknown_fields`` has in builtins, which no JSON value can fill.
    """
    message = str(exc)
    if _UNKNOWN_FIELD.match(message) is not None:
        return True
    return message.endswith(f"{UNKNOWN_FIELDS_KEY}`") and _AT in message


def decode_keeping_unknown(decoder: msgspec.json.Decoder[_T], data: bytes | str) -> _T:
    """``decoder.decode(data)``, keeping members no Struct defines in ``unknown_fields``.

    For types that embed these Structs elsewhere (the REST client's results). Raises what
    ``decoder.decode`` raises.
    """
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        if not is_unknown_field_error(exc):
            raise
        obj: Any = msgspec.json.decode(data)
        return msgspec.convert(prepare(obj, type_info(decoder.type)), decoder.type)


class _Plan:
    """What the walk needs to know about one Struct class."""

    __slots__ = ("fields", "keeps_unknown", "nested", "tag_field")

    def __init__(self, info: mi.StructType) -> None:
        own = [f for f in info.fields if f.encode_name != UNKNOWN_FIELDS_KEY]
        # Members that may hold a Struct somewhere below are walked; the rest are copied.
        self.fields: dict[str, mi.Type | None] = {
            f.encode_name: f.type if _may_hold_struct(f.type) else None for f in own
        }
        self.nested: tuple[tuple[str, str], ...] = tuple(
            (f.name, f.encode_name) for f in own if _may_hold_struct(f.type)
        )
        self.tag_field = info.tag_field
        self.keeps_unknown = info.forbid_unknown_fields and len(own) < len(info.fields)


_PLANS: dict[type, _Plan] = {}
_INFO: dict[Any, mi.Type] = {}


def type_info(tp: Any) -> mi.Type:
    """msgspec's type information for ``tp``, computed once."""
    info = _INFO.get(tp)
    if info is None:
        info = _INFO[tp] = mi.type_info(tp)
    return info


def _plan(info: mi.StructType) -> _Plan:
    plan = _PLANS.get(info.cls)
    if plan is None:
        plan = _PLANS[info.cls] = _Plan(info)
    return plan


def _may_hold_struct(info: mi.Type) -> bool:
    if isinstance(info, mi.StructType):
        return True
    if isinstance(info, mi.UnionType):
        return any(_may_hold_struct(t) for t in info.types)
    if isinstance(info, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
        return _may_hold_struct(info.item_type)
    if isinstance(info, mi.DictType):
        return _may_hold_struct(info.value_type)
    return False


def _members(info: mi.Type) -> tuple[mi.Type, ...]:
    return info.types if isinstance(info, mi.UnionType) else (info,)


def _pick_struct(info: mi.Type, value: dict[str, Any]) -> mi.StructType | None:
    """The Struct a JSON object stands for, or ``None`` (then msgspec will say what is wrong)."""
    structs = [t for t in _members(info) if isinstance(t, mi.StructType)]
    if len(structs) == 1 and structs[0].tag_field is None:
        return structs[0]
    for candidate in structs:
        if candidate.tag_field is not None and value.get(candidate.tag_field) == candidate.tag:
            return candidate
    return None


def prepare(value: Any, info: mi.Type) -> Any:
    """``value`` (parsed JSON, or a user's dict) ready for ``msgspec.convert`` to ``info``.

    Each object that stands for a Struct keeping unknown fields gets its unknown members
    moved into an :class:`UnknownFields` under ``UNKNOWN_FIELDS_KEY``. Values are shared, not
    copied; objects and lists on the way to a Struct are rebuilt.
    """
    if isinstance(value, dict):
        mapping: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
        struct = _pick_struct(info, mapping)
        if struct is not None:
            return _prepare_struct(mapping, struct)
        for member in _members(info):
            if isinstance(member, mi.DictType):
                inner = member.value_type
                return {key: prepare(item, inner) for key, item in mapping.items()}
        return mapping
    if isinstance(value, list):
        items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
        for member in _members(info):
            if isinstance(member, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
                inner = member.item_type
                prepared: list[Any] = [prepare(item, inner) for item in items]
                return prepared
        return items
    return value


def _prepare_struct(value: dict[str, Any], info: mi.StructType) -> dict[str, Any]:
    plan = _plan(info)
    fields = plan.fields
    out: dict[str, Any] = {}
    unknown: UnknownFields | None = None
    for key, item in value.items():
        if key in fields:
            field_type = fields[key]
            out[key] = item if field_type is None else prepare(item, field_type)
        elif key == plan.tag_field or not plan.keeps_unknown:
            # A Struct that does not keep unknown fields ignores them in msgspec.
            out[key] = item
        else:
            if unknown is None:
                unknown = UnknownFields()
            unknown[key] = item
    if unknown is not None:
        out[UNKNOWN_FIELDS_KEY] = unknown
    return out


def _nested(cls: type[Model]) -> tuple[tuple[str, str], ...]:
    plan = _PLANS.get(cls)
    if plan is None:
        info = type_info(cls)
        assert isinstance(info, mi.StructType)
        plan = _plan(info)
    return plan.nested


def has_unknown_fields(obj: Model) -> bool:
    """Whether ``obj`` or any Struct inside it has ``unknown_fields`` set."""
    if obj.unknown_fields is not UNSET:
        return True
    nested = _nested(type(obj))
    # Most events (audio, deltas) have no nested objects: no generator for them.
    return bool(nested) and any(_holds_unknown(getattr(obj, name)) for name, _ in nested)


def _holds_unknown(value: object) -> bool:
    if isinstance(value, Model):
        return has_unknown_fields(value)
    if isinstance(value, list):
        items: list[object] = value  # pyright: ignore[reportUnknownVariableType]
        return any(_holds_unknown(item) for item in items)
    if isinstance(value, dict):
        mapping: dict[object, object] = value  # pyright: ignore[reportUnknownVariableType]
        return any(_holds_unknown(item) for item in mapping.values())
    return False


def to_builtins(obj: Model) -> dict[str, Any]:
    """``obj`` in the wire layout as plain builtins, unknown fields merged back in place."""
    data: dict[str, Any] = msgspec.to_builtins(obj)
    _merge(obj, data)
    return data


def _merge(value: object, data: Any) -> None:
    if isinstance(value, Model):
        mapping: dict[str, Any] = data
        unknown: dict[str, Any] | None = mapping.pop(UNKNOWN_FIELDS_KEY, None)
        for name, wire in _nested(type(value)):
            if wire in mapping:
                _merge(getattr(value, name), mapping[wire])
        if unknown:
            for key, item in unknown.items():
                # A member the Struct defines wins over a stray copy among the unknown ones.
                mapping.setdefault(key, item)
    elif isinstance(value, list):
        items: list[object] = value  # pyright: ignore[reportUnknownVariableType]
        for item, item_data in zip(items, data, strict=True):
            _merge(item, item_data)
    elif isinstance(value, dict):
        entries: dict[str, object] = value  # pyright: ignore[reportUnknownVariableType]
        for key, item in entries.items():
            _merge(item, data[key])
