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


def _ulaw_code(magnitude: int) -> int:
    """G.191 ulaw_compress without its sign, from the biased, clipped 13-bit magnitude."""
    segment = 1
    rest = magnitude >> 6
    while rest:
        segment += 1
        rest >>= 1
    return ((8 - segment) << 4) | (0x0F - ((magnitude >> segment) & 0x0F))


def _ulaw_expand(code: int) -> int:
    sign = -1 if code < 0x80 else 1
    inverted = ~code
    exponent = (inverted >> 4) & 0x07
    mantissa = inverted & 0x0F
    step = 4 << (exponent + 1)
    return sign * ((0x80 << exponent) + step * mantissa + step // 2 - 4 * 33)


def _alaw_code(magnitude: int) -> int:
    """G.191 alaw_compress without its sign and the 0x55 toggle, from the 11-bit magnitude."""
    if magnitude > 15:
        exponent = 1
        while magnitude > 16 + 15:
            magnitude >>= 1
            exponent += 1
        magnitude -= 16
        magnitude += exponent << 4
    return magnitude


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


def _decode_tables(expand: Callable[[int], int]) -> tuple[bytes, bytes]:
    low = bytearray(256)
    high = bytearray(256)
    for code in range(256):
        value = expand(code) & 0xFFFF
        low[code] = value & 0xFF
        high[code] = value >> 8
    return bytes(low), bytes(high)


class _Encoder:
    """Encodes every sample of a buffer at once, with no Python code per sample.

    Both G.191 encoders take the magnitude of a sample in one's complement (``~x`` for a
    negative ``x``), keep its top bits (14 for µ-law, which then adds a bias of 33 and clips at
    0x1FFF; 12 for A-law), and derive the code from the position of the leading one and the
    four bits after it. So below ``split`` the code depends only on ``magnitude >> low`` and
    from ``split`` up only on ``magnitude >> high``: two 256-entry tables. The buffer is read as
    one integer of 16-bit lanes; a handful of whole-integer operations compute every lane's
    table index, which table applies and the sign, and ``bytes.translate`` looks the codes up.
    The tests compare all 65,536 inputs with the reference arithmetic.
    """

    def __init__(
        self,
        code: Callable[[int], int],
        *,
        shift: int,
        bias: int,
        clip: int,
        split: int,
        low: int,
        high: int,
        positive: int,
        negative: int,
    ) -> None:
        self.shift, self.bias, self.clip, self.split = shift, bias, clip, split
        self.low, self.high = low, high
        self.low_table = bytes(code(i << low) if i << low < split else 0 for i in range(256))
        self.high_table = bytes(
            code(min(i << high, clip)) if i << high >= split else 0 for i in range(256)
        )
        # Each lane's flag byte: bit 0 says "high table", bit 1 "negative sample".
        self.select = bytes(0xFF if flags & 1 else 0 for flags in range(256))
        self.sign = bytes(negative if flags & 2 else positive for flags in range(256))
        self._masks: dict[int, tuple[int, int]] = {}

    def _lanes(self, count: int) -> tuple[int, int]:
        masks = self._masks.get(count)
        if masks is None:
            ones = int.from_bytes(b"\x01\x00" * count, "little")
            if len(self._masks) > 64:
                self._masks.clear()
            masks = self._masks[count] = (ones, ones * 0xFFFF)
        return masks

    def __call__(self, pcm: bytes | bytearray | memoryview) -> bytes:
        view = memoryview(pcm).cast("B")
        count = len(view) // 2
        if not count:
            return b""
        ones, full = self._lanes(count)
        samples = int.from_bytes(view[: 2 * count], "little")
        negative = (samples >> 15) & ones
        magnitude = samples ^ (negative * 0xFFFF)
        magnitude = ((magnitude >> self.shift) & (ones * (0x7FFF >> self.shift))) + ones * self.bias
        if self.bias:
            over = (magnitude >> 13) & ones
            magnitude = (magnitude & (full ^ (over * 0xFFFF))) | (over * self.clip)
        high = ((magnitude + ones * (0x8000 - self.split)) >> 15) & ones
        high_mask = high * 0xFFFF
        index = (
            ((magnitude >> self.low) & (full ^ high_mask)) | ((magnitude >> self.high) & high_mask)
        ) & (ones * 0xFF)
        lanes = (index | (high << 8) | (negative << 9)).to_bytes(2 * count, "little")
        indexes, flags = lanes[0::2], lanes[1::2]
        low_codes = int.from_bytes(indexes.translate(self.low_table), "little")
        high_codes = int.from_bytes(indexes.translate(self.high_table), "little")
        select = int.from_bytes(flags.translate(self.select), "little")
        sign = int.from_bytes(flags.translate(self.sign), "little")
        return ((low_codes ^ ((low_codes ^ high_codes) & select)) ^ sign).to_bytes(count, "little")


# µ-law: a positive sample gets bit 7 set. A-law: the same, then every even bit toggled (0x55).
_ULAW_ENCODE = _Encoder(
    _ulaw_code, shift=2, bias=33, clip=0x1FFF, split=512, low=1, high=5, positive=0x80, negative=0
)
_ALAW_ENCODE = _Encoder(
    _alaw_code, shift=4, bias=0, clip=0x7FF, split=256, low=0, high=3, positive=0xD5, negative=0x55
)
_ULAW_DECODE = _decode_tables(_ulaw_expand)
_ALAW_DECODE = _decode_tables(_alaw_expand)


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
    return _ULAW_ENCODE(pcm)


def pcm16_to_alaw(pcm: bytes | bytearray | memoryview) -> bytes:
    """PCM16 to G.711 A-law, one byte per sample, bit-exact with ITU-T G.191 (same rate)."""
    return _ALAW_ENCODE(pcm)


def ulaw_to_pcm16(data: bytes | bytearray | memoryview) -> bytes:
    """G.711 µ-law to PCM16, two bytes per sample, bit-exact with ITU-T G.191 (same rate)."""
    return _decode(data, _ULAW_DECODE)


def alaw_to_pcm16(data: bytes | bytearray | memoryview) -> bytes:
    """G.711 A-law to PCM16, two bytes per sample, bit-exact with ITU-T G.191 (same rate)."""
    return _decode(data, _ALAW_DECODE)
