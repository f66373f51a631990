"""The forty-six events the server sends, and the small objects only they carry.

Every server event has an ``event_id`` assigned by the server. It identifies the event and
nothing else, so a frame without one (or with ``null``) still decodes: ``event_id`` is then
``UNSET`` (or ``None``).
"""

from __future__ import annotations

from typing import ClassVar, Literal, TypeAlias

from msgspec import UNSET, UnsetType

from ._base import BaseServerEvent, Model, Tagged, repr_with_audio_sizes
from ._items import ContentPart, ConversationItem
from ._response import RealtimeResponse
from ._session import Session

__all__ = [
    "Conversation",
    "ConversationCreated",
    "ConversationItemAdded",
    "ConversationItemCreated",
    "ConversationItemDeleted",
    "ConversationItemDone",
    "ConversationItemInputAudioTranscriptionCompleted",
    "ConversationItemInputAudioTranscriptionDelta",
    "ConversationItemInputAudioTranscriptionFailed",
    "ConversationItemInputAudioTranscriptionSegment",
    "ConversationItemRetrieved",
    "ConversationItemTruncated",
    "Error",
    "ErrorDetails",
    "ErrorEvent",
    "InputAudioBufferCleared",
    "InputAudioBufferCommitted",
    "InputAudioBufferDtmfEventReceived",
    "InputAudioBufferSpeechStarted",
    "InputAudioBufferSpeechStopped",
    "InputAudioBufferTimeoutTriggered",
    "LogProb",
    "McpListToolsCompleted",
    "McpListToolsFailed",
    "McpListToolsInProgress",
    "OutputAudioBufferCleared",
    "OutputAudioBufferStarted",
    "OutputAudioBufferStopped",
    "RateLimit",
    "RateLimitsUpdated",
    "ResponseContentPartAdded",
    "ResponseContentPartDone",
    "ResponseCreated",
    "ResponseDone",
    "ResponseFunctionCallArgumentsDelta",
    "ResponseFunctionCallArgumentsDone",
    "ResponseMcpCallArgumentsDelta",
    "ResponseMcpCallArgumentsDone",
    "ResponseMcpCallCompleted",
    "ResponseMcpCallFailed",
    "ResponseMcpCallInProgress",
    "ResponseOutputAudioDelta",
    "ResponseOutputAudioDone",
    "ResponseOutputAudioTranscriptDelta",
    "ResponseOutputAudioTranscriptDone",
    "ResponseOutputItemAdded",
    "ResponseOutputItemDone",
    "ResponseOutputTextDelta",
    "ResponseOutputTextDone",
    "ServerEvent",
    "SessionCreated",
    "SessionUpdated",
    "TranscriptionError",
    "TranscriptionInputTokenDetails",
    "TranscriptionLanguage",
    "TranscriptionUsage",
    "TranscriptionUsageDuration",
    "TranscriptionUsageTokens",
]


# --- objects carried only by server events ---------------------------------------------------


class ErrorDetails(Model, frozen=True, kw_only=True):
    """What went wrong: ``type`` (e.g. ``"invalid_request_error"``), ``code``, a human
    ``message``, the offending ``param``, and the ``event_id`` of the client event that
    caused it (``None`` when it was not caused by one)."""

    type: str
    message: str
    code: str | UnsetType | None = UNSET
    param: str | UnsetType | None = UNSET
    event_id: str | UnsetType | None = UNSET


class TranscriptionError(Model, frozen=True, kw_only=True):
    """Why the transcription of an input audio item failed."""

    type: str | UnsetType | None = UNSET
    code: str | UnsetType | None = UNSET
    message: str | UnsetType | None = UNSET
    param: str | UnsetType | None = UNSET


class Conversation(Model, frozen=True, kw_only=True):
    """The conversation of a session (``object`` is ``"realtime.conversation"``)."""

    id: str | UnsetType = UNSET
    object: str | UnsetType = UNSET


class RateLimit(Model, frozen=True, kw_only=True):
    """One rate limit: ``name`` (``"tokens"`` or ``"requests"``), what is left of ``limit``,
    and the seconds until it resets."""

    name: str | UnsetType = UNSET
    limit: int | UnsetType = UNSET
    remaining: int | UnsetType = UNSET
    reset_seconds: float | UnsetType = UNSET


class LogProb(Model, frozen=True, kw_only=True):
    """The log probability of one transcribed token, and the token's UTF-8 bytes."""

    token: str
    logprob: float
    bytes: list[int]


