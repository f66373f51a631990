"""Base classes shared by every Realtime message Struct.

All messages are frozen, keyword-only msgspec Structs. Objects that the protocol discriminates
by a ``type`` string derive from :class:`Tagged`; msgspec writes and checks the tag on the wire,
and each class restates it as the class attribute ``type`` so that ``obj.type`` works like a
field and pattern matching on classes stays possible.
"""

from __future__ import annotations

from typing import ClassVar

import msgspec

__all__ = ["BaseClientEvent", "BaseServerEvent", "Model", "Tagged"]


class Model(msgspec.Struct, frozen=True, gc=False, kw_only=True, repr_omit_defaults=True):
    """A nested protocol object without a ``type`` tag."""


class Tagged(Model, tag_field="type", frozen=True, gc=False, kw_only=True):
    """A protocol object identified on the wire by its ``type`` string."""

    type: ClassVar[str]


class BaseServerEvent(Tagged, frozen=True, gc=False, kw_only=True):
    """Base class of every event the server sends."""


class BaseClientEvent(Tagged, frozen=True, gc=False, kw_only=True):
    """Base class of every event the client sends."""
