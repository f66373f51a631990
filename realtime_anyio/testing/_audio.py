"""The fake server's audio: the public :mod:`realtime_anyio.audio` helpers plus the server's own
cheap conversions between 24 kHz PCM and the G.711 wire formats.

The server's 3:1 conversions (a mean of three samples down, each sample thrice up) are not
meant to sound good, only to be fast and deterministic; an app should use
:class:`realtime_anyio.audio.AudioEncoder` and :class:`~realtime_anyio.audio.AudioDecoder`.
"""

from __future__ import annotations

from array import array

from ..audio import (
    SAMPLE_RATE,
    alaw_to_pcm16,
    bytes_per_ms,
    duration_ms,
    level_dbfs,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    read_wav,
    silence,
    speech,
    speech_tokens,
    tone,
    ulaw_to_pcm16,
    write_wav,
)
from ..audio._formats import pcm16_samples, samples_to_pcm16

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


def encode_g711(pcm: bytes, law: str) -> bytes:
    """24 kHz PCM16 to 8 kHz G.711 (``law`` is ``"audio/pcmu"`` or ``"audio/pcma"``)."""
    samples = pcm16_samples(pcm)
    n = len(samples) // 3
    means = array(
        "h", ((samples[3 * i] + samples[3 * i + 1] + samples[3 * i + 2]) // 3 for i in range(n))
    )
    data = samples_to_pcm16(means)
    return pcm16_to_ulaw(data) if law == "audio/pcmu" else pcm16_to_alaw(data)


def decode_g711(data: bytes, law: str) -> bytes:
    """8 kHz G.711 to 8 kHz PCM16."""
    return ulaw_to_pcm16(data) if law == "audio/pcmu" else alaw_to_pcm16(data)


def to_pcm24k(data: bytes, format_type: str) -> bytes:
    """Audio in a session format as 24 kHz PCM16 (G.711 is decoded and upsampled)."""
    if format_type == "audio/pcm":
        return data
    samples = pcm16_samples(decode_g711(data, format_type))
    tripled = array("h", bytes(6 * len(samples)))
    for offset in range(3):
        tripled[offset::3] = samples
    return samples_to_pcm16(tripled)


def from_pcm24k(pcm: bytes, format_type: str) -> bytes:
    """24 kHz PCM16 in a session format (G.711 is downsampled and encoded)."""
    if format_type == "audio/pcm":
        return pcm
    return encode_g711(pcm, format_type)