class TranscriptionLanguage(Model, frozen=True, kw_only=True):
    """A language detected in the transcribed audio (``code`` like ``"en"``)."""

    code: str


class TranscriptionInputTokenDetails(Model, frozen=True, kw_only=True):
    """How a transcription's input tokens split between text and audio."""

    text_tokens: int | UnsetType = UNSET
    audio_tokens: int | UnsetType = UNSET


class TranscriptionUsageTokens(Tagged, tag="tokens", frozen=True, kw_only=True):
    """Transcription billed by tokens."""

    type: ClassVar[Literal["tokens"]] = "tokens"
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_token_details: TranscriptionInputTokenDetails | UnsetType = UNSET


class TranscriptionUsageDuration(Tagged, tag="duration", frozen=True, kw_only=True):
    """Transcription billed by audio duration in seconds."""

    type: ClassVar[Literal["duration"]] = "duration"
    seconds: float


TranscriptionUsage: TypeAlias = TranscriptionUsageTokens | TranscriptionUsageDuration
"""What a transcription cost."""


# --- session and conversation ----------------------------------------------------------------


class Error(BaseServerEvent, tag="error", frozen=True, kw_only=True):
    """The server rejected something; the session goes on unless it then closes.

    ``error.event_id`` names the client event that caused it, when there was one.
    """

    type: ClassVar[Literal["error"]] = "error"
    event_id: str | UnsetType | None = UNSET
    error: ErrorDetails


ErrorEvent = Error


class SessionCreated(BaseServerEvent, tag="session.created", frozen=True, kw_only=True):
    """The first event of a connection, with the session's initial configuration."""

    type: ClassVar[Literal["session.created"]] = "session.created"
    event_id: str | UnsetType | None = UNSET
    session: Session


class SessionUpdated(BaseServerEvent, tag="session.updated", frozen=True, kw_only=True):
    """A ``session.update`` was applied; ``session`` is the whole new configuration."""

    type: ClassVar[Literal["session.updated"]] = "session.updated"
    event_id: str | UnsetType | None = UNSET
    session: Session


class ConversationCreated(BaseServerEvent, tag="conversation.created", frozen=True, kw_only=True):
    """A conversation was created (the GA service no longer sends this)."""

    type: ClassVar[Literal["conversation.created"]] = "conversation.created"
    event_id: str | UnsetType | None = UNSET
    conversation: Conversation


class ConversationItemCreated(
    BaseServerEvent, tag="conversation.item.created", frozen=True, kw_only=True
):
    """An item was added (older form of ``conversation.item.added``; GA does not send it)."""

    type: ClassVar[Literal["conversation.item.created"]] = "conversation.item.created"
    event_id: str | UnsetType | None = UNSET
    previous_item_id: str | UnsetType | None = UNSET
    item: ConversationItem


class ConversationItemAdded(
    BaseServerEvent, tag="conversation.item.added", frozen=True, kw_only=True
):
    """An item entered the conversation after ``previous_item_id`` (``None`` when first).

    Its content may still be growing; ``conversation.item.done`` follows.
    """

    type: ClassVar[Literal["conversation.item.added"]] = "conversation.item.added"
    event_id: str | UnsetType | None = UNSET
    previous_item_id: str | UnsetType | None = UNSET
    item: ConversationItem


class ConversationItemDone(
    BaseServerEvent, tag="conversation.item.done", frozen=True, kw_only=True
):
    """An item is complete (its audio bytes are not included)."""

    type: ClassVar[Literal["conversation.item.done"]] = "conversation.item.done"
    event_id: str | UnsetType | None = UNSET
    previous_item_id: str | UnsetType | None = UNSET
    item: ConversationItem


class ConversationItemRetrieved(
    BaseServerEvent, tag="conversation.item.retrieved", frozen=True, kw_only=True
):
    """The answer to ``conversation.item.retrieve``: the full item, audio included."""

    type: ClassVar[Literal["conversation.item.retrieved"]] = "conversation.item.retrieved"
    event_id: str | UnsetType | None = UNSET
    item: ConversationItem


class ConversationItemTruncated(
    BaseServerEvent, tag="conversation.item.truncated", frozen=True, kw_only=True
):
    """An assistant audio item was cut at ``audio_end_ms``; its transcript was dropped."""

    type: ClassVar[Literal["conversation.item.truncated"]] = "conversation.item.truncated"
    event_id: str | UnsetType | None = UNSET
    item_id: str
    content_index: int
    audio_end_ms: int


