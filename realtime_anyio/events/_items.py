"""Conversation items, their content parts, and helpers that build the common ones.

Three item roles (system, user, assistant) share the wire tag ``"message"``, so they are one
Struct, :class:`MessageItem`, with a ``role`` string. Its ``content`` is a list of parts, and
each part kind is its own Struct tagged by the part's ``type`` (``input_text``,
``input_audio``, ``input_image``, ``output_text``, ``output_audio``, and the ``text`` /
``audio`` parts of ``response.content_part.*`` events). Audio is raw ``bytes`` in Python and
base64 on the wire.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, TypeAlias

from msgspec import UNSET, UnsetType

from ._base import Model, Tagged, repr_with_audio_sizes

__all__ = [
    "AudioContent",
    "ContentPart",
    "ConversationItem",
    "FunctionCallItem",
    "FunctionCallOutputItem",
    "InputAudioContent",
    "InputFileContent",
    "InputImageContent",
    "InputTextContent",
    "ItemReference",
    "McpApprovalRequestItem",
    "McpApprovalResponseItem",
    "McpCallItem",
    "McpError",
    "McpHttpError",
    "McpListToolsItem",
    "McpListToolsTool",
    "McpProtocolError",
    "McpToolExecutionError",
    "MessageItem",
    "OutputAudioContent",
    "OutputTextContent",
    "PromptCacheBreakpoint",
    "ResponseInputItem",
    "TextContent",
    "assistant_text",
    "function_call_output",
    "mcp_approval_response",
    "system_text",
    "user_audio",
    "user_image",
    "user_text",
]


# --- content parts ---------------------------------------------------------------------------


class PromptCacheBreakpoint(Model, frozen=True, kw_only=True):
    """Marks a prompt-cache breakpoint on a content part (``mode`` is ``"explicit"``,
    ``ttl`` an optional minimum lifetime such as ``"30m"``)."""

    mode: str | UnsetType = UNSET
    ttl: str | UnsetType | None = UNSET


class InputTextContent(Tagged, tag="input_text", frozen=True, kw_only=True):
    """Text written by the user or the system."""

    type: ClassVar[Literal["input_text"]] = "input_text"
    text: str | UnsetType = UNSET
    prompt_cache_breakpoint: PromptCacheBreakpoint | UnsetType = UNSET


class InputAudioContent(Tagged, tag="input_audio", frozen=True, kw_only=True):
    """Audio from the user: raw PCM (or G.711) bytes, and its transcript once known.

    Item events leave ``audio`` out; ``conversation.item.retrieved`` includes it.
    """

    type: ClassVar[Literal["input_audio"]] = "input_audio"
    audio: bytes | UnsetType = UNSET
    transcript: str | UnsetType | None = UNSET

    __repr__ = repr_with_audio_sizes


class InputImageContent(Tagged, tag="input_image", frozen=True, kw_only=True):
    """An image from the user, as a URL (often a ``data:`` URL) or an uploaded file id."""

    type: ClassVar[Literal["input_image"]] = "input_image"
    image_url: str | UnsetType | None = UNSET
    detail: str | UnsetType = UNSET
    file_id: str | UnsetType | None = UNSET
    prompt_cache_breakpoint: PromptCacheBreakpoint | UnsetType = UNSET


class InputFileContent(Tagged, tag="input_file", frozen=True, kw_only=True):
    """A file given as a prompt variable: by id, by URL or inline as ``file_data``."""

    type: ClassVar[Literal["input_file"]] = "input_file"
    file_id: str | UnsetType | None = UNSET
    filename: str | UnsetType = UNSET
    file_data: str | UnsetType = UNSET
    file_url: str | UnsetType = UNSET
    detail: str | UnsetType = UNSET
    prompt_cache_breakpoint: PromptCacheBreakpoint | UnsetType = UNSET


class OutputTextContent(Tagged, tag="output_text", frozen=True, kw_only=True):
    """Text the assistant produced."""

    type: ClassVar[Literal["output_text"]] = "output_text"
    text: str | UnsetType = UNSET


class OutputAudioContent(Tagged, tag="output_audio", frozen=True, kw_only=True):
    """Audio the assistant produced; item events carry only its ``transcript``."""

    type: ClassVar[Literal["output_audio"]] = "output_audio"
    audio: bytes | UnsetType = UNSET
    transcript: str | UnsetType | None = UNSET

    __repr__ = repr_with_audio_sizes


class TextContent(Tagged, tag="text", frozen=True, kw_only=True):
    """The text part announced by ``response.content_part.added`` / ``.done``."""

    type: ClassVar[Literal["text"]] = "text"
    text: str | UnsetType = UNSET


class AudioContent(Tagged, tag="audio", frozen=True, kw_only=True):
    """The audio part announced by ``response.content_part.added`` / ``.done``.

    ``format`` names the audio encoding (``"pcm16"`` in the protocol's own example of
    ``conversation.item.retrieved``); it is an open string.
    """

    type: ClassVar[Literal["audio"]] = "audio"
    audio: bytes | UnsetType = UNSET
    transcript: str | UnsetType | None = UNSET
    format: str | UnsetType | None = UNSET

    __repr__ = repr_with_audio_sizes


ContentPart: TypeAlias = (
    InputTextContent
    | InputAudioContent
    | InputImageContent
    | OutputTextContent
    | OutputAudioContent
    | TextContent
    | AudioContent
)
"""Any part of a message's ``content`` (or of a ``response.content_part.*`` event)."""


