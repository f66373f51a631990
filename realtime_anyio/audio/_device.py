"""Sound devices through ``sounddevice`` (the ``realtime-anyio[audio]`` extra).

The device's callback runs on PortAudio's audio thread, which must never wait: it only appends
to (microphone) or takes from (speaker) a bounded ``deque``, whose single appends and pops are
atomic. The anyio side polls that deque every half chunk. anyio offers no call from a thread
into the event loop that cannot block the calling thread, and a blocked audio thread is a
glitch, so polling (a few dozen cheap wake-ups a second) is the safe bridge.
"""

from __future__ import annotations

import importlib
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread

from ._convert import AudioDecoder
from ._formats import PCM16_24K, SAMPLE_RATE, WireFormat

__all__ = ["Microphone", "Speaker"]

#: Builds a PortAudio stream: called with ``samplerate``, ``channels``, ``dtype``,
#: ``blocksize``, ``device`` and ``callback`` keywords; returns an object with ``start``,
#: ``stop`` and ``close``. Defaults to ``sounddevice.RawInputStream``/``RawOutputStream``.
StreamFactory = Callable[..., Any]


def _sounddevice(kind: str) -> StreamFactory:
    try:
        module: Any = importlib.import_module("sounddevice")
    except (ImportError, OSError) as exc:
        raise RuntimeError(
            "sound devices need the sounddevice package and PortAudio: "
            "pip install 'realtime-anyio[audio]'"
        ) from exc
    factory: StreamFactory = getattr(module, kind)
    return factory


def _start(
    factory: StreamFactory, *, rate: int, block_ms: int, device: int | str | None, callback: Any
) -> Any:
    """Open and start a mono PCM16 stream whose callback gets ``block_ms`` at a time."""
    stream = factory(
        samplerate=rate,
        channels=1,
        dtype="int16",
        blocksize=rate * block_ms // 1000,
        device=device,
        callback=callback,
    )
    stream.start()
    return stream


async def _stop(stream: Any) -> None:
    """Stop and close ``stream`` in a worker thread: shielded, and bounded at five seconds."""
    if stream is None:
        await anyio.lowlevel.checkpoint()
        return

    def stop() -> None:
        stream.stop()
        stream.close()

    with anyio.CancelScope(shield=True), anyio.move_on_after(5):
        await anyio.to_thread.run_sync(stop)


