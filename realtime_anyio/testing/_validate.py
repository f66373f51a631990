"""Checking client events the way the service does, with its error codes and wording.

Two layers: :func:`unknown_parameter` walks a raw JSON event against the msgspec Struct that
describes it (from ``realtime_anyio.events``) and names the first field the protocol does not
have; the ``expect_*`` helpers check values and raise :class:`Invalid` carrying the service's
``code``, ``message`` and ``param`` (a dotted path such as ``session.audio.input.format.rate``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

__all__ = [
    "Invalid",
    "describe",
    "expect_bool",
    "expect_enum",
    "expect_int",
    "expect_list",
    "expect_number",
    "expect_object",
    "expect_str",
    "join_path",
    "missing",
    "quote_list",
    "unknown",
    "unknown_parameter",
]


class Invalid(Exception):
    """A client event the service would reject; becomes one ``error`` event."""

    def __init__(
        self,
        code: str | None,
        message: str,
        param: str | None = None,
        *,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param
        self.type = type


def join_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def describe(value: object) -> str:
    """The JSON kind of ``value`` with its article, as the service words type errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def quote_list(values: Sequence[str]) -> str:
    """``'a'``, ``'a' and 'b'``, ``'a', 'b', and 'c'``."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 1:
        return "".join(quoted)
    if len(quoted) == 2:
        return f"{quoted[0]} and {quoted[1]}"
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


def _type_error(path: str, expected: str, value: object) -> Invalid:
    return Invalid(
        "invalid_type",
        f"Invalid type for '{path}': expected {expected}, but got {describe(value)} instead.",
        path,
    )


def missing(path: str) -> Invalid:
    return Invalid("missing_required_parameter", f"Missing required parameter: '{path}'.", path)


def unknown(path: str) -> Invalid:
    return Invalid("unknown_parameter", f"Unknown parameter: '{path}'.", path)


def expect_object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _type_error(path, "an object", value)
    out: dict[str, Any] = {}
    for k, v in value.items():  # pyright: ignore[reportUnknownVariableType]
        out[str(k)] = v  # pyright: ignore[reportUnknownArgumentType]
    return out


def expect_list(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise _type_error(path, "an array", value)
    return list(value)  # pyright: ignore[reportUnknownArgumentType]


def expect_str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _type_error(path, "a string", value)
    return value


def expect_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _type_error(path, "a boolean", value)
    return value


def expect_int(
    value: object, path: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _type_error(path, "an integer", value)
    if minimum is not None and value < minimum:
        raise Invalid("integer_below_min_value", f"Expected a value >= {minimum}", path)
    if maximum is not None and value > maximum:
        raise Invalid("integer_above_max_value", f"Expected a value <= {maximum}", path)
    return value


def expect_number(
    value: object, path: str, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(path, "a decimal", value)
    number = float(value)
    if math.isnan(number):
        raise _type_error(path, "a decimal", value)
    if minimum is not None and number < minimum:
        raise Invalid("decimal_below_min_value", f"Expected a value >= {minimum:g}", path)
    if maximum is not None and number > maximum:
        raise Invalid("decimal_above_max_value", f"Expected a value <= {maximum:g}", path)
    return number


def expect_enum(value: object, choices: Sequence[str], path: str) -> str:
    if not isinstance(value, str):
        raise _type_error(path, "one of " + quote_list(choices), value)
    if value not in choices:
        raise Invalid(
            "invalid_value",
            f"Invalid value: '{value}'. Supported values are: {quote_list(choices)}.",
            path,
        )
    return value


# -- unknown fields, from the Struct definitions -----------------------------------------------


def _struct_candidates(info: msgspec.inspect.Type) -> list[msgspec.inspect.StructType]:
    if isinstance(info, msgspec.inspect.StructType):
        return [info]
    if isinstance(info, msgspec.inspect.UnionType):
        found: list[msgspec.inspect.StructType] = []
        for member in info.types:
            found.extend(_struct_candidates(member))
        return found
    return []


def _list_item_type(info: msgspec.inspect.Type) -> msgspec.inspect.Type | None:
    if isinstance(info, (msgspec.inspect.ListType, msgspec.inspect.VarTupleType)):
        return info.item_type
    if isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            inner = _list_item_type(member)
            if inner is not None:
                return inner
    return None


def _pick_struct(
    candidates: list[msgspec.inspect.StructType], value: Mapping[str, Any]
) -> msgspec.inspect.StructType | None:
    if len(candidates) == 1:
        return candidates[0]
    tagged = [c for c in candidates if c.tag_field is not None]
    for candidate in tagged:
        if candidate.tag_field is not None and value.get(candidate.tag_field) == candidate.tag:
            return candidate
    return None


def _walk(value: object, info: msgspec.inspect.Type, path: str) -> str | None:
    if isinstance(value, dict):
        mapping: dict[str, Any] = value  # pyright: ignore[reportUnknownVariableType]
        struct = _pick_struct(_struct_candidates(info), mapping)
        if struct is None:
            return None
        fields = {f.encode_name: f for f in struct.fields}
        for key, item in mapping.items():
            if struct.tag_field is not None and key == struct.tag_field:
                continue
            field = fields.get(key)
            if field is None:
                return join_path(path, key)
            found = _walk(item, field.type, join_path(path, key))
            if found is not None:
                return found
        return None
    if isinstance(value, list):
        inner = _list_item_type(info)
        if inner is None:
            return None
        items: list[Any] = value  # pyright: ignore[reportUnknownVariableType]
        for index, item in enumerate(items):
            found = _walk(item, inner, join_path(path, index))
            if found is not None:
                return found
    return None


_TYPE_INFO: dict[type, msgspec.inspect.Type] = {}


def unknown_parameter(raw: Mapping[str, Any], struct_type: type) -> str | None:
    """The dotted path of the first field in ``raw`` that ``struct_type`` does not define.

    ``event_id`` and ``type`` at the top level are always allowed. Objects typed as free-form
    mappings (``metadata``, tool ``parameters``) are not looked into.
    """
    info = _TYPE_INFO.get(struct_type)
    if info is None:
        info = _TYPE_INFO[struct_type] = msgspec.inspect.type_info(struct_type)
    return _walk(dict(raw), info, "")
