"""Base classes shared by every Realtime message Struct.

All messages are frozen, keyword-only msgspec Structs. Objects that the protocol discriminates
by a ``type`` string derive from :class:`Tagged`; msgspec writes and checks the tag on the wire,
and each class restates it as the class attribute ``type`` so that ``obj.type`` works like a
field and pattern matching on classes stays possible.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

__all__ = ["BaseClientEvent", "BaseServerEvent", "Model", "Tagged", "repr_with_audio_sizes"]


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
class Model(msgspec.Struct, frozen=True, gc=False, kw_only=True, repr_omit_defaults=True):
    """A nested protocol object without a ``type`` tag."""


class Tagged(Model, tag_field="type", frozen=True, gc=False, kw_only=True):
    """A protocol object identified on the wire by its ``type`` string."""

    type: ClassVar[str]


class BaseServerEvent(Tagged, frozen=True, gc=False, kw_only=True):
    """Base class of every event the server sends."""


class BaseClientEvent(Tagged, frozen=True, gc=False, kw_only=True):
    """Base class of every event the client sends."""
