"""What the fake model says: scripted replies, a responder callable, and input transcripts.

A :class:`Script` holds a queue of replies, one per response the server generates, and a
fallback responder used when the queue is empty. A reply is a sequence of items: :class:`Say`
(text, or audio plus transcript, following the response's ``output_modalities``) and
:class:`ToolCall` (a ``function_call`` item). :class:`Reply` adds per-response options: a think
time before the first output, or a failure (``response.done`` with status ``failed``).
"""

from __future__ import annotations

import inspect
import json
import re
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ._audio import SAMPLE_RATE

__all__ = [
    "Failure",
    "Reply",
    "ReplyLike",
    "Responder",
    "Say",
    "Script",
    "ToolCall",
    "Transcriber",
    "TurnContext",
    "choose_tool",
    "default_responder",
]


@dataclass(frozen=True)
class Say:
    """One assistant message: ``text`` is written, or spoken with ``text`` as its transcript.

    ``audio`` (PCM16, 24 kHz mono) replaces the synthesized voice for audio responses.
    """

    text: str
    audio: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ToolCall:
    """One ``function_call`` item; ``arguments`` may be a JSON string or a mapping to encode.

    ``call_id`` defaults to a fresh ``call_…`` id.
    """

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    call_id: str | None = None

    @property
    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), separators=(", ", ": "))


@dataclass(frozen=True)
class Failure:
    """End the response with status ``failed`` and this error (rate limits, quota, …)."""

    code: str = "rate_limit_exceeded"
    message: str = "Rate limit reached for tokens. Please try again in 1s."
    type: str = "requests"


@dataclass(frozen=True)
class Reply:
    """The output of one response: ``items`` in order, after ``delay`` seconds of thinking.

    With ``failure`` set, the response ends ``failed`` after the items (usually none).
    """

    items: tuple[Say | ToolCall, ...] = ()
    delay: float = 0.0
    failure: Failure | None = None

    @staticmethod
    def of(*parts: ReplyLike) -> Reply:
        """Build a reply from strings (spoken or written text), items and replies."""
        items: list[Say | ToolCall] = []
        delay = 0.0
        failure: Failure | None = None
        for part in parts:
            if isinstance(part, Reply):
                items.extend(part.items)
                delay = max(delay, part.delay)
                failure = part.failure or failure
            elif isinstance(part, str):
                items.append(Say(part))
            elif isinstance(part, Failure):
                failure = part
            elif isinstance(part, (Say, ToolCall)):
                items.append(part)
            else:
                nested = Reply.of(*part)
                items.extend(nested.items)
                failure = nested.failure or failure
        return Reply(tuple(items), delay, failure)


#: What a responder may return: text, items, a reply, or a sequence of text and items.
ReplyLike: TypeAlias = (
    str | Say | ToolCall | Failure | Reply | Sequence[str | Say | ToolCall | Failure]
)


@dataclass(frozen=True)
class TurnContext:
    """What a responder sees when a response starts.

    ``input`` is the context the model reads (the conversation, or the response's own ``input``
    for out-of-band responses), items in wire form without audio bytes. ``conversation`` is the
    whole default conversation, ``session`` the effective session configuration, ``response``
    the ``response`` object of the ``response.create`` event (empty for VAD-triggered
    responses), and ``turn`` counts responses in this session from 0.
    """

    input: list[dict[str, Any]]
    conversation: list[dict[str, Any]]
    session: dict[str, Any]
    response: dict[str, Any]
    turn: int

    @property
    def last_item(self) -> dict[str, Any] | None:
        return self.input[-1] if self.input else None

    @property
    def last_user_text(self) -> str | None:
        """The text (or input-audio transcript) of the last user message in ``input``."""
        for item in reversed(self.input):
            if item.get("type") == "message" and item.get("role") == "user":
                texts: list[str] = []
                for part in item.get("content", []):
                    if part.get("type") == "input_text":
                        texts.append(part.get("text") or "")
                    elif part.get("type") == "input_audio" and part.get("transcript"):
                        texts.append(part["transcript"])
                return " ".join(texts) if texts else None
        return None

    @property
    def last_tool_output(self) -> str | None:
        """The output of the last item when it is a ``function_call_output``."""
        last = self.last_item
        if last is not None and last.get("type") == "function_call_output":
            return str(last.get("output", ""))
        return None

    @property
    def tool_names(self) -> list[str]:
        """Names of the function tools the response may call."""
        tools: list[dict[str, Any]] = self.response.get("tools", self.session.get("tools")) or []
        return [str(t["name"]) for t in tools if "name" in t]


