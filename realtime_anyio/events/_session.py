"""Session configuration: the ``session`` object of ``session.update``, ``session.created``
and ``session.updated``, and everything nested in it.

A session is either a :class:`RealtimeSession` (``type: "realtime"``, speech-to-speech) or a
:class:`TranscriptionSession` (``type: "transcription"``). One Struct serves both directions:
the fields only the server fills in (``id``, ``object``, ``expires_at``) are simply left unset
when the client sends an update.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeAlias

from msgspec import UNSET, UnsetType

from ._base import Model, Tagged
from ._items import InputFileContent, InputImageContent, InputTextContent

__all__ = [
    "AudioFormat",
    "AudioTranscription",
    "CustomVoice",
    "FunctionTool",
    "McpTool",
    "McpToolApprovalFilter",
    "McpToolFilter",
    "NoiseReduction",
    "Prompt",
    "PromptVariable",
    "Reasoning",
    "RealtimeSession",
    "RetentionRatioTruncation",
    "SemanticVad",
    "ServerVad",
    "Session",
    "SessionAudio",
    "SessionAudioInput",
    "SessionAudioOutput",
    "TokenLimits",
    "Tool",
    "ToolChoice",
    "ToolChoiceFunction",
    "ToolChoiceMcp",
    "TracingConfig",
    "TranscriptionSession",
    "Truncation",
    "TurnDetection",
    "Voice",
]


# --- audio -----------------------------------------------------------------------------------


class AudioFormat(Model, frozen=True, kw_only=True):
    """An audio encoding: ``audio/pcm`` (16-bit mono, ``rate`` 24000), ``audio/pcmu`` or
    ``audio/pcma`` (G.711 at 8 kHz).

    ``type`` is a plain string so that formats added later still decode. Build one with
    :meth:`pcm`, :meth:`pcmu` or :meth:`pcma`.
    """

    type: str | UnsetType = UNSET
    rate: int | UnsetType = UNSET

    @classmethod
    def pcm(cls, rate: int = 24000) -> AudioFormat:
        """16-bit little-endian mono PCM at ``rate`` Hz (the service accepts only 24000)."""
        return cls(type="audio/pcm", rate=rate)

    @classmethod
    def pcmu(cls) -> AudioFormat:
        """G.711 µ-law at 8 kHz."""
        return cls(type="audio/pcmu")

    @classmethod
    def pcma(cls) -> AudioFormat:
        """G.711 A-law at 8 kHz."""
        return cls(type="audio/pcma")


class NoiseReduction(Model, frozen=True, kw_only=True):
    """Input noise reduction: ``type`` is ``"near_field"`` or ``"far_field"``; ``strength``
    tunes how hard it suppresses."""

    type: str | UnsetType = UNSET
    strength: float | UnsetType = UNSET


class AudioTranscription(Model, frozen=True, kw_only=True):
    """How (and whether) the user's audio is transcribed, e.g. ``model="gpt-4o-transcribe"``."""

    model: str | UnsetType | None = UNSET
    language: str | UnsetType | None = UNSET
    languages: list[str] | UnsetType | None = UNSET
    keywords: list[str] | UnsetType | None = UNSET
    prompt: str | UnsetType | None = UNSET
    delay: str | UnsetType | None = UNSET


class ServerVad(Tagged, tag="server_vad", frozen=True, kw_only=True):
    """Turn detection by silence: a turn ends after ``silence_duration_ms`` of quiet."""

    type: ClassVar[Literal["server_vad"]] = "server_vad"
    threshold: float | UnsetType = UNSET
    prefix_padding_ms: int | UnsetType = UNSET
    silence_duration_ms: int | UnsetType = UNSET
    create_response: bool | UnsetType = UNSET
    interrupt_response: bool | UnsetType = UNSET
    idle_timeout_ms: int | UnsetType | None = UNSET


class SemanticVad(Tagged, tag="semantic_vad", frozen=True, kw_only=True):
    """Turn detection by a model that judges whether the user has finished speaking."""

    type: ClassVar[Literal["semantic_vad"]] = "semantic_vad"
    eagerness: str | UnsetType = UNSET
    create_response: bool | UnsetType = UNSET
    interrupt_response: bool | UnsetType = UNSET


TurnDetection: TypeAlias = ServerVad | SemanticVad
"""Voice activity detection; send ``turn_detection=None`` to turn it off."""


class CustomVoice(Model, frozen=True, kw_only=True):
    """A custom voice, named by its id."""

    id: str


Voice: TypeAlias = str | CustomVoice
"""A built-in voice name (``"alloy"``, ``"marin"``, …) or a :class:`CustomVoice`."""


class SessionAudioInput(Model, frozen=True, kw_only=True):
    """Input audio settings; ``None`` (sent as ``null``) switches a feature off."""

    format: AudioFormat | UnsetType = UNSET
    transcription: AudioTranscription | UnsetType | None = UNSET
    noise_reduction: NoiseReduction | UnsetType | None = UNSET
    turn_detection: TurnDetection | UnsetType | None = UNSET


class SessionAudioOutput(Model, frozen=True, kw_only=True):
    """Output audio settings: format, voice and speaking speed (0.25 to 1.5)."""

    format: AudioFormat | UnsetType = UNSET
    voice: Voice | UnsetType = UNSET
    speed: float | UnsetType = UNSET


class SessionAudio(Model, frozen=True, kw_only=True):
    """Audio settings of a session (a transcription session has no ``output``)."""

    input: SessionAudioInput | UnsetType = UNSET
    output: SessionAudioOutput | UnsetType = UNSET


# --- tools -----------------------------------------------------------------------------------


