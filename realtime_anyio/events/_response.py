"""Responses: the parameters of ``response.create`` and the response object the server
reports in ``response.created`` / ``response.done``."""

from __future__ import annotations

from msgspec import UNSET, UnsetType

from ._base import Model
from ._items import ConversationItem, ResponseInputItem
from ._session import AudioFormat, Prompt, Reasoning, Tool, ToolChoice, Voice

__all__ = [
    "RealtimeResponse",
    "ResponseAudio",
    "ResponseAudioOutput",
    "ResponseCachedTokensDetails",
    "ResponseCreateParams",
    "ResponseError",
    "ResponseInputTokenDetails",
    "ResponseOutputTokenDetails",
    "ResponseStatusDetails",
    "ResponseUsage",
]


class ResponseAudioOutput(Model, frozen=True, kw_only=True):
    """Output audio format and voice of one response."""

    format: AudioFormat | UnsetType = UNSET
    voice: Voice | UnsetType = UNSET


class ResponseAudio(Model, frozen=True, kw_only=True):
    """Audio settings of one response."""

    output: ResponseAudioOutput | UnsetType = UNSET


class ResponseCreateParams(Model, frozen=True, kw_only=True):
    """Overrides for one response, sent in ``response.create``.

    ``conversation="none"`` makes an out-of-band response that is not added to the default
    conversation; ``input`` replaces the context with the given items (``[]`` for none).
    """

    output_modalities: list[str] | UnsetType = UNSET
    instructions: str | UnsetType = UNSET
    audio: ResponseAudio | UnsetType = UNSET
    tools: list[Tool] | UnsetType = UNSET
    tool_choice: ToolChoice | UnsetType = UNSET
    parallel_tool_calls: bool | UnsetType = UNSET
    reasoning: Reasoning | UnsetType = UNSET
    max_output_tokens: int | str | UnsetType = UNSET
    conversation: str | UnsetType = UNSET
    metadata: dict[str, str] | UnsetType | None = UNSET
    prompt: Prompt | UnsetType | None = UNSET
    input: list[ResponseInputItem] | UnsetType = UNSET


class ResponseError(Model, frozen=True, kw_only=True):
    """Why a response failed (for example ``code="rate_limit_exceeded"``)."""

    type: str | UnsetType | None = UNSET
    code: str | UnsetType | None = UNSET
    message: str | UnsetType | None = UNSET


class ResponseStatusDetails(Model, frozen=True, kw_only=True):
    """More about a status: ``reason`` (``"turn_detected"``, ``"client_cancelled"``,
    ``"max_output_tokens"``, ``"content_filter"``) or the ``error`` of a failed response."""

    type: str | UnsetType | None = UNSET
    reason: str | UnsetType | None = UNSET
    error: ResponseError | UnsetType | None = UNSET


class ResponseCachedTokensDetails(Model, frozen=True, kw_only=True):
    """How the cached input tokens split by modality."""

    text_tokens: int | UnsetType = UNSET
    image_tokens: int | UnsetType = UNSET
    audio_tokens: int | UnsetType = UNSET


class ResponseInputTokenDetails(Model, frozen=True, kw_only=True):
    """How the input tokens split by modality and cache."""

    cached_tokens: int | UnsetType = UNSET
    text_tokens: int | UnsetType = UNSET
    image_tokens: int | UnsetType = UNSET
    audio_tokens: int | UnsetType = UNSET
    cached_tokens_details: ResponseCachedTokensDetails | UnsetType | None = UNSET


class ResponseOutputTokenDetails(Model, frozen=True, kw_only=True):
    """How the output tokens split by modality; ``reasoning_tokens`` (sent by reasoning
    models, not yet in the published schema) counts the tokens spent thinking."""

    text_tokens: int | UnsetType = UNSET
    audio_tokens: int | UnsetType = UNSET
    reasoning_tokens: int | UnsetType = UNSET


class ResponseUsage(Model, frozen=True, kw_only=True):
    """Tokens billed for one response (reported in ``response.done``)."""

    total_tokens: int | UnsetType = UNSET
    input_tokens: int | UnsetType = UNSET
    output_tokens: int | UnsetType = UNSET
    input_token_details: ResponseInputTokenDetails | UnsetType | None = UNSET
    output_token_details: ResponseOutputTokenDetails | UnsetType | None = UNSET


class RealtimeResponse(Model, frozen=True, kw_only=True):
    """A response of the model: its status, output items and usage.

    ``status`` is ``"in_progress"`` in ``response.created`` and one of ``"completed"``,
    ``"cancelled"``, ``"failed"`` or ``"incomplete"`` in ``response.done``.
    """

    id: str | UnsetType = UNSET
    object: str | UnsetType = UNSET
    status: str | UnsetType = UNSET
    status_details: ResponseStatusDetails | UnsetType | None = UNSET
    output: list[ConversationItem] | UnsetType = UNSET
    metadata: dict[str, str] | UnsetType | None = UNSET
    audio: ResponseAudio | UnsetType | None = UNSET
    usage: ResponseUsage | UnsetType | None = UNSET
    conversation_id: str | UnsetType | None = UNSET
    output_modalities: list[str] | UnsetType | None = UNSET
    max_output_tokens: int | str | UnsetType | None = UNSET
