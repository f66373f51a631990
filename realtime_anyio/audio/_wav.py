"""WAV files: read any common PCM or float WAV as PCM16 mono; write PCM16 mono.

The reader parses the RIFF chunks itself because the standard ``wave`` module reads neither
IEEE-float files nor (before Python 3.12) ``WAVE_FORMAT_EXTENSIBLE`` ones, which is what many
recorders write for 24-bit and 32-bit audio.
"""

from __future__ import annotations

import struct
import wave
from array import array
from dataclasses import dataclass
from pathlib import Path

from ._formats import SAMPLE_RATE, samples_to_pcm16, stereo_to_mono
from ._resample import Resampler

__all__ = ["WavInfo", "decode_wav", "read_wav", "write_wav"]

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE
_FLIP_SIGN = bytes(b ^ 0x80 for b in range(256))


@dataclass(frozen=True)
class WavInfo:
    """What a WAV file held before conversion."""

    rate: int
    channels: int
    bits: int
    floating: bool


def _interleave(low: bytes, high: bytes) -> bytes:
    out = bytearray(2 * len(low))
    out[0::2] = low
    out[1::2] = high
    return bytes(out)


def _to_pcm16(data: bytes, bits: int, floating: bool) -> bytes:
    """Interleaved samples of any supported width as PCM16 (kept as channels)."""
    if floating:
        if bits not in (32, 64):
            raise ValueError(f"unsupported float WAV width: {bits} bits")
        values: array[float] = array("f" if bits == 32 else "d")
        values.frombytes(data[: len(data) - len(data) % values.itemsize])
        return samples_to_pcm16(
            array("h", (min(32767, max(-32768, round(v * 32768.0))) for v in values))
        )
    width = bits // 8
    data = data[: len(data) - len(data) % width]
    if bits == 8:  # unsigned: flip the sign bit and use it as the high byte
        return _interleave(bytes(len(data)), data.translate(_FLIP_SIGN))
    if bits == 16:
        return data
    if bits in (24, 32):  # little-endian: the two most significant bytes are the last two
        return _interleave(data[width - 2 :: width], data[width - 1 :: width])
    raise ValueError(f"unsupported WAV sample width: {bits} bits")


def decode_wav(data: bytes, rate: int | None = SAMPLE_RATE) -> tuple[bytes, WavInfo]:
    """A WAV file's bytes as PCM16 mono at ``rate`` (``None`` keeps the file's rate)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    position = 12
    fmt: tuple[int, int, int, int] | None = None
    samples: bytes | None = None
    while position + 8 <= len(data):
        chunk_id = data[position : position + 4]
        (size,) = struct.unpack_from("<I", data, position + 4)
        body = data[position + 8 : position + 8 + size]
        if chunk_id == b"fmt ":
            tag, channels, file_rate = struct.unpack_from("<HHI", body, 0)
            (bits,) = struct.unpack_from("<H", body, 14)
            if tag == _EXTENSIBLE and len(body) >= 26:
                (tag,) = struct.unpack_from("<H", body, 24)
            fmt = (tag, channels, file_rate, bits)
        elif chunk_id == b"data":
            samples = body
        position += 8 + size + (size & 1)
    if fmt is None or samples is None:
        raise ValueError("a WAV file needs a 'fmt ' and a 'data' chunk")
    tag, channels, file_rate, bits = fmt
    if tag not in (_PCM, _FLOAT) or channels < 1:
        raise ValueError(f"unsupported WAV encoding (format tag {tag})")
    pcm = stereo_to_mono(_to_pcm16(samples, bits, tag == _FLOAT), channels)
    if rate is not None and rate != file_rate:
        resampler = Resampler(file_rate, rate)
        pcm = resampler.process(pcm) + resampler.flush()
    return pcm, WavInfo(file_rate, channels, bits, tag == _FLOAT)


def read_wav(path: str | Path, rate: int | None = SAMPLE_RATE) -> bytes:
    """Read a WAV file (8/16/24/32-bit PCM or float, any channels) as PCM16 mono at ``rate``."""
    pcm, _ = decode_wav(Path(path).read_bytes(), rate)
    return pcm


def write_wav(path: str | Path, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    """Write PCM16 mono ``pcm`` to a WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