# --- MCP pieces ------------------------------------------------------------------------------


class McpProtocolError(Tagged, tag="protocol_error", frozen=True, kw_only=True):
    """The MCP server broke the MCP protocol."""

    type: ClassVar[Literal["protocol_error"]] = "protocol_error"
    code: int
    message: str


class McpToolExecutionError(Tagged, tag="tool_execution_error", frozen=True, kw_only=True):
    """The MCP tool ran and failed."""

    type: ClassVar[Literal["tool_execution_error"]] = "tool_execution_error"
    message: str


class McpHttpError(Tagged, tag="http_error", frozen=True, kw_only=True):
    """The MCP server answered with an HTTP error."""

    type: ClassVar[Literal["http_error"]] = "http_error"
    code: int
    message: str


McpError: TypeAlias = McpProtocolError | McpToolExecutionError | McpHttpError
"""Why an MCP call failed."""


class McpListToolsTool(Model, frozen=True, kw_only=True):
    """One tool offered by an MCP server."""

    name: str
    input_schema: dict[str, Any]
    description: str | UnsetType | None = UNSET
    annotations: dict[str, Any] | UnsetType | None = UNSET


# --- items -----------------------------------------------------------------------------------


class MessageItem(Tagged, tag="message", frozen=True, kw_only=True):
    """A system, user or assistant message (``role`` says which).

    ``phase`` is set by current models on assistant messages: ``"commentary"`` for what the
    model says while it works (before a tool call, say) and ``"final_answer"`` for its answer.
    The service asks for it back when history is replayed, so keep it on items you resend.
    """

    type: ClassVar[Literal["message"]] = "message"
    role: str
    content: list[ContentPart]
    id: str | UnsetType = UNSET
    object: str | UnsetType = UNSET
    status: str | UnsetType = UNSET
    phase: str | UnsetType | None = UNSET


class FunctionCallItem(Tagged, tag="function_call", frozen=True, kw_only=True):
    """The model asks the client to call a function; ``arguments`` is a JSON string."""

    type: ClassVar[Literal["function_call"]] = "function_call"
    name: str
    arguments: str
    call_id: str | UnsetType = UNSET
    id: str | UnsetType = UNSET
    object: str | UnsetType = UNSET
    status: str | UnsetType = UNSET


class FunctionCallOutputItem(Tagged, tag="function_call_output", frozen=True, kw_only=True):
    """The client's result for a function call, matched to it by ``call_id``."""

    type: ClassVar[Literal["function_call_output"]] = "function_call_output"
    call_id: str
    output: str
    id: str | UnsetType = UNSET
    object: str | UnsetType = UNSET
    status: str | UnsetType = UNSET


class McpApprovalRequestItem(Tagged, tag="mcp_approval_request", frozen=True, kw_only=True):
    """The model wants to call an MCP tool that needs the client's approval first."""

    type: ClassVar[Literal["mcp_approval_request"]] = "mcp_approval_request"
    server_label: str
    name: str
    arguments: str
    id: str | UnsetType = UNSET


