"""Where response audio goes: the sink protocol and the sinks that need no device.

A sink reports how much of what it was given has actually been *played* (heard), which is what
the player's playback clock and a barge-in truncation are computed from. Positions are byte
counts in the player's wire format, counted from the sink's creation.
"""

from __future__ import annotations

import math
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import anyio
import anyio.lowlevel

from ._formats import PCM16_24K, WireFormat, alaw_to_pcm16, ulaw_to_pcm16

__all__ = ["AudioSink", "CallbackSink", "VirtualSpeaker", "WavSink"]


@runtime_checkable
class AudioSink(Protocol):
    """What :class:`~realtime_anyio.audio.AudioPlayer` writes to.

    ``write`` may wait (a full device buffer); it must be cancellation-safe: a cancelled write
    accepted all of the chunk or none of it. A sink may also offer ``write_nowait(audio) ->
    bool`` (take the chunk now if it can, without waiting); the player then skips a task switch
    per chunk. ``played_bytes`` is cheap and synchronous.
    ``clear`` stops playback at once, drops whatever was written but not yet played and returns
    ``played_bytes`` as of that moment; afterwards the written count equals the played count.
    """

    async def write(self, audio: bytes) -> None:
        """Accept ``audio`` for playback."""
        ...

    def played_bytes(self) -> int:
        """How many of the bytes written so far have been played."""
        ...

    async def clear(self) -> int:
        """Stop, drop unplayed audio, return the played position."""
        ...


