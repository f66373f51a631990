"""The protocol's audio formats, PCM16 helpers and exact G.711 (µ-law and A-law) conversion.

All audio is ``bytes``: PCM16 is 16-bit signed little-endian mono, G.711 is one byte per sample.
The G.711 tables are built once from the arithmetic of the ITU-T G.191 reference coder
(``g711.c``): negative samples are one's-complemented before companding, which is where the
common ``audioop``-style coders (that negate them) part ways on 508 of the 65,536 µ-law inputs.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from operator import mul

__all__ = [
    "PCM16_24K",
    "PCMA",
    "PCMU",
    "SAMPLE_RATE",
    "WireFormat",
    "alaw_to_pcm16",
    "bytes_per_ms",
    "duration_ms",
    "level_dbfs",
    "pcm16_samples",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "samples_to_pcm16",
    "stereo_to_mono",
    "ulaw_to_pcm16",
]

#: The Realtime API's PCM sample rate (``audio/pcm`` is always 24 kHz).
SAMPLE_RATE = 24000

_BIG_ENDIAN = sys.byteorder == "big"


@dataclass(frozen=True)
class WireFormat:
    """One of the session's wire formats: ``audio/pcm`` (24 kHz PCM16) or 8 kHz G.711."""

    type: str
    rate: int

    @property
    def sample_width(self) -> int:
        """Bytes per sample: 2 for PCM16, 1 for G.711."""
        return 2 if self.type == "audio/pcm" else 1

    @property
    def bytes_per_ms(self) -> float:
        """Bytes per millisecond of audio."""
        return self.rate * self.sample_width / 1000

    def ms(self, size: int) -> float:
        """The duration of ``size`` bytes in milliseconds."""
        return size / self.bytes_per_ms

    def size(self, ms: float) -> int:
        """The number of bytes of ``ms`` milliseconds, rounded down to whole samples."""
        samples = int(ms * self.rate / 1000)
        return samples * self.sample_width

    @classmethod
    def of(cls, format_type: str, rate: int | None = None) -> WireFormat:
        """The wire format for a session ``format.type`` (``audio/pcm``, ``pcmu``, ``pcma``)."""
        if format_type == "audio/pcm":
            return cls(format_type, rate or SAMPLE_RATE)
        if format_type in ("audio/pcmu", "audio/pcma"):
            return cls(format_type, 8000)
        raise ValueError(f"unknown audio format {format_type!r}")


#: 24 kHz PCM16, the API's ``audio/pcm``.
PCM16_24K = WireFormat("audio/pcm", SAMPLE_RATE)
#: 8 kHz G.711 µ-law, the API's ``audio/pcmu``.
PCMU = WireFormat("audio/pcmu", 8000)
#: 8 kHz G.711 A-law, the API's ``audio/pcma``.
PCMA = WireFormat("audio/pcma", 8000)


def bytes_per_ms(format_type: str) -> int:
    """Bytes per millisecond of audio in a session ``format.type`` (48 for PCM, 8 for G.711)."""
    return 48 if format_type == "audio/pcm" else 8


def pcm16_samples(pcm: bytes | bytearray | memoryview) -> array[int]:
    """The samples of PCM16 ``pcm`` (a trailing odd byte is ignored)."""
    samples = array("h")
    view = memoryview(pcm).cast("B")
    samples.frombytes(view[: len(view) - len(view) % 2])
    if _BIG_ENDIAN:  # pragma: no cover - little-endian hosts only in CI
        samples.byteswap()
    return samples


def samples_to_pcm16(samples: array[int]) -> bytes:
    """PCM16 bytes for an ``array('h')`` of samples."""
    if _BIG_ENDIAN:  # pragma: no cover
        samples = array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def duration_ms(pcm: bytes, rate: int = SAMPLE_RATE) -> float:
    """The duration of PCM16 mono ``pcm`` in milliseconds."""
    return len(pcm) / 2 / rate * 1000.0


def level_dbfs(pcm: bytes) -> float:
    """The RMS level of PCM16 ``pcm`` in dB relative to full scale (``-inf`` for silence)."""
    samples = pcm16_samples(pcm)
    if not samples:
        return -math.inf
    power = sum(map(mul, samples, samples)) / len(samples)
    if power <= 0:
        return -math.inf
    return 10 * math.log10(power / (32768.0 * 32768.0))