class McpApprovalResponseItem(Tagged, tag="mcp_approval_response", frozen=True, kw_only=True):
    """The client's answer to an :class:`McpApprovalRequestItem`."""

    type: ClassVar[Literal["mcp_approval_response"]] = "mcp_approval_response"
    approval_request_id: str
    approve: bool
    id: str | UnsetType = UNSET
    reason: str | UnsetType | None = UNSET


class McpListToolsItem(Tagged, tag="mcp_list_tools", frozen=True, kw_only=True):
    """The tools an MCP server listed for this session."""

    type: ClassVar[Literal["mcp_list_tools"]] = "mcp_list_tools"
    server_label: str
    tools: list[McpListToolsTool]
    id: str | UnsetType = UNSET


class McpCallItem(Tagged, tag="mcp_call", frozen=True, kw_only=True):
    """A call of an MCP tool made by the service, with its output or error."""

    type: ClassVar[Literal["mcp_call"]] = "mcp_call"
    server_label: str
    name: str
    arguments: str
    id: str | UnsetType = UNSET
    approval_request_id: str | UnsetType | None = UNSET
    output: str | UnsetType | None = UNSET
    error: McpError | UnsetType | None = UNSET


ConversationItem: TypeAlias = (
    MessageItem
    | FunctionCallItem
    | FunctionCallOutputItem
    | McpApprovalRequestItem
    | McpApprovalResponseItem
    | McpListToolsItem
    | McpCallItem
)
"""Any item of a conversation."""


class ItemReference(Tagged, tag="item_reference", frozen=True, kw_only=True):
    """Points at an existing item by id; valid only in ``response.create``'s ``input``."""

    type: ClassVar[Literal["item_reference"]] = "item_reference"
    id: str


ResponseInputItem: TypeAlias = ConversationItem | ItemReference
"""What ``response.create`` accepts in its ``input`` list."""


# --- helpers ---------------------------------------------------------------------------------


def user_text(text: str, *, id: str | UnsetType = UNSET) -> MessageItem:
    """A user message holding one ``input_text`` part."""
    return MessageItem(role="user", content=[InputTextContent(text=text)], id=id)


def user_audio(
    pcm: bytes, *, transcript: str | UnsetType = UNSET, id: str | UnsetType = UNSET
) -> MessageItem:
    """A user message holding one ``input_audio`` part (audio in the session's input format)."""
    return MessageItem(
        role="user", content=[InputAudioContent(audio=pcm, transcript=transcript)], id=id
    )


def user_image(
    image_url: str, *, detail: str | UnsetType = UNSET, id: str | UnsetType = UNSET
) -> MessageItem:
    """A user message holding one ``input_image`` part (a URL or a ``data:`` URL)."""
    return MessageItem(
        role="user", content=[InputImageContent(image_url=image_url, detail=detail)], id=id
    )


def system_text(text: str, *, id: str | UnsetType = UNSET) -> MessageItem:
    """A system message holding one ``input_text`` part."""
    return MessageItem(role="system", content=[InputTextContent(text=text)], id=id)


def assistant_text(text: str, *, id: str | UnsetType = UNSET) -> MessageItem:
    """An assistant message holding one ``output_text`` part (to seed a conversation)."""
    return MessageItem(role="assistant", content=[OutputTextContent(text=text)], id=id)


def function_call_output(
    call_id: str, output: str, *, id: str | UnsetType = UNSET
) -> FunctionCallOutputItem:
    """The result of the function call ``call_id``; ``output`` is usually a JSON string."""
    return FunctionCallOutputItem(call_id=call_id, output=output, id=id)


def mcp_approval_response(
    approval_request_id: str,
    approve: bool,
    *,
    reason: str | UnsetType = UNSET,
    id: str | UnsetType = UNSET,
) -> McpApprovalResponseItem:
    """The client's yes or no to the MCP approval request ``approval_request_id``."""
    return McpApprovalResponseItem(
        approval_request_id=approval_request_id, approve=approve, reason=reason, id=id
    )
