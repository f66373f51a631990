"""``ConnectionLike``: what the audio pump, the player and the tool dispatcher need from a session.

Both :class:`~realtime_anyio.RealtimeConnection` and
:class:`~realtime_anyio.resilience.ResilientConnection` satisfy it, so the helpers keep running
when a resilient session replaces its connection underneath them.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from anyio.streams.memory import MemoryObjectReceiveStream

    from ._resources import (
        ConversationResource,
        InputAudioBufferResource,
        ResponseResource,
        SessionResource,
    )
    from .events import BaseServerEvent, ClientEvent, ReceivedEvent

__all__ = ["ConnectionLike"]


class ConnectionLike(Protocol):
    """The part of a connection's surface the library's own helpers use (structural).

    The resources are declared as ``cached_property`` because that is how both connections
    build them (a type checker does not match a cached property against a plain property).
    """

    def next_event_id(self) -> str: ...

    async def send(self, event: ClientEvent | Mapping[str, Any]) -> None: ...

    def send_nowait(self, event: ClientEvent | Mapping[str, Any]) -> None: ...

    async def request(self, event: ClientEvent | Mapping[str, Any]) -> Any: ...

    def subscribe(
        self, *types: str | type[BaseServerEvent], max_buffer: int = 256
    ) -> AbstractAsyncContextManager[MemoryObjectReceiveStream[ReceivedEvent]]: ...

    @cached_property
    def session(self) -> SessionResource: ...

    @cached_property
    def response(self) -> ResponseResource: ...

    @cached_property
    def input_audio_buffer(self) -> InputAudioBufferResource: ...

    @cached_property
    def conversation(self) -> ConversationResource: ...