class ConversationItemDeleted(
    BaseServerEvent, tag="conversation.item.deleted", frozen=True, kw_only=True
):
    """An item was removed from the conversation."""

    type: ClassVar[Literal["conversation.item.deleted"]] = "conversation.item.deleted"
    event_id: str | UnsetType | None = UNSET
    item_id: str


class ConversationItemInputAudioTranscriptionDelta(
    BaseServerEvent,
    tag="conversation.item.input_audio_transcription.delta",
    frozen=True,
    kw_only=True,
):
    """More of the transcript of a user audio item."""

    type: ClassVar[Literal["conversation.item.input_audio_transcription.delta"]] = (
        "conversation.item.input_audio_transcription.delta"
    )
    event_id: str | UnsetType | None = UNSET
    item_id: str
    content_index: int | UnsetType = UNSET
    delta: str | UnsetType = UNSET
    logprobs: list[LogProb] | UnsetType | None = UNSET
    obfuscation: str | UnsetType | None = UNSET


class ConversationItemInputAudioTranscriptionCompleted(
    BaseServerEvent,
    tag="conversation.item.input_audio_transcription.completed",
    frozen=True,
    kw_only=True,
):
    """The full transcript of a user audio item, and what it cost."""

    type: ClassVar[Literal["conversation.item.input_audio_transcription.completed"]] = (
        "conversation.item.input_audio_transcription.completed"
    )
    event_id: str | UnsetType | None = UNSET
    item_id: str
    content_index: int
    transcript: str
    usage: TranscriptionUsage | UnsetType = UNSET
    languages: list[TranscriptionLanguage] | UnsetType | None = UNSET
    logprobs: list[LogProb] | UnsetType | None = UNSET


class ConversationItemInputAudioTranscriptionSegment(
    BaseServerEvent,
    tag="conversation.item.input_audio_transcription.segment",
    frozen=True,
    kw_only=True,
):
    """A transcribed stretch of user audio attributed to one ``speaker`` (diarization)."""

    type: ClassVar[Literal["conversation.item.input_audio_transcription.segment"]] = (
        "conversation.item.input_audio_transcription.segment"
    )
    event_id: str | UnsetType | None = UNSET
    item_id: str
    content_index: int
    id: str
    text: str
    speaker: str
    start: float
    end: float


class ConversationItemInputAudioTranscriptionFailed(
    BaseServerEvent,
    tag="conversation.item.input_audio_transcription.failed",
    frozen=True,
    kw_only=True,
):
    """Transcribing a user audio item failed; the item itself stays."""

    type: ClassVar[Literal["conversation.item.input_audio_transcription.failed"]] = (
        "conversation.item.input_audio_transcription.failed"
    )
    event_id: str | UnsetType | None = UNSET
    item_id: str
    content_index: int
    error: TranscriptionError


# --- input audio buffer ----------------------------------------------------------------------


class InputAudioBufferCommitted(
    BaseServerEvent, tag="input_audio_buffer.committed", frozen=True, kw_only=True
):
    """The input buffer became the user item ``item_id``."""

    type: ClassVar[Literal["input_audio_buffer.committed"]] = "input_audio_buffer.committed"
    event_id: str | UnsetType | None = UNSET
    previous_item_id: str | UnsetType | None = UNSET
    item_id: str


class InputAudioBufferCleared(
    BaseServerEvent, tag="input_audio_buffer.cleared", frozen=True, kw_only=True
):
    """The input buffer was emptied at the client's request."""

    type: ClassVar[Literal["input_audio_buffer.cleared"]] = "input_audio_buffer.cleared"
    event_id: str | UnsetType | None = UNSET


class InputAudioBufferSpeechStarted(
    BaseServerEvent, tag="input_audio_buffer.speech_started", frozen=True, kw_only=True
):
    """Turn detection heard the user start speaking (time to stop playback)."""

    type: ClassVar[Literal["input_audio_buffer.speech_started"]] = (
        "input_audio_buffer.speech_started"
    )
    event_id: str | UnsetType | None = UNSET
    audio_start_ms: int
    item_id: str