class FunctionTool(Tagged, tag="function", frozen=True, kw_only=True):
    """A function the model may ask the client to call; ``parameters`` is a JSON Schema."""

    type: ClassVar[Literal["function"]] = "function"
    name: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    parameters: dict[str, Any] | UnsetType = UNSET


class McpToolFilter(Model, frozen=True, kw_only=True):
    """Selects MCP tools by name and/or by their read-only hint."""

    tool_names: list[str] | UnsetType = UNSET
    read_only: bool | UnsetType = UNSET


class McpToolApprovalFilter(Model, frozen=True, kw_only=True):
    """Which MCP tools always need approval and which never do."""

    always: McpToolFilter | UnsetType = UNSET
    never: McpToolFilter | UnsetType = UNSET


class McpTool(Tagged, tag="mcp", frozen=True, kw_only=True):
    """A remote MCP server (or connector) whose tools the service may call itself."""

    type: ClassVar[Literal["mcp"]] = "mcp"
    server_label: str
    server_url: str | UnsetType = UNSET
    connector_id: str | UnsetType = UNSET
    tunnel_id: str | UnsetType = UNSET
    authorization: str | UnsetType = UNSET
    server_description: str | UnsetType = UNSET
    headers: dict[str, str] | UnsetType | None = UNSET
    allowed_tools: list[str] | McpToolFilter | UnsetType | None = UNSET
    allowed_callers: list[str] | UnsetType | None = UNSET
    require_approval: str | McpToolApprovalFilter | UnsetType | None = UNSET
    defer_loading: bool | UnsetType = UNSET


Tool: TypeAlias = FunctionTool | McpTool
"""A tool the model may use."""


class ToolChoiceFunction(Tagged, tag="function", frozen=True, kw_only=True):
    """Forces the model to call the function ``name``."""

    type: ClassVar[Literal["function"]] = "function"
    name: str


class ToolChoiceMcp(Tagged, tag="mcp", frozen=True, kw_only=True):
    """Forces the model to use a tool of the MCP server ``server_label``."""

    type: ClassVar[Literal["mcp"]] = "mcp"
    server_label: str
    name: str | UnsetType | None = UNSET


ToolChoice: TypeAlias = str | ToolChoiceFunction | ToolChoiceMcp
"""``"auto"``, ``"none"``, ``"required"``, or a specific function or MCP tool."""


# --- the rest of the session ----------------------------------------------------------------


class TracingConfig(Model, frozen=True, kw_only=True):
    """Names the trace of this session in the Traces dashboard."""

    workflow_name: str | UnsetType = UNSET
    group_id: str | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET


class TokenLimits(Model, frozen=True, kw_only=True):
    """Token limits for retention-ratio truncation."""

    post_instructions: int | UnsetType = UNSET


class RetentionRatioTruncation(Tagged, tag="retention_ratio", frozen=True, kw_only=True):
    """When the context overflows, drop old turns until ``retention_ratio`` of it is kept."""

    type: ClassVar[Literal["retention_ratio"]] = "retention_ratio"
    retention_ratio: float
    token_limits: TokenLimits | UnsetType = UNSET


Truncation: TypeAlias = str | RetentionRatioTruncation
"""``"auto"``, ``"disabled"`` or a :class:`RetentionRatioTruncation`."""


class Reasoning(Model, frozen=True, kw_only=True):
    """Reasoning effort for reasoning models (``"minimal"`` … ``"xhigh"``)."""

    effort: str | UnsetType | None = UNSET


PromptVariable: TypeAlias = str | InputTextContent | InputImageContent | InputFileContent
"""A value substituted into a stored prompt."""


class Prompt(Model, frozen=True, kw_only=True):
    """A reference to a stored prompt template and the values of its variables."""

    id: str
    version: str | UnsetType | None = UNSET
    variables: dict[str, PromptVariable] | UnsetType | None = UNSET


class RealtimeSession(Tagged, tag="realtime", frozen=True, kw_only=True):
    """A speech-to-speech session: the configuration sent in ``session.update``, and the one
    the server reports in ``session.created`` / ``session.updated``.

    Only the fields that are set are sent. ``None`` is sent as ``null``, which the service
    reads as "switch off" where that makes sense (``tracing``, ``turn_detection``, …).
    """

    type: ClassVar[Literal["realtime"]] = "realtime"
    id: str | UnsetType = UNSET
    object: str | UnsetType = UNSET
    expires_at: int | UnsetType = UNSET
    model: str | UnsetType | None = UNSET
    output_modalities: list[str] | UnsetType | None = UNSET
    instructions: str | UnsetType | None = UNSET
    audio: SessionAudio | UnsetType | None = UNSET
    include: list[str] | UnsetType | None = UNSET
    tracing: str | TracingConfig | UnsetType | None = UNSET
    tools: list[Tool] | UnsetType | None = UNSET
    tool_choice: ToolChoice | UnsetType | None = UNSET
    parallel_tool_calls: bool | UnsetType | None = UNSET
    reasoning: Reasoning | UnsetType | None = UNSET
    max_output_tokens: int | str | UnsetType | None = UNSET
    truncation: Truncation | UnsetType | None = UNSET
    prompt: Prompt | UnsetType | None = UNSET


class TranscriptionSession(Tagged, tag="transcription", frozen=True, kw_only=True):
    """A transcription-only session: input audio in, transcription events out."""

    type: ClassVar[Literal["transcription"]] = "transcription"
    id: str | UnsetType = UNSET
    object: str | UnsetType = UNSET
    expires_at: int | UnsetType = UNSET
    audio: SessionAudio | UnsetType | None = UNSET
    include: list[str] | UnsetType | None = UNSET


Session: TypeAlias = RealtimeSession | TranscriptionSession
"""Either kind of session."""
