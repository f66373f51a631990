"""Stateful stream converters between PCM16 at any rate and the session's wire formats."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable

from ._formats import (
    PCM16_24K,
    WireFormat,
    alaw_to_pcm16,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    ulaw_to_pcm16,
)
from ._resample import Engine, Resampler

__all__ = ["AudioDecoder", "AudioEncoder", "convert_stream"]


class AudioEncoder:
    """PCM16 mono at ``from_rate`` in, audio in ``format`` out, chunk by chunk.

    Resamples (streaming, so chunk borders never click) and then companding-encodes for G.711.
    Feeding chunks gives the same bytes as feeding the whole signal at once.
    """

    def __init__(
        self, from_rate: int, format: WireFormat = PCM16_24K, *, engine: Engine = "auto"
    ) -> None:
        self.format = format
        self._resampler = Resampler(from_rate, format.rate, engine=engine)
        if format.type == "audio/pcmu":
            self._encode = pcm16_to_ulaw
        elif format.type == "audio/pcma":
            self._encode = pcm16_to_alaw
        else:
            self._encode = bytes

    @property
    def pending_ms(self) -> float:
        """Audio fed but still held inside the resampler, in milliseconds."""
        return self._resampler.pending_ms

    def process(self, pcm: bytes | bytearray | memoryview) -> bytes:
        """Convert one chunk; returns what is ready (maybe empty)."""
        return self._encode(self._resampler.process(pcm))

    def flush(self) -> bytes:
        """End of the stream: the audio still held back."""
        return self._encode(self._resampler.flush())


class AudioDecoder:
    """Audio in ``format`` in, PCM16 mono at ``to_rate`` out, chunk by chunk."""

    def __init__(
        self, format: WireFormat = PCM16_24K, to_rate: int = 24000, *, engine: Engine = "auto"
    ) -> None:
        self.format = format
        self._resampler = Resampler(format.rate, to_rate, engine=engine)
        if format.type == "audio/pcmu":
            self._decode = ulaw_to_pcm16
        elif format.type == "audio/pcma":
            self._decode = alaw_to_pcm16
        else:
            self._decode = bytes

    @property
    def pending_ms(self) -> float:
        """Audio fed but still held inside the resampler, in milliseconds."""
        return self._resampler.pending_ms

    def process(self, data: bytes | bytearray | memoryview) -> bytes:
        """Convert one chunk; returns what is ready (maybe empty)."""
        return self._resampler.process(self._decode(data))

    def flush(self) -> bytes:
        """End of the stream: the audio still held back."""
        return self._resampler.flush()


async def convert_stream(
    source: AsyncIterable[bytes] | Iterable[bytes], converter: AudioEncoder | AudioDecoder
) -> AsyncIterator[bytes]:
    """Run each chunk of ``source`` through ``converter``; the held-back tail comes last.

    Cancellation: safe; the converter keeps its state (use a new one for a new stream).
    """
    if isinstance(source, AsyncIterable):
        async for chunk in source:
            out = converter.process(chunk)
            if out:
                yield out
    else:
        for chunk in source:
            out = converter.process(chunk)
            if out:
                yield out
    tail = converter.flush()
    if tail:
        yield tail