class Microphone:
    """PCM16 mono chunks from an input device: ``async with Microphone() as mic``, then
    ``async for chunk in mic`` (or hand ``mic`` to :func:`pump_audio` with ``realtime=False``).

    Holds at most ``max_buffer_ms`` of audio; when the app falls behind, new chunks are
    dropped and counted in :attr:`overflows` (the audio thread is never blocked).
    """

    def __init__(
        self,
        *,
        rate: int = SAMPLE_RATE,
        chunk_ms: int = 20,
        max_buffer_ms: int = 2000,
        device: int | str | None = None,
        stream_factory: StreamFactory | None = None,
    ) -> None:
        self.rate = rate
        self.chunk_ms = chunk_ms
        self.device = device
        self._factory = stream_factory
        self._chunks: deque[bytes] = deque()
        self._max_chunks = max(1, max_buffer_ms // chunk_ms)
        self._stream: Any = None
        self._closed = False
        #: Chunks dropped because the buffer was full.
        self.overflows = 0
        #: Callbacks that reported a device status problem (e.g. an input overflow).
        self.device_warnings = 0

    def callback(self, indata: Any, frames: int, time: Any, status: Any) -> None:
        """The device callback (audio thread): copy and append, never wait."""
        if status:
            self.device_warnings += 1
        if len(self._chunks) >= self._max_chunks:
            self.overflows += 1
            return
        self._chunks.append(bytes(indata))

    async def __aenter__(self) -> Microphone:
        factory = self._factory or _sounddevice("RawInputStream")
        self._stream = _start(
            factory,
            rate=self.rate,
            block_ms=self.chunk_ms,
            device=self.device,
            callback=self.callback,
        )
        await anyio.lowlevel.checkpoint()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop and close the device; iteration then ends after the buffered chunks.

        Cancellation: the device is closed even if cancelled (in a worker thread, bounded).
        """
        self._closed = True
        stream, self._stream = self._stream, None
        await _stop(stream)

    def __aiter__(self) -> Microphone:
        return self

    async def __anext__(self) -> bytes:
        """The next chunk, as it comes from the device.

        Cancellation: safe; no chunk is lost.
        """
        await anyio.lowlevel.checkpoint()
        while True:
            try:
                return self._chunks.popleft()
            except IndexError:
                if self._closed:
                    raise StopAsyncIteration from None
            await anyio.sleep(self.chunk_ms / 2000)


class Speaker:
    """An :class:`~realtime_anyio.audio.AudioSink` on an output device.

    Accepts audio in ``format`` (the session's output format), converts it for the device
    (``device_rate``, default the format's rate) and keeps ``buffer_ms`` queued ahead of the
    device. Its played position subtracts what is still queued and what the resampler holds.
    """

    def __init__(
        self,
        format: WireFormat = PCM16_24K,
        *,
        device_rate: int | None = None,
        buffer_ms: float = 100.0,
        block_ms: int = 10,
        device: int | str | None = None,
        stream_factory: StreamFactory | None = None,
    ) -> None:
        self.format = format
        self.device_rate = device_rate or format.rate
        self.buffer_ms = buffer_ms
        self.block_ms = block_ms
        self.device = device
        self._factory = stream_factory
        self._decoder = AudioDecoder(format, self.device_rate)
        self._chunks: deque[bytes] = deque()
        self._remainder = b""
        self._fed = 0  # device bytes queued (only the anyio side writes it)
        self._consumed = 0  # device bytes played (only the audio thread writes it)
        self._drop = 0  # clear generation, read by the audio thread
        self._seen_drop = 0
        self._written = 0
        self._stream: Any = None
        #: Callbacks that found nothing to play (silence was played instead).
        self.underruns = 0

    def callback(self, outdata: Any, frames: int, time: Any, status: Any) -> None:
        """The device callback (audio thread): fill ``outdata``, never wait."""
        need = 2 * frames
        if self._seen_drop != self._drop:
            self._seen_drop = self._drop
            self._remainder = b""
        data = self._remainder
        while len(data) < need:
            try:
                data += self._chunks.popleft()
            except IndexError:
                break
        block, self._remainder = data[:need], data[need:]
        if len(block) < need:
            self.underruns += 1
        self._consumed += len(block)
        outdata[:] = block + bytes(need - len(block))

    async def __aenter__(self) -> Speaker:
        factory = self._factory or _sounddevice("RawOutputStream")
        self._stream = _start(
            factory,
            rate=self.device_rate,
            block_ms=self.block_ms,
            device=self.device,
            callback=self.callback,
        )
        await anyio.lowlevel.checkpoint()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop and close the device.

        Cancellation: the device is closed even if cancelled (in a worker thread, bounded).
        """
        stream, self._stream = self._stream, None
        await _stop(stream)

    def _queued_device_ms(self) -> float:
        return max(0, self._fed - self._consumed) / 2 / self.device_rate * 1000

    def played_bytes(self) -> int:
        """Bytes (in ``format``) played: written minus queued minus held in the resampler."""
        unplayed_ms = self._queued_device_ms() + self._decoder.pending_ms
        return max(0, self._written - self.format.size(unplayed_ms))

    async def write(self, audio: bytes) -> None:
        """Queue ``audio``; waits while more than ``buffer_ms`` is queued for the device.

        Cancellation: safe; a cancelled write queued nothing.
        """
        await anyio.lowlevel.checkpoint()
        # Polled: the audio thread cannot set an anyio Event without risking a wait.
        while not self.write_nowait(audio):  # noqa: ASYNC110
            await anyio.sleep(self.block_ms / 2000)

    def write_nowait(self, audio: bytes) -> bool:
        """Queue ``audio`` if no more than ``buffer_ms`` is queued; False otherwise."""
        if self._queued_device_ms() > self.buffer_ms:
            return False
        pcm = self._decoder.process(audio)
        self._written += len(audio)
        self._fed += len(pcm)
        self._chunks.append(pcm)
        return True

    async def clear(self) -> int:
        """Drop what is queued for the device; returns the played position.

        Cancellation: safe; the clear has happened once this is entered.
        """
        played = self.played_bytes()
        self._chunks.clear()
        self._drop += 1
        # What the audio thread still holds is at most one block; count it as played.
        self._fed = self._consumed
        self._decoder = AudioDecoder(self.format, self.device_rate)
        self._written = played
        await anyio.lowlevel.checkpoint()
        return played
