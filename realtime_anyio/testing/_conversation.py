"""The default conversation: ordered items, their audio, and client-item validation.

Items are kept in wire form (what ``conversation.item.added`` shows: no audio bytes); audio
lives beside them, keyed by ``(item_id, content_index)``, and is put back into the item only
for ``conversation.item.retrieved``.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._validate import (
    Invalid,
    expect_enum,
    expect_list,
    expect_object,
    expect_str,
    join_path,
    missing,
    unknown,
)

__all__ = ["Conversation", "normalize_client_item"]

_ITEM_TYPES = (
    "message",
    "function_call",
    "function_call_output",
    "mcp_approval_response",
    "mcp_list_tools",
    "mcp_call",
    "mcp_approval_request",
)
_ROLE_PARTS = {
    "system": ("input_text",),
    "user": ("input_text", "input_audio", "input_image"),
    "assistant": ("output_text", "output_audio"),
}
_PART_KEYS = {
    "input_text": ("type", "text"),
    "input_audio": ("type", "audio", "transcript"),
    "input_image": ("type", "image_url", "detail"),
    "output_text": ("type", "text"),
    "output_audio": ("type", "audio", "transcript"),
}


@dataclass
class Conversation:
    """Items in order, with the audio of each audio content part."""

    items: list[dict[str, Any]] = field(default_factory=lambda: [])
    audio: dict[tuple[str, int], bytes] = field(default_factory=lambda: {})
    #: The audio format (``format.type``) of each item that has audio.
    formats: dict[str, str] = field(default_factory=lambda: {})
    #: Items whose audio the client truncated.
    truncated: set[str] = field(default_factory=lambda: set[str]())

    #: Items by id and how many function calls carry each call id: lookups stay O(1) when a
    #: restore sends thousands of items. Every change goes through ``insert`` / ``delete``.
    _by_id: dict[str, dict[str, Any]] = field(default_factory=lambda: {}, repr=False)
    _call_ids: dict[str, int] = field(default_factory=lambda: {}, repr=False)

    def index(self, item_id: str) -> int | None:
        items = self.items
        if items and items[-1]["id"] == item_id:
            return len(items) - 1  # the usual case: inserting after the newest item
        if item_id not in self._by_id:
            return None
        for position, item in enumerate(items):
            if item["id"] == item_id:
                return position
        return None

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self._by_id.get(item_id)

    def last_id(self) -> str | None:
        return self.items[-1]["id"] if self.items else None

    def insert(self, item: dict[str, Any], previous_item_id: str | None) -> str | None:
        """Insert after ``previous_item_id`` (``"root"`` = first; None = append).

        Returns the id of the item now before it (None when it is first).
        """
        if previous_item_id is None:
            before = self.last_id()
            self.items.append(item)
        elif previous_item_id == "root":
            before = None
            self.items.insert(0, item)
        else:
            position = self.index(previous_item_id)
            if position is None:
                raise KeyError(previous_item_id)
            before = previous_item_id
            self.items.insert(position + 1, item)
        self._by_id[item["id"]] = item
        if item.get("type") == "function_call":
            call_id = str(item.get("call_id"))
            self._call_ids[call_id] = self._call_ids.get(call_id, 0) + 1
        return before

    def delete(self, item_id: str) -> bool:
        position = self.index(item_id)
        if position is None:
            return False
        item = self.items.pop(position)
        del self._by_id[item_id]
        if item.get("type") == "function_call":
            call_id = str(item.get("call_id"))
            left = self._call_ids.get(call_id, 0) - 1
            if left > 0:
                self._call_ids[call_id] = left
            else:
                self._call_ids.pop(call_id, None)
        for index in range(len(item.get("content", []))):
            self.audio.pop((item_id, index), None)
        self.formats.pop(item_id, None)
        self.truncated.discard(item_id)
        return True

    def with_audio(self, item: dict[str, Any], encode: Callable[[bytes], str]) -> dict[str, Any]:
        """A copy of ``item`` whose audio parts carry their (base64) audio."""
        full = copy.deepcopy(item)
        for index, part in enumerate(full.get("content", [])):
            audio = self.audio.get((item["id"], index))
            if audio is not None:
                part["audio"] = encode(audio)
        return full

    def snapshot(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self.items)

    def has_function_call(self, call_id: str) -> bool:
        return call_id in self._call_ids


def _decode_audio(value: object, path: str) -> bytes:
    text = expect_str(value, path)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid(
            "invalid_value", f"Invalid '{path}': expected base64-encoded audio data.", path
        ) from None


def normalize_client_item(
    raw: object, path: str, *, new_id: Callable[[], str], new_call_id: Callable[[], str]
) -> tuple[dict[str, Any], dict[int, bytes]]:
    """Validate an item sent by the client; return its wire form and its audio by part index."""
    item = expect_object(raw, path)
    if "type" not in item:
        raise missing(join_path(path, "type"))
    kind = expect_enum(item["type"], _ITEM_TYPES, join_path(path, "type"))
    item_id = item.get("id")
    if item_id is not None:
        item_id = expect_str(item_id, join_path(path, "id"))
        if not item_id:
            raise Invalid("invalid_value", f"Invalid '{path}.id': empty string.", f"{path}.id")
    audio: dict[int, bytes] = {}
    if "object" in item:
        expect_enum(item["object"], ("realtime.item",), join_path(path, "object"))
    if "status" in item:
        expect_enum(
            item["status"], ("completed", "incomplete", "in_progress"), join_path(path, "status")
        )
    if kind == "message":
        for key in item:
            if key not in ("id", "type", "object", "status", "role", "content", "phase"):
                raise unknown(join_path(path, key))
        if "role" not in item:
            raise missing(join_path(path, "role"))
        role = expect_enum(item["role"], tuple(_ROLE_PARTS), join_path(path, "role"))
        if "content" not in item:
            raise missing(join_path(path, "content"))
        parts_path = join_path(path, "content")
        parts = expect_list(item["content"], parts_path)
        content: list[dict[str, Any]] = []
        for index, raw_part in enumerate(parts):
            part_path = join_path(parts_path, index)
            part = expect_object(raw_part, part_path)
            if "type" not in part:
                raise missing(join_path(part_path, "type"))
            part_type = expect_enum(part["type"], _ROLE_PARTS[role], join_path(part_path, "type"))
            for key in part:
                if key not in _PART_KEYS[part_type]:
                    raise unknown(join_path(part_path, key))
            if part_type in ("input_text", "output_text"):
                text = expect_str(part.get("text", ""), join_path(part_path, "text"))
                content.append({"type": part_type, "text": text})
            elif part_type == "input_audio":
                if "audio" in part:
                    audio[index] = _decode_audio(part["audio"], join_path(part_path, "audio"))
                transcript = part.get("transcript")
                if transcript is not None:
                    transcript = expect_str(transcript, join_path(part_path, "transcript"))
                content.append({"type": "input_audio", "transcript": transcript})
            elif part_type == "output_audio":
                raise Invalid(
                    "invalid_value",
                    "Assistant audio messages cannot be created; use 'output_text' content.",
                    join_path(part_path, "type"),
                )
            else:
                if "image_url" not in part:
                    raise missing(join_path(part_path, "image_url"))
                url = expect_str(part["image_url"], join_path(part_path, "image_url"))
                detail = expect_enum(
                    part.get("detail", "auto"),
                    ("auto", "low", "high"),
                    join_path(part_path, "detail"),
                )
                content.append({"type": "input_image", "image_url": url, "detail": detail})
        normalized: dict[str, Any] = {
            "id": item_id or new_id(),
            "type": "message",
            "status": "completed",
            "role": role,
            "content": content,
        }
        if item.get("phase") is not None:
            # Current models mark assistant messages with a phase and the service takes it back
            # on replayed history.
            normalized["phase"] = expect_str(item["phase"], join_path(path, "phase"))
        return normalized, audio
    if kind == "function_call":
        for key in item:
            if key not in ("id", "type", "object", "status", "call_id", "name", "arguments"):
                raise unknown(join_path(path, key))
        for key in ("name", "arguments"):
            if key not in item:
                raise missing(join_path(path, key))
        call_id = item.get("call_id")
        normalized = {
            "id": item_id or new_id(),
            "type": "function_call",
            "status": "completed",
            "name": expect_str(item["name"], join_path(path, "name")),
            "call_id": expect_str(call_id, join_path(path, "call_id"))
            if call_id is not None
            else new_call_id(),
            "arguments": expect_str(item["arguments"], join_path(path, "arguments")),
        }
        return normalized, audio
    if kind == "function_call_output":
        for key in item:
            if key not in ("id", "type", "object", "status", "call_id", "output"):
                raise unknown(join_path(path, key))
        for key in ("call_id", "output"):
            if key not in item:
                raise missing(join_path(path, key))
        normalized = {
            "id": item_id or new_id(),
            "type": "function_call_output",
            "call_id": expect_str(item["call_id"], join_path(path, "call_id")),
            "output": expect_str(item["output"], join_path(path, "output")),
        }
        return normalized, audio
    # MCP items are kept as given: the fake has no MCP servers to talk to.
    normalized = {k: v for k, v in item.items() if k != "object"}
    normalized["id"] = item_id or new_id()
    return normalized, audio