def stereo_to_mono(pcm: bytes, channels: int = 2) -> bytes:
    """Mix interleaved PCM16 with ``channels`` channels down to mono (the mean, rounded down)."""
    if channels == 1:
        return bytes(pcm)
    samples = pcm16_samples(pcm)
    usable = len(samples) - len(samples) % channels
    columns = [samples[c:usable:channels] for c in range(channels)]
    mixed = array("h", (sum(frame) // channels for frame in zip(*columns, strict=True)))
    return samples_to_pcm16(mixed)


# -- G.711, from the G.191 reference arithmetic -------------------------------------------------


def _ulaw_compress(sample: int) -> int:
    # G.191 ulaw_compress: 14 most significant bits, one's complement for negative samples.
    magnitude = min(((~sample if sample < 0 else sample) >> 2) + 33, 0x1FFF)
    segment = 1
    rest = magnitude >> 6
    while rest:
        segment += 1
        rest >>= 1
    high = 8 - segment
    low = 0x0F - ((magnitude >> segment) & 0x0F)
    code = (high << 4) | low
    return code | 0x80 if sample >= 0 else code


def _ulaw_expand(code: int) -> int:
    sign = -1 if code < 0x80 else 1
    inverted = ~code
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    step = 4 << (exponent + 1)
    return sign * ((0x80 << exponent) + step * mantissa + step // 2 - 4 * 33)


def _alaw_compress(sample: int) -> int:
    # G.191 alaw_compress: 12 most significant bits, one's complement for negative samples.
    magnitude = (~sample if sample < 0 else sample) >> 4
    if magnitude > 15:
        exponent = 1
        while magnitude > 16 + 15:
            magnitude >>= 1
            exponent += 1
        magnitude -= 16
        magnitude += exponent << 4
    if sample >= 0:
        magnitude |= 0x80
    return magnitude ^ 0x55


def _alaw_expand(code: int) -> int:
    value = (code ^ 0x55) & 0x7F
    exponent = value >> 4
    mantissa = value & 0x0F
    if exponent > 0:
        mantissa += 16
    mantissa = (mantissa << 4) + 8
    if exponent > 1:
        mantissa <<= exponent - 1
    return mantissa if code > 127 else -mantissa


def _encode_table(compress: Callable[[int], int]) -> bytes:
    # Indexed by the sample's bit pattern read as unsigned 16-bit (so negative samples follow
    # the positive ones): one lookup per sample, no arithmetic.
    return bytes(compress(u - 65536 if u >= 32768 else u) for u in range(65536))


def _decode_tables(expand: Callable[[int], int]) -> tuple[bytes, bytes]:
    low = bytearray(256)
    high = bytearray(256)
    for code in range(256):
        value = expand(code) & 0xFFFF
        low[code] = value & 0xFF
        high[code] = value >> 8
    return bytes(low), bytes(high)


@cache
def _table(name: str) -> bytes:
    """The 64 KiB encoder tables, built on first use (about 0.1 s each), not at import."""
    return _encode_table(_ulaw_compress if name == "ulaw" else _alaw_compress)


_ULAW_DECODE = _decode_tables(_ulaw_expand)
_ALAW_DECODE = _decode_tables(_alaw_expand)


def _encode(pcm: bytes | bytearray | memoryview, table: bytes) -> bytes:
    samples = array("H")
    view = memoryview(pcm).cast("B")
    samples.frombytes(view[: len(view) - len(view) % 2])
    if _BIG_ENDIAN:  # pragma: no cover
        samples.byteswap()
    return bytes(map(table.__getitem__, samples))


def _decode(data: bytes | bytearray | memoryview, tables: tuple[bytes, bytes]) -> bytes:
    # Two C-speed translations and two strided copies: no per-sample Python code.
    raw = bytes(data)
    out = bytearray(2 * len(raw))
    low, high = tables
    out[0::2] = raw.translate(low)
    out[1::2] = raw.translate(high)
    if _BIG_ENDIAN:  # pragma: no cover
        swapped = array("h")
        swapped.frombytes(bytes(out))
        swapped.byteswap()
        return swapped.tobytes()
    return bytes(out)


def pcm16_to_ulaw(pcm: bytes | bytearray | memoryview) -> bytes:
    """PCM16 to G.711 µ-law, one byte per sample, bit-exact with ITU-T G.191 (same rate)."""
    return _encode(pcm, _table("ulaw"))


def pcm16_to_alaw(pcm: bytes | bytearray | memoryview) -> bytes:
    """PCM16 to G.711 A-law, one byte per sample, bit-exact with ITU-T G.191 (same rate)."""
    return _encode(pcm, _table("alaw"))


def ulaw_to_pcm16(data: bytes | bytearray | memoryview) -> bytes:
    """G.711 µ-law to PCM16, two bytes per sample, bit-exact with ITU-T G.191 (same rate)."""
    return _decode(data, _ULAW_DECODE)


def alaw_to_pcm16(data: bytes | bytearray | memoryview) -> bytes:
    """G.711 A-law to PCM16, two bytes per sample, bit-exact with ITU-T G.191 (same rate)."""
    return _decode(data, _ALAW_DECODE)