class InputAudioBufferSpeechStopped(
    BaseServerEvent, tag="input_audio_buffer.speech_stopped", frozen=True, kw_only=True
):
    """Turn detection heard the user stop speaking."""

    type: ClassVar[Literal["input_audio_buffer.speech_stopped"]] = (
        "input_audio_buffer.speech_stopped"
    )
    event_id: str | UnsetType | None = UNSET
    audio_end_ms: int
    item_id: str


class InputAudioBufferTimeoutTriggered(
    BaseServerEvent, tag="input_audio_buffer.timeout_triggered", frozen=True, kw_only=True
):
    """The user said nothing for ``idle_timeout_ms``; the buffer is committed as is."""

    type: ClassVar[Literal["input_audio_buffer.timeout_triggered"]] = (
        "input_audio_buffer.timeout_triggered"
    )
    event_id: str | UnsetType | None = UNSET
    audio_start_ms: int
    audio_end_ms: int
    item_id: str


class InputAudioBufferDtmfEventReceived(
    BaseServerEvent, tag="input_audio_buffer.dtmf_event_received", frozen=True, kw_only=True
):
    """A SIP caller pressed a key: ``event`` is the key, ``received_at`` a Unix time."""

    type: ClassVar[Literal["input_audio_buffer.dtmf_event_received"]] = (
        "input_audio_buffer.dtmf_event_received"
    )
    event_id: str | UnsetType | None = UNSET
    event: str
    received_at: int


# --- output audio buffer (WebRTC and SIP) ----------------------------------------------------


class OutputAudioBufferStarted(
    BaseServerEvent, tag="output_audio_buffer.started", frozen=True, kw_only=True
):
    """The service started playing a response's audio (WebRTC and SIP only)."""

    type: ClassVar[Literal["output_audio_buffer.started"]] = "output_audio_buffer.started"
    event_id: str | UnsetType | None = UNSET
    response_id: str


class OutputAudioBufferStopped(
    BaseServerEvent, tag="output_audio_buffer.stopped", frozen=True, kw_only=True
):
    """All of a response's audio has been played (WebRTC and SIP only)."""

    type: ClassVar[Literal["output_audio_buffer.stopped"]] = "output_audio_buffer.stopped"
    event_id: str | UnsetType | None = UNSET
    response_id: str


class OutputAudioBufferCleared(
    BaseServerEvent, tag="output_audio_buffer.cleared", frozen=True, kw_only=True
):
    """Playback was cut off by barge-in or by ``output_audio_buffer.clear``."""

    type: ClassVar[Literal["output_audio_buffer.cleared"]] = "output_audio_buffer.cleared"
    event_id: str | UnsetType | None = UNSET
    response_id: str


# --- responses -------------------------------------------------------------------------------


class ResponseCreated(BaseServerEvent, tag="response.created", frozen=True, kw_only=True):
    """A response started (``status`` ``"in_progress"``, no output yet)."""

    type: ClassVar[Literal["response.created"]] = "response.created"
    event_id: str | UnsetType | None = UNSET
    response: RealtimeResponse


class ResponseDone(BaseServerEvent, tag="response.done", frozen=True, kw_only=True):
    """A response finished, was cancelled or failed; ``response.usage`` holds its cost."""

    type: ClassVar[Literal["response.done"]] = "response.done"
    event_id: str | UnsetType | None = UNSET
    response: RealtimeResponse


class ResponseOutputItemAdded(
    BaseServerEvent, tag="response.output_item.added", frozen=True, kw_only=True
):
    """A response began a new output item."""

    type: ClassVar[Literal["response.output_item.added"]] = "response.output_item.added"
    event_id: str | UnsetType | None = UNSET
    response_id: str
    output_index: int
    item: ConversationItem


class ResponseOutputItemDone(
    BaseServerEvent, tag="response.output_item.done", frozen=True, kw_only=True
):
    """An output item of a response is complete."""

    type: ClassVar[Literal["response.output_item.done"]] = "response.output_item.done"
    event_id: str | UnsetType | None = UNSET
    response_id: str
    output_index: int
    item: ConversationItem


class ResponseContentPartAdded(
    BaseServerEvent, tag="response.content_part.added", frozen=True, kw_only=True
):
    """An output item began a new content part."""

    type: ClassVar[Literal["response.content_part.added"]] = "response.content_part.added"
    event_id: str | UnsetType | None = UNSET
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: ContentPart


class ResponseContentPartDone(
    BaseServerEvent, tag="response.content_part.done", frozen=True, kw_only=True
):
    """A content part of an output item is complete."""

    type: ClassVar[Literal["response.content_part.done"]] = "response.content_part.done"
    event_id: str | UnsetType | None = UNSET
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    part: ContentPart