#: A responder: given the turn, return the reply (plain or awaitable).
Responder = Callable[[TurnContext], ReplyLike | Awaitable[ReplyLike]]
#: A transcriber: given committed PCM16 audio (24 kHz), return its transcript.
Transcriber = Callable[[bytes], str]


def default_responder(context: TurnContext) -> Reply:
    """The reply used when nothing is scripted: acknowledge tool output, call a function tool
    the user's message asks for (see :func:`choose_tool`), else echo the user."""
    output = context.last_tool_output
    if output is not None:
        return Reply((Say(f"The tool answered: {output}"),))
    tool = choose_tool(context)
    if tool is not None:
        text = context.last_user_text or ""
        return Reply((ToolCall(str(tool["name"]), _guess_arguments(tool, text)),))
    text = context.last_user_text
    if text:
        return Reply((Say(f"You said: {text}"),))
    for item in reversed(context.input):
        if item.get("type") == "message" and item.get("role") == "user":
            return Reply((Say("I heard you."),))
    return Reply((Say("Hello! How can I help?"),))


# Words in tool names that say nothing about what the tool is for.
_VERBS = frozenset(
    {"get", "set", "fetch", "find", "lookup", "look", "query", "make", "create", "run", "call"}
    | {"check", "do", "read", "load", "list", "show", "current", "info", "data", "the", "for"}
    | {"and", "tool", "function"}
)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-Z][\w'-]+)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _object(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return {}


def _name_words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    words = re.split(r"[^A-Za-z0-9]+", spaced)
    return [w.lower() for w in words if len(w) >= 3 and w.lower() not in _VERBS]


def choose_tool(context: TurnContext) -> dict[str, Any] | None:
    """The function tool the default responder calls for this turn, if any.

    Only a turn that answers a user message calls a tool, and only when the response may use
    function tools (``tool_choice`` is not ``"none"``): the one ``tool_choice`` names, else the
    first tool a word of whose name (other than verbs like ``get``) the user's text mentions
    (``get_weather`` for "What's the weather in Paris?"), else, with ``"required"``, the first.
    """
    raw_tools: object = context.response.get("tools", context.session.get("tools"))
    tools = [
        tool
        for tool in map(_object, raw_tools if isinstance(raw_tools, list) else [])  # pyright: ignore[reportUnknownArgumentType]
        if tool.get("type", "function") == "function" and isinstance(tool.get("name"), str)
    ]
    last = context.last_item
    if not tools or last is None or last.get("type") != "message" or last.get("role") != "user":
        return None
    choice: object = context.response.get("tool_choice", context.session.get("tool_choice", "auto"))
    if choice == "none":
        return None
    if isinstance(choice, dict):
        wanted = _object(choice).get("name")  # pyright: ignore[reportUnknownArgumentType]
        return next((tool for tool in tools if tool["name"] == wanted), None)
    text = (context.last_user_text or "").lower()
    for tool in tools:
        for word in _name_words(str(tool["name"])):
            if re.search(rf"\b{re.escape(word)}", text):
                return tool
    return tools[0] if choice == "required" else None


def _guess_arguments(tool: Mapping[str, Any], text: str) -> dict[str, Any]:
    """Arguments for ``tool`` from its JSON schema, filled from the user's ``text``:
    enums take their first value, strings a capitalised word of the text (a place or a name)
    or the text itself, numbers the first number in it."""
    parameters = _object(tool.get("parameters"))
    properties = _object(parameters.get("properties"))
    required: object = parameters.get("required")
    wanted: list[object] = list(properties)
    if isinstance(required, list) and required:
        wanted = list(required)  # pyright: ignore[reportUnknownArgumentType]
    names = [str(name) for name in wanted if str(name) in properties]
    capitalised: list[str] = _CAPITALISED.findall(text.strip())
    number = _NUMBER.search(text)
    arguments: dict[str, Any] = {}
    for name in names:
        schema = _object(properties[name])
        kind = schema.get("type")
        enum: object = schema.get("enum")
        if isinstance(enum, list) and enum:
            arguments[name] = enum[0]
        elif kind == "string":
            arguments[name] = capitalised[-1] if capitalised else text.strip()
        elif kind == "integer":
            arguments[name] = int(float(number.group())) if number else 0
        elif kind == "number":
            arguments[name] = float(number.group()) if number else 0.0
        elif kind == "boolean":
            arguments[name] = True
        elif kind == "array":
            arguments[name] = []
        elif kind == "object":
            arguments[name] = {}
    return arguments


def _default_transcriber(audio: bytes) -> str:
    seconds = len(audio) / 2 / SAMPLE_RATE
    return f"({seconds:.1f} seconds of speech)"


class Script:
    """Replies for the fake model, shared by every session of one server.

    Queue replies with :meth:`reply` (one call per response, consumed in order); when the queue
    is empty the responder set with :meth:`respond_with` answers (default:
    :func:`default_responder`). Input-audio transcripts come from :meth:`transcripts` (queued)
    or the :meth:`transcribe_with` callable.
    """

    def __init__(self) -> None:
        self._replies: deque[Reply] = deque()
        self._responder: Responder = default_responder
        self._transcripts: deque[str] = deque()
        self._transcriber: Transcriber = _default_transcriber

    @property
    def pending(self) -> int:
        """How many queued replies are left."""
        return len(self._replies)

    def reply(self, *parts: ReplyLike, delay: float = 0.0) -> Script:
        """Queue the reply to the next response: strings are said, items are emitted in order."""
        built = Reply.of(*parts)
        if delay:
            built = Reply(built.items, delay, built.failure)
        self._replies.append(built)
        return self

    def reply_text(self, text: str, *, delay: float = 0.0) -> Script:
        """Queue a reply that says ``text`` (written or spoken, as the response's modality)."""
        return self.reply(Say(text), delay=delay)

    def reply_audio(self, transcript: str, audio: bytes | None = None) -> Script:
        """Queue a spoken reply with its own PCM16 audio (synthesized when ``audio`` is None)."""
        return self.reply(Say(transcript, audio))

    def reply_tool_call(
        self,
        name: str,
        arguments: str | Mapping[str, Any] = "{}",
        *,
        call_id: str | None = None,
        say: str | None = None,
    ) -> Script:
        """Queue a reply that calls a function (after saying ``say``, if given)."""
        items: list[Say | ToolCall] = [] if say is None else [Say(say)]
        items.append(ToolCall(name, arguments, call_id))
        return self.reply(*items)

    def fail(
        self,
        code: str = "rate_limit_exceeded",
        message: str = "Rate limit reached for tokens. Please try again in 1s.",
        *,
        type: str = "requests",
    ) -> Script:
        """Queue a response that ends ``failed`` with this error."""
        self._replies.append(Reply(failure=Failure(code, message, type)))
        return self

    def respond_with(self, responder: Responder) -> Script:
        """Answer unscripted turns with ``responder`` (called with a :class:`TurnContext`)."""
        self._responder = responder
        return self

    def transcripts(self, *texts: str) -> Script:
        """Queue input-audio transcripts, one per committed user audio turn."""
        self._transcripts.extend(texts)
        return self

    def transcribe_with(self, transcriber: Transcriber) -> Script:
        """Transcribe unscripted user audio with ``transcriber(pcm) -> str``."""
        self._transcriber = transcriber
        return self

    def clear(self) -> None:
        """Drop queued replies and transcripts (the responder and transcriber stay)."""
        self._replies.clear()
        self._transcripts.clear()

    async def next_reply(self, context: TurnContext) -> Reply:
        """The reply for this turn: the next queued one, else the responder's.

        Cancellation: safe for queued replies; an async responder is cancelled with it.
        """
        if self._replies:
            return self._replies.popleft()
        produced = self._responder(context)
        if inspect.isawaitable(produced):
            produced = await produced
        return Reply.of(produced)

    def transcribe(self, audio: bytes) -> str:
        """The transcript of one committed user audio turn."""
        if self._transcripts:
            return self._transcripts.popleft()
        return self._transcriber(audio)