class VirtualSpeaker:
    """A speaker without a device: plays at real time on the anyio clock.

    Holds up to ``buffer_ms`` of audio ahead of the play position (``write`` waits beyond that,
    as a sound card's buffer would). With ``keep=True`` it records what was played, for tests
    and for saving exactly what a listener heard. ``speed`` plays that many times faster than
    real time (demos and tests). Deterministic under a virtual clock.
    """

    def __init__(
        self,
        format: WireFormat = PCM16_24K,
        *,
        buffer_ms: float = 100.0,
        keep: bool = False,
        speed: float = 1.0,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.format = format
        self.buffer_ms = buffer_ms
        self._speed = speed
        self._byte_rate = format.rate * format.sample_width * speed
        self._written = 0
        # The current run of uninterrupted playback: it began at _run_start (clock time) when
        # _run_base bytes had been played, and holds _run_bytes bytes.
        self._run_start = 0.0
        self._run_base = 0
        self._run_bytes = 0
        self._kept: bytearray | None = bytearray() if keep else None

    def _ends_at(self) -> float:
        return self._run_start + self._run_bytes / self._byte_rate

    def played_bytes(self) -> int:
        """Bytes played so far (written minus what is still in the buffer)."""
        elapsed = anyio.current_time() - self._run_start
        width = self.format.sample_width
        done = min(self._run_bytes, math.floor(elapsed * self._byte_rate / width) * width)
        return self._run_base + max(0, done)

    def written_bytes(self) -> int:
        """Bytes written so far (less what a ``clear`` dropped)."""
        return self._written

    def buffered_ms(self) -> float:
        """Milliseconds of audio written but not yet played."""
        return self.format.ms(self._written - self.played_bytes())

    async def write(self, audio: bytes) -> None:
        """Queue ``audio``; waits while more than ``buffer_ms`` is buffered.

        Cancellation: safe; a cancelled write queued nothing.
        """
        wake = self._ends_at() - self.buffer_ms / 1000 / self._speed
        if wake > anyio.current_time():
            await anyio.sleep_until(wake)
        else:
            await anyio.lowlevel.checkpoint()
        self._accept(audio)

    def write_nowait(self, audio: bytes) -> bool:
        """Queue ``audio`` if the buffer has room now; False (nothing queued) otherwise."""
        if self._ends_at() - self.buffer_ms / 1000 / self._speed > anyio.current_time():
            return False
        self._accept(audio)
        return True

    def _accept(self, audio: bytes) -> None:
        now = anyio.current_time()
        if now >= self._ends_at():  # the buffer ran dry: a new run starts now
            self._run_base += self._run_bytes
            self._run_start = now
            self._run_bytes = 0
        self._run_bytes += len(audio)
        self._written += len(audio)
        if self._kept is not None:
            self._kept += audio

    async def clear(self) -> int:
        """Stop at the current position and drop the rest.

        Cancellation: safe; the clear has happened once this is entered.
        """
        played = self.played_bytes()
        self._written = self._run_base = played
        self._run_start = anyio.current_time()
        self._run_bytes = 0
        if self._kept is not None:
            del self._kept[played:]
        await anyio.lowlevel.checkpoint()
        return played

    def played_audio(self) -> bytes:
        """The audio played so far (needs ``keep=True``)."""
        if self._kept is None:
            raise RuntimeError("create the VirtualSpeaker with keep=True to record audio")
        return bytes(self._kept[: self.played_bytes()])


class WavSink:
    """Writes the audio to a WAV file (PCM16 mono; G.711 is decoded). Everything written counts
    as played. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: str | Path, format: WireFormat = PCM16_24K) -> None:
        self.format = format
        self._written = 0
        self._file = wave.open(str(path), "wb")  # noqa: SIM115 - closed by close()
        self._file.setnchannels(1)
        self._file.setsampwidth(2)
        self._file.setframerate(format.rate)
        if format.type == "audio/pcmu":
            self._decode: Callable[[bytes], bytes] = ulaw_to_pcm16
        elif format.type == "audio/pcma":
            self._decode = alaw_to_pcm16
        else:
            self._decode = bytes

    async def write(self, audio: bytes) -> None:
        """Append ``audio`` to the file (a small blocking write).

        Cancellation: safe; the chunk is written whole or not at all.
        """
        await anyio.lowlevel.checkpoint()
        self.write_nowait(audio)

    def write_nowait(self, audio: bytes) -> bool:
        """Append ``audio`` to the file now; always True."""
        self._file.writeframes(self._decode(audio))
        self._written += len(audio)
        return True

    def played_bytes(self) -> int:
        """Bytes written to the file."""
        return self._written

    async def clear(self) -> int:
        """Nothing is queued in a file: returns the bytes written.

        Cancellation: safe.
        """
        await anyio.lowlevel.checkpoint()
        return self._written

    def close(self) -> None:
        """Finish the WAV header and close the file."""
        self._file.close()

    def __enter__(self) -> WavSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class CallbackSink:
    """Forwards each chunk to ``await send(chunk)``: a phone line, a WebRTC track, a queue.

    When the far end reports its own playback position, pass ``played`` (a callable returning
    the bytes it has played, e.g. from a media stream's ``mark`` acknowledgements); otherwise
    everything sent counts as played. ``clear`` (async) tells the far end to drop what it has
    queued, e.g. a media stream's ``clear`` message.
    """

    def __init__(
        self,
        send: Callable[[bytes], Awaitable[None]],
        *,
        played: Callable[[], int] | None = None,
        clear: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._send = send
        self._played = played
        self._clear = clear
        self._written = 0

    async def write(self, audio: bytes) -> None:
        """Forward ``audio``.

        Cancellation: as safe as ``send`` is; counted as written once ``send`` returns.
        """
        await self._send(audio)
        self._written += len(audio)

    def played_bytes(self) -> int:
        """The far end's position if it reports one, else the bytes forwarded."""
        if self._played is None:
            return self._written
        return max(0, min(self._written, self._played()))

    async def clear(self) -> int:
        """Ask the far end to drop its queued audio; returns the played position.

        Cancellation: the position is taken first; a cancel may interrupt the far-end call.
        """
        played = self.played_bytes()
        self._written = played
        if self._clear is not None:
            await self._clear()
        else:
            await anyio.lowlevel.checkpoint()
        return played
