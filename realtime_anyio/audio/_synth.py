"""Generated sound: silence, tones, noise and speech-like audio, as PCM16 mono ``bytes``.

The speech synthesizer is additive: one pitch period per vowel is built from harmonics weighted
by the vowel's formants and then repeated, which is cheap enough to voice a whole reply in a few
milliseconds of pure Python. It does not say words; it sounds like someone talking (voiced
vowels, noisy consonants, pauses at spaces and punctuation), which is what a voice activity
detector, a player or a barge-in test needs.
"""

from __future__ import annotations

import math
import random
import re
from array import array
from collections.abc import Iterator

from ._formats import SAMPLE_RATE, pcm16_samples, samples_to_pcm16

__all__ = ["noise", "silence", "speech", "speech_tokens", "tone"]

_VOICE_PITCH = {
    "alloy": 185.0,
    "ash": 120.0,
    "ballad": 135.0,
    "coral": 215.0,
    "echo": 110.0,
    "sage": 200.0,
    "shimmer": 225.0,
    "verse": 130.0,
    "marin": 205.0,
    "cedar": 115.0,
}

# First three formants (Hz) of a few vowels, and a murmur for voiced consonants.
_FORMANTS: dict[str, tuple[float, float, float]] = {
    "a": (730.0, 1090.0, 2440.0),
    "e": (530.0, 1840.0, 2480.0),
    "i": (270.0, 2290.0, 3010.0),
    "o": (570.0, 840.0, 2410.0),
    "u": (300.0, 870.0, 2240.0),
    "m": (280.0, 1300.0, 2500.0),
}
_VOWELS = {"a": "a", "e": "e", "i": "i", "o": "o", "u": "u", "y": "i"}
_VOICED = set("bdgjlmnrvwz")
_PAUSES_MS = {" ": 45.0, ",": 150.0, ";": 150.0, ":": 150.0, ".": 180.0, "!": 180.0, "?": 180.0}


def silence(seconds: float, rate: int = SAMPLE_RATE) -> bytes:
    """``seconds`` of digital silence."""
    return bytes(2 * round(seconds * rate))


def tone(
    frequency: float, seconds: float, *, amplitude: float = 0.3, rate: int = SAMPLE_RATE
) -> bytes:
    """A sine tone at ``frequency`` Hz; ``amplitude`` is a fraction of full scale."""
    n = round(seconds * rate)
    scale = amplitude * 32767
    step = 2 * math.pi * frequency / rate
    return samples_to_pcm16(array("h", (round(scale * math.sin(step * i)) for i in range(n))))


