"""Responses: creating, streaming, cancelling and finishing them (no I/O, no clock).

A response is a :class:`~._core.ResponseState` and a generator of effects that streams it
(``_run_response``): output items, text or audio deltas with their pacing, function calls, and
``response.done`` with usage. The driver runs each one concurrently with the client's events;
a cancel (``response.cancel``, a barge-in, ``output_audio_buffer.clear``) marks it and waits
until its closing events are out.
"""

from __future__ import annotations

import copy
import logging
import math
from typing import Any

from ._audio import bytes_per_ms, from_pcm24k, speech_tokens
from ._conversation import normalize_client_item
from ._core import (
    AUDIO_CHUNK_MS,
    RATE_LIMIT,
    TEXT_TOKEN_SECONDS,
    MachineCore,
    ResponseState,
    gate,
    split_evenly,
    split_tokens,
    text_tokens,
)
from ._effects import Checkpoint, Interrupt, NextReply, Now, Pace, PaceAudio, Sleep, Spawn, Steps
from ._script import Failure, Reply, Say, ToolCall, TurnContext
from ._settings import validate_response_params
from ._validate import Invalid, expect_object, expect_str, missing, unknown

__all__ = ["Responses"]

logger = logging.getLogger("realtime_anyio.testing")


class Responses(MachineCore):
    """The response concern of a session."""

    def _active_default(self) -> ResponseState | None:
        for response in self._responses.values():
            if response.in_conversation and not response.released:
                return response
        return None

    def _response_create(self, event: dict[str, Any], frame: str) -> Steps[None]:
        if self.kind == "transcription":
            raise Invalid(
                "invalid_value",
                "Invalid value: 'response.create'. Transcription sessions do not create responses.",
                "type",
            )
        params = validate_response_params(event.get("response", {}))
        if "input" in params:
            params["input"] = self._resolve_input(params["input"])
        gate("response.create", frame)
        yield from self._start_response(params, auto=False)

    def _start_response(self, params: dict[str, Any], *, auto: bool) -> Steps[None]:
        if self.kind == "transcription":
            return  # turn detection only segments audio for transcription there
        in_conversation = params.get("conversation", "auto") != "none"
        active = self._active_default()
        if in_conversation and active is not None:
            if auto:
                return
            raise Invalid(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {active.id}. Wait "
                "until the response is finished before creating a new one.",
            )
        if "input" in params:
            context: list[dict[str, Any]] = params["input"]
        else:
            context = self.conversation.snapshot()
        output = self.session["audio"]["output"]
        requested_output = params.get("audio", {}).get("output", {})
        response = ResponseState(
            id=self.ids.new("resp_"),
            in_conversation=in_conversation,
            modalities=list(params.get("output_modalities", self.session["output_modalities"])),
            audio_format=requested_output.get("format", output["format"]),
            voice=requested_output.get("voice", output["voice"]),
            speed=float(output.get("speed", 1.0)),
            max_output_tokens=params.get(
                "max_output_tokens", self.session.get("max_output_tokens", "inf")
            ),
            metadata=params.get("metadata"),
            params=params,
            context=context,
        )
        self._responses[response.id] = response
        self._last_response_id = response.id
        self._idle_from_ms = None
        yield Spawn(self._run_response(response), response.id)

    def _resolve_input(self, raw_items: list[Any]) -> list[dict[str, Any]]:
        context: list[dict[str, Any]] = []
        for index, raw in enumerate(raw_items):
            path = f"response.input[{index}]"
            candidate = expect_object(raw, path)
            if candidate.get("type") == "item_reference":
                for key in candidate:
                    if key not in ("type", "id"):
                        raise unknown(f"{path}.{key}")
                if "id" not in candidate:
                    raise missing(f"{path}.id")
                ref = expect_str(candidate["id"], f"{path}.id")
                item = self.conversation.get(ref)
                if item is None:
                    raise Invalid(
                        "invalid_value",
                        f"Invalid item reference: the item with id '{ref}' does not exist.",
                        f"{path}.id",
                    )
                context.append(copy.deepcopy(item))
            else:
                item, _ = normalize_client_item(
                    raw, path, new_id=lambda: self.ids.new("item_"), new_call_id=self.ids.call_id
                )
                context.append(item)
        return context

    def _response_cancel(self, event: dict[str, Any]) -> Steps[None]:
        target: ResponseState | None
        if event.get("response_id") is not None:
            response_id = expect_str(event["response_id"], "response_id")
            target = self._responses.get(response_id)
            if target is not None and target.released:
                target = None
        else:
            target = self._active_default()
        # Like the service, a cancel that overtakes response.created finds nothing to cancel
        # (and the response then runs to completion).
        if target is not None and not target.announced:
            target = None
        if target is None:
            raise Invalid(
                "response_cancel_not_active", "Cancellation failed: no active response found"
            )
        yield from self._cancel(target, "client_cancelled")

    def _cancel(self, response: ResponseState, reason: str) -> Steps[None]:
        if response.cancel_reason is None:
            response.cancel_reason = reason
        # Wait for the closing events, so that whatever the client sends next sees the
        # conversation without an active response (as it would after the live service's).
        yield Interrupt(response.id)

    def _output_buffer_clear(self) -> Steps[None]:
        active = self._active_default()
        if active is not None:
            yield from self._cancel(active, "client_cancelled")
        # ``response_id`` is a required string: name the response whose audio was cleared (the
        # active one, else the latest); before any response there is nothing to clear.
        response_id = active.id if active is not None else self._last_response_id
        if response_id is None:
            raise Invalid(
                "invalid_value",
                "Cannot clear the output audio buffer: no response has produced audio yet.",
            )
        yield self._emit(
            {"type": "output_audio_buffer.cleared", "response_id": response_id}, short_id=True
        )

    def _text_token_seconds(self) -> float:
        if self.options.pacing != "realtime":
            return 0.0
        return TEXT_TOKEN_SECONDS

    def _pace(self, response: ResponseState, seconds: float) -> Steps[None]:
        if seconds <= 0:
            yield Checkpoint()
        else:
            yield Pace(response.id, seconds)

    def _response_object(self, response: ResponseState, status: str) -> dict[str, Any]:
        return {
            "object": "realtime.response",
            "id": response.id,
            "status": status,
            "status_details": None,
            "output": [],
            "conversation_id": self.conversation_id if response.in_conversation else None,
            "output_modalities": response.modalities,
            "max_output_tokens": response.max_output_tokens,
            "audio": {"output": {"format": response.audio_format, "voice": response.voice}},
            "usage": None,
            "metadata": response.metadata,
        }

    def _run_response(self, response: ResponseState) -> Steps[None]:
        try:
            yield self._emit(
                {
                    "type": "response.created",
                    "response": self._response_object(response, "in_progress"),
                }
            )
            response.announced = True
            context = TurnContext(
                input=copy.deepcopy(response.context),
                conversation=self.conversation.snapshot(),
                session=copy.deepcopy(self.session),
                response=copy.deepcopy(response.params),
                turn=self._turns,
            )
            self._turns += 1
            try:
                reply = yield NextReply(context)
            except Exception as exc:
                logger.exception("the fake server's responder raised")
                reply = Reply(
                    failure=Failure(
                        "server_error",
                        f"The scripted responder raised {type(exc).__name__}: {exc}",
                        "server_error",
                    )
                )
            if reply.delay:
                yield from self._pace(response, reply.delay)
            for item in reply.items:
                if response.stopped:
                    break
                if isinstance(item, Say):
                    yield from self._stream_message(response, item)
                else:
                    yield from self._stream_call(response, item)
            yield from self._finish(response, reply.failure)
        finally:
            response.released = True
            self._responses.pop(response.id, None)

    def _count_limit(self, response: ResponseState) -> None:
        limit = response.max_output_tokens
        if isinstance(limit, int):
            used = response.text_tokens + math.ceil(response.audio_ms / 50)
            if used >= limit:
                response.limit_hit = True

    def _add_output_item(self, response: ResponseState, item: dict[str, Any]) -> Steps[int]:
        output_index = len(response.output)
        response.output.append(item)
        yield self._emit(
            {
                "type": "response.output_item.added",
                "response_id": response.id,
                "output_index": output_index,
                "item": item,
            }
        )
        if response.in_conversation:
            stored = copy.deepcopy(item)
            previous = self.conversation.insert(stored, None)
            yield self._emit(
                {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
            )
        return output_index

    def _close_output_item(
        self, response: ResponseState, output_index: int, item: dict[str, Any]
    ) -> Steps[None]:
        response.output[output_index] = item
        if response.in_conversation:
            stored = self.conversation.get(item["id"])
            if stored is not None:
                stored.clear()
                stored.update(copy.deepcopy(item))
                if item["id"] in self.conversation.truncated:
                    for part in stored.get("content", []):
                        if "transcript" in part:
                            part["transcript"] = ""
            yield self._emit(
                {"type": "conversation.item.done", "previous_item_id": None, "item": item}
            )
        yield self._emit(
            {
                "type": "response.output_item.done",
                "response_id": response.id,
                "output_index": output_index,
                "item": item,
            }
        )

    def _stream_message(self, response: ResponseState, say: Say) -> Steps[None]:
        item_id = self.ids.new("item_")
        audio_mode = response.modalities == ["audio"]
        fmt = str(response.audio_format.get("type", "audio/pcm"))
        output_index = yield from self._add_output_item(
            response,
            {
                "id": item_id,
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            },
        )
        if response.in_conversation and audio_mode:
            self.conversation.formats[item_id] = fmt
        part: dict[str, Any] = (
            {"type": "audio", "transcript": ""} if audio_mode else {"type": "text", "text": ""}
        )
        ids: dict[str, Any] = {
            "response_id": response.id,
            "item_id": item_id,
            "output_index": output_index,
            "content_index": 0,
        }
        yield self._emit({"type": "response.content_part.added", **ids, "part": part})
        stored_item = self.conversation.get(item_id) if response.in_conversation else None
        if stored_item is not None and audio_mode:
            # The part exists from here on, so a client may truncate the item mid-stream.
            stored_item["content"] = [{"type": "output_audio", "transcript": ""}]
        tokens = split_tokens(say.text) or [""]
        written = ""
        if audio_mode:
            self._voice_locked = True
            voice = response.voice if isinstance(response.voice, str) else str(response.voice["id"])
            if say.audio is not None:
                pieces = split_evenly(say.audio, len(tokens))
            else:
                pieces = list(speech_tokens(tokens, voice=voice, speed=response.speed))
            chunk_pcm = AUDIO_CHUNK_MS * 48
            pending = b""
            sent_audio = bytearray()
            started: float = yield Now()
            for token, pcm in zip(tokens, pieces, strict=True):
                if response.stopped:
                    break
                if token:
                    yield self._emit(
                        {
                            "type": "response.output_audio_transcript.delta",
                            **ids,
                            "delta": token,
                            "obfuscation": self.ids.obfuscation(token),
                        }
                    )
                    written += token
                    response.text_tokens += 1
                if self.sideband and not response.started_buffer:
                    response.started_buffer = True
                    yield self._emit(
                        {"type": "output_audio_buffer.started", "response_id": response.id},
                        short_id=True,
                    )
                pending += pcm
                while len(pending) >= chunk_pcm and not response.stopped:
                    chunk, pending = pending[:chunk_pcm], pending[chunk_pcm:]
                    yield from self._send_audio(response, ids, chunk, fmt, item_id, sent_audio)
                    yield from self._pace_audio(response, started)
                # Let a cancel or a barge-in in, even when no chunk was due.
                yield Checkpoint()
            if pending and not response.stopped:
                yield from self._send_audio(response, ids, pending, fmt, item_id, sent_audio)
            yield self._emit({"type": "response.output_audio.done", **ids})
            yield self._emit(
                {"type": "response.output_audio_transcript.done", **ids, "transcript": written}
            )
            final_part: dict[str, Any] = {"type": "audio", "transcript": written}
            content: dict[str, Any] = {"type": "output_audio", "transcript": written}
        else:
            for token in tokens:
                if response.stopped:
                    break
                yield self._emit(
                    {
                        "type": "response.output_text.delta",
                        **ids,
                        "delta": token,
                        "obfuscation": self.ids.obfuscation(token),
                    }
                )
                written += token
                response.text_tokens += 1
                self._count_limit(response)
                yield from self._pace(response, self._text_token_seconds())
            yield self._emit({"type": "response.output_text.done", **ids, "text": written})
            final_part = {"type": "text", "text": written}
            content = {"type": "output_text", "text": written}
        yield self._emit({"type": "response.content_part.done", **ids, "part": final_part})
        status = "incomplete" if response.stopped else "completed"
        yield from self._close_output_item(
            response,
            output_index,
            {
                "id": item_id,
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": [content],
            },
        )

    def _send_audio(
        self,
        response: ResponseState,
        ids: dict[str, Any],
        pcm: bytes,
        fmt: str,
        item_id: str,
        sent_audio: bytearray,
    ) -> Steps[None]:
        data = from_pcm24k(pcm, fmt)
        response.audio_ms += len(pcm) / 48
        if not self.sideband:
            yield self._emit(
                {"type": "response.output_audio.delta", **ids, "delta": self._b64(data)}
            )
        if response.in_conversation:
            stored = self.conversation.get(item_id)
            if stored is not None and item_id not in self.conversation.truncated:
                sent_audio += data
                self.conversation.audio[(item_id, 0)] = bytes(sent_audio)
        self._count_limit(response)

    def _pace_audio(self, response: ResponseState, started: float) -> Steps[None]:
        if self.options.pacing != "realtime":
            yield Checkpoint()
            return
        # Stay one chunk ahead of playback so a client playing as it receives never starves.
        yield PaceAudio(response.id, started, (response.audio_ms - AUDIO_CHUNK_MS) / 1000)

    def _stream_call(self, response: ResponseState, call: ToolCall) -> Steps[None]:
        item_id = self.ids.new("item_")
        call_id = call.call_id or self.ids.call_id()
        base = {"id": item_id, "type": "function_call", "name": call.name, "call_id": call_id}
        output_index = yield from self._add_output_item(
            response, {**base, "status": "in_progress", "arguments": ""}
        )
        arguments = call.arguments_json
        sent = ""
        for start in range(0, len(arguments), 8):
            if response.stopped:
                break
            delta = arguments[start : start + 8]
            yield self._emit(
                {
                    "type": "response.function_call_arguments.delta",
                    "response_id": response.id,
                    "item_id": item_id,
                    "output_index": output_index,
                    "call_id": call_id,
                    "delta": delta,
                    "obfuscation": self.ids.obfuscation(delta),
                }
            )
            sent += delta
            response.text_tokens += 1
            self._count_limit(response)
            yield from self._pace(response, self._text_token_seconds())
        yield self._emit(
            {
                "type": "response.function_call_arguments.done",
                "response_id": response.id,
                "item_id": item_id,
                "output_index": output_index,
                "call_id": call_id,
                "name": call.name,
                "arguments": sent,
            }
        )
        status = "incomplete" if response.stopped else "completed"
        yield from self._close_output_item(
            response, output_index, {**base, "status": status, "arguments": sent}
        )

    def _usage(self, response: ResponseState) -> dict[str, Any]:
        instructions = str(
            response.params.get("instructions", self.session.get("instructions", ""))
        )
        text_in = text_tokens(instructions)
        audio_in = 0
        for item in response.context:
            for part in item.get("content", []) if item.get("type") == "message" else [item]:
                for key in ("text", "transcript", "arguments", "output"):
                    value = part.get(key)
                    if isinstance(value, str):
                        text_in += text_tokens(value)
            for index, part in enumerate(item.get("content", [])):
                audio = self.conversation.audio.get((item.get("id", ""), index))
                if audio is not None and part.get("type") in ("input_audio", "output_audio"):
                    fmt = self.conversation.formats.get(item.get("id", ""), "audio/pcm")
                    ms = len(audio) / bytes_per_ms(fmt)
                    audio_in += math.ceil(ms / (100 if part["type"] == "input_audio" else 50))
        audio_out = math.ceil(response.audio_ms / 50)
        total_in = text_in + audio_in
        total_out = response.text_tokens + audio_out
        return {
            "total_tokens": total_in + total_out,
            "input_tokens": total_in,
            "output_tokens": total_out,
            "input_token_details": {
                "text_tokens": text_in,
                "audio_tokens": audio_in,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {
                "text_tokens": response.text_tokens,
                "audio_tokens": audio_out,
            },
        }

    def _finish(self, response: ResponseState, failure: Failure | None) -> Steps[None]:
        details: dict[str, Any] | None
        if response.cancel_reason is not None:
            status = "cancelled"
            details = {"type": "cancelled", "reason": response.cancel_reason}
        elif response.limit_hit:
            status = "incomplete"
            details = {"type": "incomplete", "reason": "max_output_tokens"}
        elif failure is not None:
            status = "failed"
            details = {
                "type": "failed",
                "error": {"type": failure.type, "code": failure.code, "message": failure.message},
            }
        else:
            status = "completed"
            details = None
        body = self._response_object(response, status)
        body["status_details"] = details
        body["output"] = response.output
        usage = self._usage(response)
        body["usage"] = usage
        self._tokens_used += usage["total_tokens"]
        # Free the conversation before response.done goes out: a client that reacts to it
        # with a new response.create must not see conversation_already_has_active_response.
        response.released = True
        if response.in_conversation:
            playback_ms = response.audio_ms if self.options.pacing == "fast" else 0.0
            self._idle_from_ms = self._appended_ms + playback_ms
        yield self._emit({"type": "response.done", "response": body})
        if self.options.pacing == "realtime":
            yield Sleep(0.04)
        yield self._emit(
            {
                "type": "rate_limits.updated",
                "rate_limits": [
                    {
                        "name": "tokens",
                        "limit": RATE_LIMIT,
                        "remaining": max(0, RATE_LIMIT - self._tokens_used),
                        "reset_seconds": 0.001,
                    }
                ],
            }
        )
        if response.started_buffer:
            yield self._emit(
                {"type": "output_audio_buffer.stopped", "response_id": response.id},
                short_id=True,
            )
