"""Conversation items: ``conversation.item.create``, ``.delete``, ``.retrieve`` and ``.truncate``.

Each checks the request the way the live service does (ids that exist, a function call for an
output, truncation only of model audio and within its length) and then changes the
:class:`~._conversation.Conversation` and answers.
"""

from __future__ import annotations

import math
from typing import Any

from ._audio import bytes_per_ms
from ._conversation import normalize_client_item
from ._core import gate
from ._effects import Steps
from ._input_audio import InputAudio
from ._validate import Invalid, expect_int, expect_str

__all__ = ["Items"]


class Items(InputAudio):
    """The conversation-item concern of a session."""

    def _item_create(self, event: dict[str, Any], frame: str) -> Steps[None]:
        item, audio = normalize_client_item(
            event["item"],
            "item",
            new_id=lambda: self.ids.new("item_"),
            new_call_id=self.ids.call_id,
        )
        if self.conversation.get(item["id"]) is not None:
            raise Invalid(
                "invalid_value",
                f"Item with id '{item['id']}' already exists in the conversation.",
                "item.id",
            )
        if item["type"] == "function_call_output" and not self.conversation.has_function_call(
            item["call_id"]
        ):
            raise Invalid(
                "invalid_value",
                f"No function call found with call_id '{item['call_id']}'.",
                "item.call_id",
            )
        previous = event.get("previous_item_id")
        if previous is not None:
            previous = expect_str(previous, "previous_item_id")
            if previous != "root" and self.conversation.get(previous) is None:
                raise Invalid(
                    "item_create_invalid_previous_item_id",
                    f"Error adding item: the previous item with id '{previous}' does not exist.",
                    "previous_item_id",
                )
        gate("conversation.item.create", frame)
        before = self.conversation.insert(item, previous)
        for index, data in audio.items():
            self.conversation.audio[(item["id"], index)] = data
        if audio:
            self.conversation.formats[item["id"]] = self._input_format
        yield self._emit(
            {"type": "conversation.item.added", "previous_item_id": before, "item": item}
        )
        yield self._emit(
            {"type": "conversation.item.done", "previous_item_id": before, "item": item}
        )

    def _item_delete(self, event: dict[str, Any]) -> Steps[None]:
        item_id = expect_str(event["item_id"], "item_id")
        if not self.conversation.delete(item_id):
            raise Invalid(
                "item_delete_invalid_item_id",
                f"Error deleting item: the item with id '{item_id}' does not exist.",
                "item_id",
            )
        yield self._emit({"type": "conversation.item.deleted", "item_id": item_id})

    def _item_retrieve(self, event: dict[str, Any]) -> Steps[None]:
        item_id = expect_str(event["item_id"], "item_id")
        item = self.conversation.get(item_id)
        if item is None:
            raise Invalid(
                "item_retrieve_invalid_item_id",
                f"Error retrieving item: the item with id '{item_id}' does not exist.",
                "item_id",
            )
        full = self.conversation.with_audio(item, self._b64)
        yield self._emit({"type": "conversation.item.retrieved", "item": full})

    def _item_truncate(self, event: dict[str, Any]) -> Steps[None]:
        item_id = expect_str(event["item_id"], "item_id")
        content_index = expect_int(event["content_index"], "content_index", minimum=0)
        audio_end_ms = expect_int(event["audio_end_ms"], "audio_end_ms", minimum=0)
        item = self.conversation.get(item_id)
        if item is None:
            raise Invalid(
                "item_truncate_invalid_item_id",
                f"Error truncating item: the item with id '{item_id}' does not exist.",
                "item_id",
            )
        content: list[dict[str, Any]] = item.get("content") or []
        audio = self.conversation.audio.get((item_id, content_index))
        if (
            item.get("role") != "assistant"
            or content_index >= len(content)
            or content[content_index].get("type") != "output_audio"
            or audio is None
        ):
            raise Invalid(
                "unsupported_content_type",
                "Only model output audio messages can be truncated",
                "item_id",
            )
        fmt = self.conversation.formats.get(item_id, "audio/pcm")
        per_ms = bytes_per_ms(fmt)
        duration = len(audio) / per_ms
        if audio_end_ms > duration:
            raise Invalid(
                "invalid_value",
                f"Audio content of {math.floor(duration)}ms is already shorter than "
                f"{audio_end_ms}ms",
                "audio_end_ms",
            )
        cut = audio_end_ms * per_ms
        cut -= cut % (2 if per_ms == 48 else 1)
        self.conversation.audio[(item_id, content_index)] = audio[:cut]
        content[content_index]["transcript"] = ""
        self.conversation.truncated.add(item_id)
        yield self._emit(
            {
                "type": "conversation.item.truncated",
                "item_id": item_id,
                "content_index": content_index,
                "audio_end_ms": audio_end_ms,
            }
        )
