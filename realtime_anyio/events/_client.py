"""The eleven events a client sends.

Every client event may carry an ``event_id`` of the client's choosing; the server echoes it in
the ``error`` that rejects the event, which is how a reply is matched to its request.
"""

from __future__ import annotations

from typing import ClassVar, Literal, TypeAlias

from msgspec import UNSET, UnsetType

from ._base import BaseClientEvent, repr_with_audio_sizes
from ._items import ConversationItem
from ._response import ResponseCreateParams
from ._session import Session

__all__ = [
    "ClientEvent",
    "ConversationItemCreate",
    "ConversationItemDelete",
    "ConversationItemRetrieve",
    "ConversationItemTruncate",
    "InputAudioBufferAppend",
    "InputAudioBufferClear",
    "InputAudioBufferCommit",
    "OutputAudioBufferClear",
    "ResponseCancel",
    "ResponseCreate",
    "SessionUpdate",
]


class SessionUpdate(BaseClientEvent, tag="session.update", frozen=True, kw_only=True):
    """Changes the session's configuration; only the fields that are set change.

    The server answers with ``session.updated`` (or an ``error``, and then nothing changes).
    """

    type: ClassVar[Literal["session.update"]] = "session.update"
    event_id: str | UnsetType = UNSET
    session: Session


class InputAudioBufferAppend(
    BaseClientEvent, tag="input_audio_buffer.append", frozen=True, kw_only=True
):
    """Adds audio (raw bytes in the session's input format) to the input buffer."""

    type: ClassVar[Literal["input_audio_buffer.append"]] = "input_audio_buffer.append"
    event_id: str | UnsetType = UNSET
    audio: bytes

    __repr__ = repr_with_audio_sizes


class InputAudioBufferCommit(
    BaseClientEvent, tag="input_audio_buffer.commit", frozen=True, kw_only=True
):
    """Turns the buffered input audio into a user message (needed without turn detection)."""

    type: ClassVar[Literal["input_audio_buffer.commit"]] = "input_audio_buffer.commit"
    event_id: str | UnsetType = UNSET


class InputAudioBufferClear(
    BaseClientEvent, tag="input_audio_buffer.clear", frozen=True, kw_only=True
):
    """Discards the buffered input audio."""

    type: ClassVar[Literal["input_audio_buffer.clear"]] = "input_audio_buffer.clear"
    event_id: str | UnsetType = UNSET


class OutputAudioBufferClear(
    BaseClientEvent, tag="output_audio_buffer.clear", frozen=True, kw_only=True
):
    """Stops the audio being played out (WebRTC and SIP only; a WebSocket rejects it)."""

    type: ClassVar[Literal["output_audio_buffer.clear"]] = "output_audio_buffer.clear"
    event_id: str | UnsetType = UNSET


class ConversationItemCreate(
    BaseClientEvent, tag="conversation.item.create", frozen=True, kw_only=True
):
    """Adds an item to the conversation, after ``previous_item_id`` if given (``"root"``
    puts it first), else at the end."""

    type: ClassVar[Literal["conversation.item.create"]] = "conversation.item.create"
    event_id: str | UnsetType = UNSET
    item: ConversationItem
    previous_item_id: str | UnsetType = UNSET


class ConversationItemTruncate(
    BaseClientEvent, tag="conversation.item.truncate", frozen=True, kw_only=True
):
    """Cuts an assistant audio item at ``audio_end_ms`` (what the user actually heard)."""

    type: ClassVar[Literal["conversation.item.truncate"]] = "conversation.item.truncate"
    event_id: str | UnsetType = UNSET
    item_id: str
    content_index: int
    audio_end_ms: int


class ConversationItemDelete(
    BaseClientEvent, tag="conversation.item.delete", frozen=True, kw_only=True
):
    """Removes an item from the conversation."""

    type: ClassVar[Literal["conversation.item.delete"]] = "conversation.item.delete"
    event_id: str | UnsetType = UNSET
    item_id: str


class ConversationItemRetrieve(
    BaseClientEvent, tag="conversation.item.retrieve", frozen=True, kw_only=True
):
    """Asks for the server's copy of an item, audio included."""

    type: ClassVar[Literal["conversation.item.retrieve"]] = "conversation.item.retrieve"
    event_id: str | UnsetType = UNSET
    item_id: str


class ResponseCreate(BaseClientEvent, tag="response.create", frozen=True, kw_only=True):
    """Asks the model to respond, optionally with per-response overrides."""

    type: ClassVar[Literal["response.create"]] = "response.create"
    event_id: str | UnsetType = UNSET
    response: ResponseCreateParams | UnsetType = UNSET


class ResponseCancel(BaseClientEvent, tag="response.cancel", frozen=True, kw_only=True):
    """Cancels the response in progress (or the one named by ``response_id``)."""

    type: ClassVar[Literal["response.cancel"]] = "response.cancel"
    event_id: str | UnsetType = UNSET
    response_id: str | UnsetType = UNSET


ClientEvent: TypeAlias = (
    SessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | OutputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemTruncate
    | ConversationItemDelete
    | ConversationItemRetrieve
    | ResponseCreate
    | ResponseCancel
)
"""Any event a client sends."""
