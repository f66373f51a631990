"""Input audio: the buffer, server voice activity detection, commits and transcription.

Appended audio goes into the buffer (in the session's input format) and, with turn detection
on, through the :class:`~._vad.VoiceActivityDetector`: speech start cancels an active response
(barge-in), speech stop commits the turn and starts a response, and a long silence after a
response can trigger ``input_audio_buffer.timeout_triggered``. Committed audio becomes a user
item and, with transcription on, gets transcript deltas (in the background when paced).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from ..events import InputAudioBufferAppend
from ._audio import bytes_per_ms, decode_g711, to_pcm24k
from ._core import TEXT_TOKEN_SECONDS, split_tokens
from ._effects import Sleep, Spawn, Steps
from ._responses import Responses
from ._vad import SpeechStarted, VoiceActivityDetector
from ._validate import Invalid, expect_str

__all__ = ["InputAudio"]


class InputAudio(Responses):
    """The input-audio concern of a session (it starts and cancels responses)."""

    def _configure_vad(self) -> None:
        detection = self._turn_detection
        if detection is None:
            self._vad = None
            self._vad_item_id = None
            return
        if detection["type"] == "semantic_vad":
            silence = {"low": 1000, "medium": 500, "auto": 500, "high": 250}[
                detection.get("eagerness", "auto")
            ]
            threshold, padding = 0.5, 300
        else:
            silence = int(detection["silence_duration_ms"])
            threshold = float(detection["threshold"])
            padding = int(detection["prefix_padding_ms"])
        rate = 24000 if self._input_format == "audio/pcm" else 8000
        if self._vad is not None and self._vad.rate == rate:
            self._vad.configure(
                threshold=threshold, prefix_padding_ms=padding, silence_duration_ms=silence
            )
            return
        self._vad = VoiceActivityDetector(
            threshold=threshold,
            prefix_padding_ms=padding,
            silence_duration_ms=silence,
            rate=rate,
            origin_ms=round(self._appended_ms),
        )
        self._vad.mark_buffer_start(round(self._buffer_start_ms))
        self._vad_item_id = None

    def _append(self, event: dict[str, Any], typed: object) -> Steps[None]:
        if isinstance(typed, InputAudioBufferAppend):
            data = typed.audio
        else:
            text = expect_str(event["audio"], "audio")
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise Invalid(
                    "invalid_value", "Invalid 'audio': expected base64-encoded audio data.", "audio"
                ) from None
        fmt = self._input_format
        self._buffer += data
        self._appended_ms += len(data) / bytes_per_ms(fmt)
        if self._vad is None:
            return
        # The detector runs at the input's own rate: 24 kHz PCM, or 8 kHz decoded G.711.
        pcm = data if fmt == "audio/pcm" else decode_g711(data, fmt)
        for decision in self._vad.feed(pcm):
            if isinstance(decision, SpeechStarted):
                yield from self._speech_started(decision.audio_start_ms)
            else:
                yield from self._speech_stopped(decision.audio_end_ms)
        yield from self._check_idle_timeout()

    def _speech_started(self, start_ms: int) -> Steps[None]:
        self._idle_from_ms = None
        self._vad_item_id = self.ids.new("item_")
        self._vad_start_ms = start_ms
        yield self._emit(
            {
                "type": "input_audio_buffer.speech_started",
                "audio_start_ms": start_ms,
                "item_id": self._vad_item_id,
            }
        )
        detection = self._turn_detection
        if detection is not None and detection.get("interrupt_response", True):
            active = self._active_default()
            if active is not None:
                yield from self._cancel(active, "turn_detected")

    def _speech_stopped(self, end_ms: int) -> Steps[None]:
        item_id = self._vad_item_id or self.ids.new("item_")
        self._vad_item_id = None
        yield self._emit(
            {
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": end_ms,
                "item_id": item_id,
            }
        )
        audio = self._take_buffer(self._vad_start_ms, end_ms)
        yield from self._commit(audio, item_id)
        detection = self._turn_detection
        if detection is not None and detection.get("create_response", True):
            yield from self._start_response({}, auto=True)

    def _check_idle_timeout(self) -> Steps[None]:
        detection = self._turn_detection
        if (
            detection is None
            or detection.get("type") != "server_vad"
            or detection.get("idle_timeout_ms") is None
            or self._idle_from_ms is None
            or (self._vad is not None and self._vad.speaking)
            or self._active_default() is not None
        ):
            return
        start = self._idle_from_ms
        if self._appended_ms - start < float(detection["idle_timeout_ms"]):
            return
        self._idle_from_ms = None
        item_id = self.ids.new("item_")
        end = round(self._appended_ms)
        yield self._emit(
            {
                "type": "input_audio_buffer.timeout_triggered",
                "audio_start_ms": round(start),
                "audio_end_ms": end,
                "item_id": item_id,
            }
        )
        yield from self._commit(self._take_buffer(round(start), end), item_id)
        yield from self._start_response({}, auto=True)

    def _take_buffer(self, start_ms: float, end_ms: float) -> bytes:
        """Remove audio up to ``end_ms`` from the buffer; return the ``start_ms``.. part."""
        per_ms = bytes_per_ms(self._input_format)
        align = 2 if per_ms == 48 else 1
        begin = max(0, round((start_ms - self._buffer_start_ms) * per_ms))
        stop = max(begin, round((end_ms - self._buffer_start_ms) * per_ms))
        begin -= begin % align
        stop -= stop % align
        audio = bytes(self._buffer[begin:stop])
        del self._buffer[:stop]
        self._buffer_start_ms += stop / per_ms
        if self._vad is not None:
            self._vad.mark_buffer_start(round(self._buffer_start_ms))
        return audio

    def _commit_manual(self) -> Steps[None]:
        buffered_ms = len(self._buffer) / bytes_per_ms(self._input_format)
        if buffered_ms < 100:
            raise Invalid(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least 100ms "
                f"of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
            )
        item_id = self._vad_item_id or self.ids.new("item_")
        self._vad_item_id = None
        if self._vad is not None:
            self._vad.reset_turn()
        audio = self._take_buffer(self._buffer_start_ms, self._appended_ms)
        yield from self._commit(audio, item_id)

    def _commit(self, audio: bytes, item_id: str) -> Steps[None]:
        item = {
            "id": item_id,
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        previous = self.conversation.insert(item, None)
        self.conversation.audio[(item_id, 0)] = audio
        self.conversation.formats[item_id] = self._input_format
        yield self._emit(
            {
                "type": "input_audio_buffer.committed",
                "previous_item_id": previous,
                "item_id": item_id,
            }
        )
        yield self._emit(
            {"type": "conversation.item.added", "previous_item_id": previous, "item": item}
        )
        yield self._emit(
            {"type": "conversation.item.done", "previous_item_id": previous, "item": item}
        )
        if self.session["audio"]["input"].get("transcription") is not None:
            pcm = to_pcm24k(audio, self._input_format)
            if self.options.pacing == "realtime":
                yield Spawn(self._transcribe(item_id, pcm))
            else:
                yield from self._transcribe(item_id, pcm)

    def _transcribe(self, item_id: str, pcm: bytes) -> Steps[None]:
        transcript = self.script.transcribe(pcm)
        logprobs = "item.input_audio_transcription.logprobs" in (self.session.get("include") or [])
        probabilities: list[dict[str, Any]] = []
        for token in split_tokens(transcript):
            if self.options.pacing == "realtime":
                yield Sleep(TEXT_TOKEN_SECONDS)
            delta: dict[str, Any] = {
                "type": "conversation.item.input_audio_transcription.delta",
                "item_id": item_id,
                "content_index": 0,
                "delta": token,
                "obfuscation": self.ids.obfuscation(token),
            }
            if logprobs:
                entry = {"token": token, "logprob": -0.01, "bytes": list(token.encode())}
                probabilities.append(entry)
                delta["logprobs"] = [entry]
            yield self._emit(delta)
        item = self.conversation.get(item_id)
        if item is not None:
            item["content"][0]["transcript"] = transcript
        completed: dict[str, Any] = {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": item_id,
            "content_index": 0,
            "transcript": transcript,
            "usage": {"type": "duration", "seconds": math.ceil(len(pcm) / 48000)},
        }
        if logprobs:
            completed["logprobs"] = probabilities
        yield self._emit(completed)

    def _clear_buffer(self) -> Steps[None]:
        self._take_buffer(self._appended_ms, self._appended_ms)
        self._vad_item_id = None
        if self._vad is not None:
            self._vad.reset_turn()
        yield self._emit({"type": "input_audio_buffer.cleared"})
