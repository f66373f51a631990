"""The microphone side: cut a source into exact chunks and append them, paced in real time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from .._errors import SendInterrupted
from ..events import InputAudioBufferAppend
from ._formats import PCM16_24K, WireFormat

if TYPE_CHECKING:
    from .._protocols import ConnectionLike

__all__ = ["AudioSource", "PumpResult", "chunked", "pump_audio"]

#: What :func:`pump_audio` accepts: one buffer, an iterable of chunks or an async one (any
#: chunk sizes; they are re-cut).
AudioSource = bytes | bytearray | memoryview | Iterable[bytes] | AsyncIterable[bytes]


@dataclass(frozen=True)
class PumpResult:
    """What :func:`pump_audio` sent."""

    chunks: int
    bytes: int
    #: Milliseconds of audio sent.
    audio_ms: float
    #: The worst lateness of a paced chunk against its due time, in seconds.
    max_lateness: float
    #: Chunks a resilient session refused while it replaced its connection (not sent).
    dropped: int = 0


async def _pieces(source: AudioSource) -> AsyncGenerator[bytes, None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield bytes(source)
    elif isinstance(source, AsyncIterable):
        iterator = aiter(source)
        closer = getattr(iterator, "aclose", None)
        try:
            async for piece in iterator:
                yield piece
        finally:
            if closer is not None:
                # An async generator source is closed with us, not left to the GC.
                with anyio.CancelScope(shield=True), anyio.move_on_after(1.0):
                    await closer()
    else:
        for piece in source:
            yield piece


async def chunked(
    source: AudioSource, *, format: WireFormat = PCM16_24K, chunk_ms: int = 20
) -> AsyncGenerator[bytes, None]:
    """Re-cut ``source`` into chunks of exactly ``chunk_ms`` (the last may be shorter, but is
    always whole samples; a stray half sample at the very end is dropped).

    Cancellation: safe; an async generator source is closed with it.
    """
    size = format.size(chunk_ms)
    if size <= 0:
        raise ValueError("chunk_ms is too small for this format")
    width = format.sample_width
    pending = bytearray()
    async with contextlib.aclosing(_pieces(source)) as pieces:
        async for piece in pieces:
            if not pending and len(piece) == size:
                yield bytes(piece)  # the common case: the source already speaks in chunks
                continue
            pending += piece
            while len(pending) >= size:
                yield bytes(pending[:size])
                del pending[:size]
    tail = len(pending) - len(pending) % width
    if tail:
        yield bytes(pending[:tail])


async def pump_audio(
    conn: ConnectionLike,
    source: AudioSource,
    *,
    format: WireFormat = PCM16_24K,
    chunk_ms: int = 20,
    realtime: bool = True,
    speed: float = 1.0,
) -> PumpResult:
    """Append ``source`` to the input audio buffer in exact ``chunk_ms`` chunks.

    With ``realtime`` (for files and generated audio) chunk *n* is sent at ``start + n *
    chunk_ms`` on the anyio clock: due times come from the chunk index, so there is no drift
    however long it runs. Without it (a microphone already delivers in real time, or a test
    wants speed), chunks go as fast as the connection's backpressure allows. The audio must
    already be in the session's input ``format``. ``speed`` paces at that many times real time
    (demos and tests against the bundled server with the same ``pacing_speed``).

    On a :class:`~realtime_anyio.resilience.ResilientConnection` the pump keeps running
    across a reconnect: chunks refused while the connection is replaced
    (:class:`~realtime_anyio.SendInterrupted`: that turn is gone) are dropped and counted in
    ``PumpResult.dropped``; pacing goes on from the chunk index.

    Cancellation: safe; every chunk is one ``input_audio_buffer.append``, sent whole or not
    at all, and the connection stays usable.
    """
    size_sent = 0
    count = 0
    dropped = 0
    worst = 0.0
    if speed <= 0:
        raise ValueError("speed must be positive")
    step = chunk_ms / 1000 / speed
    start: float | None = None
    async with contextlib.aclosing(chunked(source, format=format, chunk_ms=chunk_ms)) as chunks:
        async for chunk in chunks:
            event = InputAudioBufferAppend(audio=chunk)
            slept = False
            if realtime:
                now = anyio.current_time()
                if start is None:
                    start = now
                due = start + count * step
                if due > now:
                    await anyio.sleep_until(due)
                    now = anyio.current_time()
                    slept = True
                worst = max(worst, now - due)
            try:
                if slept:
                    # The sleep was this chunk's checkpoint: queue it without another pass of
                    # the scheduler, unless the send queue is full.
                    try:
                        conn.send_nowait(event)
                    except anyio.WouldBlock:
                        await conn.send(event)
                else:
                    await conn.send(event)
            except SendInterrupted:
                dropped += 1
            else:
                size_sent += len(chunk)
            count += 1
    if not count:
        await anyio.lowlevel.checkpoint()
    return PumpResult(count - dropped, size_sent, format.ms(size_sent), worst, dropped)
