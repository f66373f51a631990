"""Base classes shared by every Realtime message Struct.

All messages are frozen, keyword-only msgspec Structs. Objects that the protocol discriminates
by a ``type`` string derive from :class:`Tagged`; msgspec writes and checks the tag on the wire,
and each class restates it as the class attribute ``type`` so that ``obj.type`` works like a
field and pattern matching on classes stays possible.

Every :class:`Model` also has ``unknown_fields``: the keys of its JSON object that this version
does not know, kept so that nothing the server sends is lost (see ``_lossless.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
from msgspec import UNSET, UnsetType

__all__ = [
    "UNKNOWN_FIELDS_KEY",
    "BaseClientEvent",
    "BaseServerEvent",
    "Model",
    "Tagged",
    "UnknownFields",
    "repr_with_audio_sizes",
]

UNKNOWN_FIELDS_KEY = "(unknown fields)"
"""The key ``unknown_fields`` has in ``msgspec.to_builtins`` output; never sent as such."""


class UnknownFields(dict[str, Any]):
    """The members of a JSON object that its Struct does not define, by wire name.

    A plain ``dict`` subclass. It is its own type so that a JSON frame can never fill
    ``unknown_fields`` directly (msgspec decodes no JSON value into it): only the codec's
    lossless path and your own code create one. :func:`~realtime_anyio.events.encode_event`
    writes its members back into the object they came from.
    """

    __slots__ = ()


def repr_with_audio_sizes(self: msgspec.Struct) -> str:
    """A repr that shows audio ``bytes`` by size: a second of audio would fill a screen."""
    parts: list[str] = []
    for name in self.__struct_fields__:
        value = getattr(self, name)
        if value is msgspec.UNSET:
            continue
        text = f"<{len(value)} bytes>" if isinstance(value, bytes) else repr(value)
        parts.append(f"{name}={text}")
    return f"{type(self).__name__}({', '.join(parts)})"


# gc=False: these Structs hold only data decoded from JSON or given by the caller, never a
# reference back to themselves, so the cycle collector need not track them; skipping that
# bookkeeping makes decoding measurably faster.
# forbid_unknown_fields=True: the one-call decoder fails on a key it does not know instead of
# dropping it silently; the codec then takes its lossless path (see _lossless.py). Frames
# without unknown keys pay nothing for this.
class Model(
    msgspec.Struct,
    frozen=True,
    gc=False,
    kw_only=True,
    repr_omit_defaults=True,
    forbid_unknown_fields=True,
):
    """A nested protocol object without a ``type`` tag.

    ``unknown_fields`` holds the members of the object's JSON that this version does not know
    (``UNSET`` when there were none); they are written back when the object is encoded.
    """

    unknown_fields: UnknownFields | UnsetType = msgspec.field(
        default=UNSET, name=UNKNOWN_FIELDS_KEY
    )


class Tagged(Model, tag_field="type", frozen=True, gc=False, kw_only=True):
    """A protocol object identified on the wire by its ``type`` string."""

    type: ClassVar[str]


class BaseServerEvent(Tagged, frozen=True, gc=False, kw_only=True):
    """Base class of every event the server sends."""


class BaseClientEvent(Tagged, frozen=True, gc=False, kw_only=True):
    """Base class of every event the client sends."""