class ResponseOutputTextDelta(
    BaseServerEvent, tag="response.output_text.delta", frozen=True, kw_only=True
):
    """More text of a text content part."""

    type: ClassVar[Literal["response.output_text.delta"]] = "response.output_text.delta"
    event_id: str | UnsetType | None = UNSET
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str
    obfuscation: str | UnsetType | None = UNSET


class ResponseOutputTextDone(
    BaseServerEvent, tag="response.output_text.done", frozen=True, kw_only=True
):
    """The whole text of a text content part."""

    type: ClassVar[Literal["response.output_text.done"]] = "response.output_text.done"
    event_id: str | UnsetType | None = UNSET
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    text: str


class ResponseOutputAudioDelta(
    BaseServerEvent, tag="response.output_audio.delta", frozen=True, kw_only=True
):
    """More audio of an audio content part, as raw bytes in the session's output format."""

    type: ClassVar[Literal["response.output_audio.delta"]] = "response.output_audio.delta"
    event_id: str | UnsetType | None = UNSET
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: bytes

    __repr__ = repr_with_audio_sizes


class ResponseOutputAudioDone(
    BaseServerEvent, tag="response.output_audio.done", frozen=True, kw_only=True
):
    """The audio of an audio content part is complete."""

    type: ClassVar[Literal["response.output_audio.done"]] = "response.output_audio.done"
    event_id: str | UnsetType | None = UNSET
    response_id: str
    item_id: str
    output_index: int
    content_index: int


class ResponseOutputAudioTranscriptDelta(
    BaseServerEvent, tag="response.output_audio_transcript.delta", frozen=True, kw_only=True
):
    """More of the transcript of the audio being generated."""

    type: ClassVar[Literal["response.output_audio_transcript.delta"]] = (
        "response.output_audio_transcript.delta"
    )
    event_id: str | UnsetType | None = UNSET
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    delta: str
    obfuscation: str | UnsetType | None = UNSET


class ResponseOutputAudioTranscriptDone(
    BaseServerEvent, tag="response.output_audio_transcript.done", frozen=True, kw_only=True
):
    """The whole transcript of an audio content part."""

    type: ClassVar[Literal["response.output_audio_transcript.done"]] = (
        "response.output_audio_transcript.done"
    )
    event_id: str | UnsetType | None = UNSET
    response_id: str
    item_id: str
    output_index: int
    content_index: int
    transcript: str


class ResponseFunctionCallArgumentsDelta(
    BaseServerEvent, tag="response.function_call_arguments.delta", frozen=True, kw_only=True
):
    """More of a function call's JSON arguments."""

    type: ClassVar[Literal["response.function_call_arguments.delta"]] = (
        "response.function_call_arguments.delta"
    )
    event_id: str | UnsetType | None = UNSET
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str
    obfuscation: str | UnsetType | None = UNSET


class ResponseFunctionCallArgumentsDone(
    BaseServerEvent, tag="response.function_call_arguments.done", frozen=True, kw_only=True
):
    """A function call is complete: call ``name`` with ``arguments`` (a JSON string)."""

    type: ClassVar[Literal["response.function_call_arguments.done"]] = (
        "response.function_call_arguments.done"
    )
    event_id: str | UnsetType | None = UNSET
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    name: str
    arguments: str


class ResponseMcpCallArgumentsDelta(
    BaseServerEvent, tag="response.mcp_call_arguments.delta", frozen=True, kw_only=True
):
    """More of an MCP call's JSON arguments."""

    type: ClassVar[Literal["response.mcp_call_arguments.delta"]] = (
        "response.mcp_call_arguments.delta"
    )
    event_id: str | UnsetType | None = UNSET
    response_id: str
    item_id: str
    output_index: int
    delta: str
    obfuscation: str | UnsetType | None = UNSET


class ResponseMcpCallArgumentsDone(
    BaseServerEvent, tag="response.mcp_call_arguments.done", frozen=True, kw_only=True
):
    """An MCP call's arguments are complete."""

    type: ClassVar[Literal["response.mcp_call_arguments.done"]] = "response.mcp_call_arguments.done"
    event_id: str | UnsetType | None = UNSET
    response_id: str
    item_id: str
    output_index: int
    arguments: str