class _Synth:
    """Caches one pitch period per (formant set, period length)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._periods: dict[tuple[str, int], bytes] = {}
        noise_rng = random.Random(0x5EED)
        self._noise = samples_to_pcm16(
            array("h", (noise_rng.randint(-2600, 2600) for _ in range(rate // 2)))
        )

    def period(self, sound: str, f0: float) -> bytes:
        length = max(8, round(self.rate / f0))
        key = (sound, length)
        cached = self._periods.get(key)
        if cached is not None:
            return cached
        f0 = self.rate / length
        formants = _FORMANTS[sound]
        bandwidths = (90.0, 110.0, 170.0)
        gains = (1.0, 0.6, 0.3)
        values = [0.0] * length
        k = 1
        while k * f0 < min(4000.0, self.rate / 2 - 200):
            f = k * f0
            weight = (
                sum(
                    g / (1.0 + ((f - fc) / bw) ** 2)
                    for fc, bw, g in zip(formants, bandwidths, gains, strict=True)
                )
                / k**0.5
            )
            step = 2 * math.pi * k / length
            for i in range(length):
                values[i] += weight * math.sin(step * i)
            k += 1
        peak = max(abs(v) for v in values) or 1.0
        level = 9000.0 if sound != "m" else 4500.0
        pcm = samples_to_pcm16(array("h", (round(v / peak * level) for v in values)))
        self._periods[key] = pcm
        return pcm

    def voiced(self, sound: str, f0: float, ms: float) -> bytes:
        period = self.period(sound, f0)
        n = round(ms * self.rate / 1000) * 2
        repeats = n // len(period) + 1
        return _fade((period * repeats)[:n], self.rate)

    def noise(self, ms: float, offset: int) -> bytes:
        n = round(ms * self.rate / 1000) * 2
        start = (offset * 2 * 977) % max(2, len(self._noise) - n)
        start -= start % 2
        return _fade(self._noise[start : start + n], self.rate)


def _fade(pcm: bytes, rate: int) -> bytes:
    """Ramp the first and last 6 ms so segments join without clicks."""
    samples = pcm16_samples(pcm)
    ramp = min(len(samples) // 2, rate * 6 // 1000)
    for i in range(ramp):
        factor = i / ramp
        samples[i] = round(samples[i] * factor)
        samples[-1 - i] = round(samples[-1 - i] * factor)
    return samples_to_pcm16(samples)


_SYNTHS: dict[int, _Synth] = {}


def _synth(rate: int) -> _Synth:
    synth = _SYNTHS.get(rate)
    if synth is None:
        synth = _SYNTHS[rate] = _Synth(rate)
    return synth


def _pitch(voice: str) -> float:
    if voice in _VOICE_PITCH:
        return _VOICE_PITCH[voice]
    # Custom voices get a stable pitch of their own.
    return 110.0 + (sum(voice.encode()) % 120)


def speech_tokens(
    tokens: list[str], *, voice: str = "alloy", speed: float = 1.0, rate: int = SAMPLE_RATE
) -> Iterator[bytes]:
    """Voice each text token in turn, yielding one PCM chunk per token.

    The chunks concatenate into one continuous utterance whose pitch falls gently towards the
    end, so a transcript streamed token by token lines up with its audio.
    """
    synth = _synth(rate)
    base = _pitch(voice)
    total = max(1, sum(len(t) for t in tokens))
    position = 0
    scale = 1.0 / max(0.25, min(1.5, speed))
    for token in tokens:
        parts: list[bytes] = []
        for char in token.lower():
            # A gentle declination plus a per-syllable wobble keeps it from sounding like a drone.
            f0 = base * (1.08 - 0.16 * position / total) * (1.0 + 0.04 * math.sin(position * 1.7))
            position += 1
            if char in _VOWELS:
                parts.append(synth.voiced(_VOWELS[char], f0, 95 * scale))
            elif char in _VOICED:
                parts.append(synth.voiced("m", f0, 55 * scale))
            elif char.isalpha():
                parts.append(synth.noise(45 * scale, position))
            elif char.isdigit():
                parts.append(synth.voiced("a", f0, 80 * scale))
                parts.append(synth.voiced("i", f0, 70 * scale))
            elif char in _PAUSES_MS:
                parts.append(silence(_PAUSES_MS[char] * scale / 1000, rate))
            else:
                parts.append(silence(0.02 * scale, rate))
        yield b"".join(parts)


def speech(
    text: str, *, voice: str = "alloy", speed: float = 1.0, rate: int = SAMPLE_RATE
) -> bytes:
    """Speech-like PCM for ``text`` (about 60-90 ms per character at ``speed`` 1.0)."""
    words = re.findall(r"\s*\S+", text)
    return b"".join(speech_tokens(words, voice=voice, speed=speed, rate=rate))


def noise(
    seconds: float, *, amplitude: float = 0.1, seed: int = 0, rate: int = SAMPLE_RATE
) -> bytes:
    """White noise, uniform within ``amplitude`` (a fraction of full scale); reproducible."""
    rng = random.Random(seed)
    peak = round(amplitude * 32767)
    n = round(seconds * rate)
    return samples_to_pcm16(array("h", (rng.randint(-peak, peak) for _ in range(n))))
