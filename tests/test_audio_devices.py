"""Microphone and Speaker bridges with a fake device: a real thread calls the callbacks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from realtime_anyio.audio import Microphone, Speaker, tone


class FakeStream:
    """A PortAudio stream stand-in: a thread calls ``callback`` every ``blocksize`` frames."""

    def __init__(
        self,
        *,
        samplerate: int,
        channels: int,
        dtype: str,
        blocksize: int,
        device: object,
        callback: Callable[..., None],
        output: bool,
        source: bytes = b"",
    ) -> None:
        assert channels == 1 and dtype == "int16"
        self.rate = samplerate
        self.frames = blocksize
        self.callback = callback
        self.output = output
        self.source = source
        self.played = bytearray()
        self.calls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        period = self.frames / self.rate
        offset = 0
        while not self._stop.is_set():
            if self.output:
                block = bytearray(2 * self.frames)
                self.callback(block, self.frames, None, None)
                self.played += block
            else:
                data = self.source[offset : offset + 2 * self.frames]
                offset += 2 * self.frames
                if len(data) < 2 * self.frames:
                    data = bytes(2 * self.frames)
                self.callback(data, self.frames, None, None)
            self.calls += 1
            time.sleep(period)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def close(self) -> None:
        pass


def factory(streams: list[FakeStream], **extra: Any) -> Callable[..., FakeStream]:
    def make(**kwargs: Any) -> FakeStream:
        stream = FakeStream(**kwargs, **extra)
        streams.append(stream)
        return stream

    return make


async def test_microphone_delivers_device_chunks_in_order() -> None:
    source = tone(440, 0.5)
    streams: list[FakeStream] = []
    got = bytearray()
    with anyio.fail_after(10):
        async with Microphone(
            chunk_ms=20, stream_factory=factory(streams, output=False, source=source)
        ) as mic:
            async for chunk in mic:
                assert len(chunk) == 960
                got += chunk
                if len(got) >= len(source):
                    break
    assert bytes(got[: len(source)]) == source
    assert mic.overflows == 0


async def test_microphone_counts_overflow_instead_of_blocking_the_thread() -> None:
    streams: list[FakeStream] = []
    with anyio.fail_after(10):
        async with Microphone(
            chunk_ms=10, max_buffer_ms=50, stream_factory=factory(streams, output=False)
        ) as mic:
            while streams[0].calls < 15:  # noqa: ASYNC110 - waiting on another thread
                await anyio.sleep(0.01)
            assert mic.overflows >= 5
            chunks = [await mic.__anext__() for _ in range(5)]
            assert all(len(c) == 480 for c in chunks)


async def test_speaker_plays_and_reports_its_position() -> None:
    streams: list[FakeStream] = []
    audio = tone(440, 0.3)
    with anyio.fail_after(10):
        async with Speaker(
            buffer_ms=60, block_ms=10, stream_factory=factory(streams, output=True)
        ) as speaker:
            for start in range(0, len(audio), 960):
                await speaker.write(audio[start : start + 960])
            assert 0 < speaker.played_bytes() <= len(audio)
            while speaker.played_bytes() < len(audio):  # noqa: ASYNC110
                await anyio.sleep(0.01)
            played = await speaker.clear()
            assert played == len(audio)
    out = bytes(streams[0].played)
    start = out.find(audio[:960])
    assert start >= 0 and out[start : start + len(audio)] == audio


async def test_speaker_clear_drops_queued_audio_and_resamples_for_the_device() -> None:
    streams: list[FakeStream] = []
    with anyio.fail_after(10):
        async with Speaker(
            device_rate=48000, buffer_ms=500, stream_factory=factory(streams, output=True)
        ) as speaker:
            await speaker.write(tone(440, 0.4))
            await anyio.sleep(0.1)
            played = await speaker.clear()
            assert 0 < played < 0.4 * 48000
            assert speaker.played_bytes() <= played + 2 * 48 * 20
    assert streams[0].rate == 48000


def test_a_missing_sounddevice_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real = importlib.import_module

    def fake(name: str, *args: Any) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)

    async def main() -> None:
        async with Microphone():
            pass

    with pytest.raises(RuntimeError, match="realtime-anyio\\[audio\\]"):
        anyio.run(main)