class ResponseMcpCallInProgress(
    BaseServerEvent, tag="response.mcp_call.in_progress", frozen=True, kw_only=True
):
    """The service started an MCP tool call."""

    type: ClassVar[Literal["response.mcp_call.in_progress"]] = "response.mcp_call.in_progress"
    event_id: str | UnsetType | None = UNSET
    output_index: int
    item_id: str


class ResponseMcpCallCompleted(
    BaseServerEvent, tag="response.mcp_call.completed", frozen=True, kw_only=True
):
    """An MCP tool call succeeded."""

    type: ClassVar[Literal["response.mcp_call.completed"]] = "response.mcp_call.completed"
    event_id: str | UnsetType | None = UNSET
    output_index: int
    item_id: str


class ResponseMcpCallFailed(
    BaseServerEvent, tag="response.mcp_call.failed", frozen=True, kw_only=True
):
    """An MCP tool call failed; the item's ``error`` says why."""

    type: ClassVar[Literal["response.mcp_call.failed"]] = "response.mcp_call.failed"
    event_id: str | UnsetType | None = UNSET
    output_index: int
    item_id: str


class McpListToolsInProgress(
    BaseServerEvent, tag="mcp_list_tools.in_progress", frozen=True, kw_only=True
):
    """The service is fetching an MCP server's tool list."""

    type: ClassVar[Literal["mcp_list_tools.in_progress"]] = "mcp_list_tools.in_progress"
    event_id: str | UnsetType | None = UNSET
    item_id: str


class McpListToolsCompleted(
    BaseServerEvent, tag="mcp_list_tools.completed", frozen=True, kw_only=True
):
    """An MCP server's tool list arrived (see the ``mcp_list_tools`` item)."""

    type: ClassVar[Literal["mcp_list_tools.completed"]] = "mcp_list_tools.completed"
    event_id: str | UnsetType | None = UNSET
    item_id: str


class McpListToolsFailed(BaseServerEvent, tag="mcp_list_tools.failed", frozen=True, kw_only=True):
    """Fetching an MCP server's tool list failed."""

    type: ClassVar[Literal["mcp_list_tools.failed"]] = "mcp_list_tools.failed"
    event_id: str | UnsetType | None = UNSET
    item_id: str


class RateLimitsUpdated(BaseServerEvent, tag="rate_limits.updated", frozen=True, kw_only=True):
    """The current rate limits, sent after every ``response.done``."""

    type: ClassVar[Literal["rate_limits.updated"]] = "rate_limits.updated"
    event_id: str | UnsetType | None = UNSET
    rate_limits: list[RateLimit]


ServerEvent: TypeAlias = (
    Error
    | SessionCreated
    | SessionUpdated
    | ConversationCreated
    | ConversationItemCreated
    | ConversationItemAdded
    | ConversationItemDone
    | ConversationItemRetrieved
    | ConversationItemTruncated
    | ConversationItemDeleted
    | ConversationItemInputAudioTranscriptionDelta
    | ConversationItemInputAudioTranscriptionCompleted
    | ConversationItemInputAudioTranscriptionSegment
    | ConversationItemInputAudioTranscriptionFailed
    | InputAudioBufferCommitted
    | InputAudioBufferCleared
    | InputAudioBufferSpeechStarted
    | InputAudioBufferSpeechStopped
    | InputAudioBufferTimeoutTriggered
    | InputAudioBufferDtmfEventReceived
    | OutputAudioBufferStarted
    | OutputAudioBufferStopped
    | OutputAudioBufferCleared
    | ResponseCreated
    | ResponseDone
    | ResponseOutputItemAdded
    | ResponseOutputItemDone
    | ResponseContentPartAdded
    | ResponseContentPartDone
    | ResponseOutputTextDelta
    | ResponseOutputTextDone
    | ResponseOutputAudioDelta
    | ResponseOutputAudioDone
    | ResponseOutputAudioTranscriptDelta
    | ResponseOutputAudioTranscriptDone
    | ResponseFunctionCallArgumentsDelta
    | ResponseFunctionCallArgumentsDone
    | ResponseMcpCallArgumentsDelta
    | ResponseMcpCallArgumentsDone
    | ResponseMcpCallInProgress
    | ResponseMcpCallCompleted
    | ResponseMcpCallFailed
    | McpListToolsInProgress
    | McpListToolsCompleted
    | McpListToolsFailed
    | RateLimitsUpdated
)
"""Any event the server sends (46 kinds)."""
