"""Sound for the fake server: speech-like formant synthesis, tones, G.711 and WAV helpers.

Everything here works on 16-bit little-endian mono PCM (the Realtime API's ``audio/pcm`` at
24 kHz) held in ``bytes``. The synthesizer is additive: one pitch period per vowel is built from
harmonics weighted by the vowel's formants and then repeated, which is cheap enough to voice a
whole reply in a few milliseconds of pure Python. It does not say words; it sounds like someone
talking (voiced vowels, noisy consonants, pauses at spaces and punctuation), which is what a voice
activity detector, a player or a barge-in test needs.
"""

from __future__ import annotations

import math
import random
import re
import sys
import wave
from array import array
from collections.abc import Iterator
from operator import mul
from pathlib import Path

__all__ = [
    "SAMPLE_RATE",
    "bytes_per_ms",
    "decode_g711",
    "duration_ms",
    "encode_g711",
    "from_pcm24k",
    "level_dbfs",
    "read_wav",
    "silence",
    "speech",
    "speech_tokens",
    "to_pcm24k",
    "tone",
    "write_wav",
]

#: The Realtime API's PCM sample rate.
SAMPLE_RATE = 24000

_BIG_ENDIAN = sys.byteorder == "big"

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


def _pcm(samples: array[int]) -> bytes:
    if _BIG_ENDIAN:  # pragma: no cover - little-endian hosts only in CI
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def _samples(pcm: bytes) -> array[int]:
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if _BIG_ENDIAN:  # pragma: no cover
        samples.byteswap()
    return samples


def duration_ms(pcm: bytes, rate: int = SAMPLE_RATE) -> float:
    """The duration of 16-bit mono ``pcm`` in milliseconds."""
    return len(pcm) / 2 / rate * 1000.0


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
    return _pcm(array("h", (round(scale * math.sin(step * i)) for i in range(n))))


def level_dbfs(pcm: bytes) -> float:
    """The RMS level of ``pcm`` in dB relative to full scale (``-inf`` for silence)."""
    samples = _samples(pcm)
    if not samples:
        return -math.inf
    power = sum(map(mul, samples, samples)) / len(samples)
    if power <= 0:
        return -math.inf
    return 10 * math.log10(power / (32768.0 * 32768.0))


class _Synth:
    """Caches one pitch period per (formant set, period length)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._periods: dict[tuple[str, int], bytes] = {}
        noise_rng = random.Random(0x5EED)
        self._noise = _pcm(array("h", (noise_rng.randint(-2600, 2600) for _ in range(rate // 2))))

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
        pcm = _pcm(array("h", (round(v / peak * level) for v in values)))
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
    samples = _samples(pcm)
    ramp = min(len(samples) // 2, rate * 6 // 1000)
    for i in range(ramp):
        factor = i / ramp
        samples[i] = round(samples[i] * factor)
        samples[-1 - i] = round(samples[-1 - i] * factor)
    return _pcm(samples)


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


# G.711 (ITU-T): segment tables built once.


def _ulaw_encode_sample(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, 32635) + 0x84
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _ulaw_decode_byte(byte: int) -> int:
    byte = ~byte & 0xFF
    sign = byte & 0x80
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    magnitude = ((mantissa << 3) + 0x84) << exponent
    magnitude -= 0x84
    return -magnitude if sign else magnitude


def _alaw_encode_sample(sample: int) -> int:
    sign = 0x00 if sample < 0 else 0x80
    magnitude = min(-sample - 1 if sample < 0 else sample, 32767) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = 1
        while magnitude >= 64 and exponent < 7:
            magnitude >>= 1
            exponent += 1
        code = (exponent << 4) | ((magnitude >> 1) & 0x0F)
    return (sign | code) ^ 0x55


def _alaw_decode_byte(byte: int) -> int:
    byte ^= 0x55
    sign = byte & 0x80
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    magnitude = (
        (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    )
    return magnitude if sign else -magnitude


_DECODE_TABLES: dict[str, list[int]] = {}
_ENCODE_TABLES: dict[str, bytes] = {}


def _decode_table(law: str) -> list[int]:
    table = _DECODE_TABLES.get(law)
    if table is None:
        decode = _ulaw_decode_byte if law == "audio/pcmu" else _alaw_decode_byte
        table = _DECODE_TABLES[law] = [decode(b) for b in range(256)]
    return table


def _encode_table(law: str) -> bytes:
    table = _ENCODE_TABLES.get(law)
    if table is None:
        encode = _ulaw_encode_sample if law == "audio/pcmu" else _alaw_encode_sample
        # Indexed by the sample's top 13 bits (sample >> 3), offset to be non-negative.
        table = _ENCODE_TABLES[law] = bytes(encode(i << 3) for i in range(-4096, 4096))
    return table


def encode_g711(pcm: bytes, law: str) -> bytes:
    """24 kHz PCM16 to 8 kHz G.711 (``law`` is ``"audio/pcmu"`` or ``"audio/pcma"``)."""
    samples = _samples(pcm)
    table = _encode_table(law)
    out = bytearray()
    for i in range(0, len(samples) - 2, 3):
        mean = (samples[i] + samples[i + 1] + samples[i + 2]) // 3
        out.append(table[(mean >> 3) + 4096])
    return bytes(out)


def decode_g711(data: bytes, law: str) -> bytes:
    """8 kHz G.711 to 8 kHz PCM16."""
    table = _decode_table(law)
    return _pcm(array("h", (table[b] for b in data)))


def write_wav(path: str | Path, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit mono ``pcm`` to a WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)


def read_wav(path: str | Path, rate: int = SAMPLE_RATE) -> bytes:
    """Read a 16-bit PCM WAV file as mono PCM16 at ``rate`` (mixing down and resampling)."""
    with wave.open(str(path), "rb") as src:
        channels = src.getnchannels()
        width = src.getsampwidth()
        source_rate = src.getframerate()
        frames = src.readframes(src.getnframes())
    if width != 2:
        raise ValueError(f"{path}: only 16-bit PCM WAV files are supported (got {8 * width}-bit)")
    samples = _samples(frames)
    if channels > 1:
        samples = array(
            "h",
            (
                sum(samples[i : i + channels]) // channels
                for i in range(0, len(samples) - channels + 1, channels)
            ),
        )
    if source_rate != rate and samples:
        ratio = source_rate / rate
        n = int(len(samples) / ratio)
        last = len(samples) - 1
        resampled = array("h", bytes(2 * n))
        for i in range(n):
            pos = i * ratio
            j = int(pos)
            frac = pos - j
            nxt = samples[j + 1] if j < last else samples[j]
            resampled[i] = round(samples[j] * (1 - frac) + nxt * frac)
        samples = resampled
    return _pcm(samples)


def bytes_per_ms(format_type: str) -> int:
    """Bytes per millisecond of audio in a session ``format.type``."""
    return 48 if format_type == "audio/pcm" else 8


def to_pcm24k(data: bytes, format_type: str) -> bytes:
    """Audio in a session format as 24 kHz PCM16 (G.711 is decoded and upsampled)."""
    if format_type == "audio/pcm":
        return data
    samples = _samples(decode_g711(data, format_type))
    tripled = array("h", bytes(6 * len(samples)))
    for offset in range(3):
        tripled[offset::3] = samples
    return _pcm(tripled)


def from_pcm24k(pcm: bytes, format_type: str) -> bytes:
    """24 kHz PCM16 in a session format (G.711 is downsampled and encoded)."""
    if format_type == "audio/pcm":
        return pcm
    return encode_g711(pcm, format_type)
