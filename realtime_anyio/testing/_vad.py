"""An energy-based voice activity detector, standing in for the service's server VAD.

Audio is cut into 10 ms frames; a frame is voiced when its RMS level is above a threshold in
dBFS derived from the session's ``threshold`` (0.0 → -70 dBFS, 0.5 → -45 dBFS, 1.0 → -20 dBFS).
Speech starts after 30 ms of voiced frames; ``audio_start_ms`` is the first voiced frame minus
``prefix_padding_ms`` (never before the start of the uncommitted buffer). Speech stops once
``silence_duration_ms`` of unvoiced audio followed the last voiced frame; ``audio_end_ms`` is
that point, so it includes the silence, as the service's does. All positions count from the first
byte appended in the session.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from operator import mul

__all__ = [
    "SpeechStarted",
    "SpeechStopped",
    "VoiceActivityDetector",
    "frame_levels",
    "threshold_dbfs",
]

FRAME_MS = 10
_MIN_SPEECH_FRAMES = 3


def threshold_dbfs(threshold: float) -> float:
    """The frame level (dBFS) above which audio counts as speech for a VAD ``threshold``."""
    return -70.0 + 50.0 * max(0.0, min(1.0, threshold))


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int


class VoiceActivityDetector:
    """Feed PCM16 mono audio in any chunk sizes; get start and stop decisions back.

    ``position_ms`` is the amount of audio fed so far, plus ``origin_ms`` (where this detector
    started on the session's audio clock). :meth:`mark_buffer_start` tells the
    detector where the uncommitted buffer begins (after a commit or a clear), so prefix padding
    never reaches into audio that is already gone.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        prefix_padding_ms: int = 300,
        silence_duration_ms: int = 200,
        rate: int = 24000,
        origin_ms: int = 0,
    ) -> None:
        self.threshold = threshold
        self.origin_ms = origin_ms
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms
        self.rate = rate
        self._frame_bytes = 2 * rate * FRAME_MS // 1000
        self._pending = b""
        self._frames = 0
        self._buffer_start_ms = origin_ms
        self.speaking = False
        self._voiced_run = 0
        self._onset_frame = 0
        self._last_voiced_end_ms = 0

    @property
    def position_ms(self) -> int:
        return (
            self.origin_ms + self._frames * FRAME_MS + len(self._pending) * 1000 // (2 * self.rate)
        )

    def configure(
        self, *, threshold: float, prefix_padding_ms: int, silence_duration_ms: int
    ) -> None:
        self.threshold = threshold
        self.prefix_padding_ms = prefix_padding_ms
        self.silence_duration_ms = silence_duration_ms

    def mark_buffer_start(self, ms: int) -> None:
        self._buffer_start_ms = ms

    def reset_turn(self) -> None:
        """Forget a speech segment in progress (the buffer was cleared or committed by hand)."""
        self.speaking = False
        self._voiced_run = 0

    def feed(self, pcm: bytes) -> list[SpeechStarted | SpeechStopped]:
        """Analyse ``pcm`` and return the decisions it triggered, in order."""
        data = self._pending + pcm
        size = self._frame_bytes
        whole = len(data) - len(data) % size
        self._pending = data[whole:]
        limit = threshold_dbfs(self.threshold)
        # Compare mean power instead of dB per frame: one multiply per sample, no logarithms.
        power_limit = (10 ** (limit / 10)) * 32768.0 * 32768.0
        decisions: list[SpeechStarted | SpeechStopped] = []
        samples = array("h")
        samples.frombytes(data[:whole])
        step = size // 2
        for start in range(0, len(samples), step):
            frame = samples[start : start + step]
            power = sum(map(mul, frame, frame)) / step
            self._frames += 1
            end_ms = self.origin_ms + self._frames * FRAME_MS
            # A little hysteresis: once speaking, a frame 3 dB quieter still counts as voiced.
            voiced = power > (power_limit / 2 if self.speaking else power_limit)
            if voiced:
                if self._voiced_run == 0:
                    self._onset_frame = self._frames - 1
                self._voiced_run += 1
                self._last_voiced_end_ms = end_ms
                if not self.speaking and self._voiced_run >= _MIN_SPEECH_FRAMES:
                    self.speaking = True
                    onset_ms = self.origin_ms + self._onset_frame * FRAME_MS
                    start_ms = max(self._buffer_start_ms, onset_ms - self.prefix_padding_ms, 0)
                    decisions.append(SpeechStarted(start_ms))
            else:
                self._voiced_run = 0
                if self.speaking and end_ms - self._last_voiced_end_ms >= self.silence_duration_ms:
                    self.speaking = False
                    decisions.append(SpeechStopped(end_ms))
        return decisions


def frame_levels(pcm: bytes, rate: int = 24000) -> list[float]:
    """Per-frame RMS levels in dBFS (a debugging aid for tuning thresholds)."""
    size = 2 * rate * FRAME_MS // 1000
    levels: list[float] = []
    for start in range(0, len(pcm) - size + 1, size):
        samples = array("h")
        samples.frombytes(pcm[start : start + size])
        power = sum(map(mul, samples, samples)) / len(samples)
        levels.append(-math.inf if power == 0 else 10 * math.log10(power / 32768.0**2))
    return levels
