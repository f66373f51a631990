"""Bridge a phone call's media stream to a Realtime session, offline against the bundled server.

Phone providers stream call audio over a WebSocket as JSON messages: ``media`` events carrying
base64 G.711 µ-law at 8 kHz in 20 ms frames, ``mark`` events the provider echoes back once the
audio before them has been played, and a ``clear`` command that drops the caller's queued
playback. Here the phone side is simulated in-process (a caller who asks a question, then talks
over the answer) and the bridge is the part you would deploy:

- caller audio goes to ``input_audio_buffer.append`` with :func:`pump_audio`;
- the model's audio goes back through an :class:`AudioPlayer` whose sink sends ``media`` and
  ``mark`` messages, reads its played position from the echoed marks, and sends ``clear`` on
  barge-in, so the server keeps exactly what the caller heard.

Two ways to run the session::

    python examples/phone_bridge.py            # the session speaks audio/pcmu: no conversion
    python examples/phone_bridge.py --resample # the session speaks 24 kHz PCM: the bridge
                                               # resamples and transcodes both ways

Add ``--backend asyncio`` to run on asyncio.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
from collections.abc import AsyncIterator

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from realtime_anyio import open_realtime
from realtime_anyio.audio import (
    PCM16_24K,
    PCMU,
    AudioDecoder,
    AudioEncoder,
    AudioPlayer,
    CallbackSink,
    VirtualSpeaker,
    pcm16_to_ulaw,
    pump_audio,
    silence,
    speech,
)
from realtime_anyio.events import ResponseDone
from realtime_anyio.testing import FakeRealtimeServer

FRAME = 160  # 20 ms of 8 kHz µ-law


async def caller(
    to_bridge: MemoryObjectSendStream[str], from_bridge: MemoryObjectReceiveStream[str]
) -> bytes:
    """The phone side: speaks, plays what it gets at real time, echoes marks, obeys clear."""
    phone = VirtualSpeaker(PCMU, buffer_ms=10_000, keep=True)
    marks: list[tuple[int, str]] = []  # (playback position it waits for, name)
    voice = speech("What's the weather like?") + silence(1.2) + speech("Thanks, bye!")
    words = pcm16_to_ulaw(voice[::3][: len(voice) // 3 // 2 * 2])  # a crude 8 kHz line
    words += bytes([0xFF]) * 8000 * 3  # µ-law silence

    async def talk() -> None:
        start = anyio.current_time()
        for n, offset in enumerate(range(0, len(words), FRAME)):
            await anyio.sleep_until(start + n * 0.02)
            payload = base64.b64encode(words[offset : offset + FRAME]).decode()
            await to_bridge.send(json.dumps({"event": "media", "media": {"payload": payload}}))
        await to_bridge.send(json.dumps({"event": "stop"}))

    async def echo_marks() -> None:
        while True:
            while marks and phone.played_bytes() >= marks[0][0]:
                _, name = marks.pop(0)
                await to_bridge.send(json.dumps({"event": "mark", "mark": {"name": name}}))
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        tg.start_soon(talk)
        tg.start_soon(echo_marks)
        async for text in from_bridge:
            message = json.loads(text)
            if message["event"] == "media":
                await phone.write(base64.b64decode(message["media"]["payload"]))
            elif message["event"] == "mark":
                marks.append((phone.written_bytes(), message["mark"]["name"]))
            elif message["event"] == "clear":
                played = await phone.clear()
                print(f"phone: playback cleared after {played / 8:.0f} ms of audio")
                for _, name in marks:  # providers echo pending marks on clear
                    await to_bridge.send(json.dumps({"event": "mark", "mark": {"name": name}}))
                marks.clear()
        tg.cancel_scope.cancel()
    return phone.played_audio()


async def bridge(
    url: str,
    from_phone: MemoryObjectReceiveStream[str],
    to_phone: MemoryObjectSendStream[str],
    *,
    resample: bool,
) -> None:
    """The deployable part: phone media stream <-> Realtime session."""
    session_format = PCM16_24K if resample else PCMU
    played_on_phone = 0  # bytes of session-format audio the phone has played
    sent = 0
    encoder = AudioEncoder(24000, PCMU) if resample else None
    decoder = AudioDecoder(PCMU, 24000) if resample else None

    async def send_media(audio: bytes) -> None:
        # 20 ms frames, each followed by a mark naming how much session audio the caller has
        # heard once it is played (the encoder's look-ahead is counted: its output lags).
        nonlocal sent
        ulaw = encoder.process(audio) if encoder else audio
        for offset in range(0, len(ulaw), FRAME):
            frame = ulaw[offset : offset + FRAME]
            payload = base64.b64encode(frame).decode()
            await to_phone.send(json.dumps({"event": "media", "media": {"payload": payload}}))
            sent += len(frame)
            heard = sent * session_format.sample_width * session_format.rate // 8000
            await to_phone.send(json.dumps({"event": "mark", "mark": {"name": str(heard)}}))

    async def clear_phone() -> None:
        await to_phone.send(json.dumps({"event": "clear"}))

    def phone_position() -> int:
        return played_on_phone

    async def caller_audio() -> AsyncIterator[bytes]:
        nonlocal played_on_phone
        async for text in from_phone:
            message = json.loads(text)
            if message["event"] == "media":
                ulaw = base64.b64decode(message["media"]["payload"])
                yield decoder.process(ulaw) if decoder else ulaw
            elif message["event"] == "mark":
                played_on_phone = max(played_on_phone, int(message["mark"]["name"]))
            elif message["event"] == "stop":
                return

    fmt = {"type": session_format.type}
    async with (
        open_realtime(model="gpt-realtime", websocket_base_url=url, api_key="sk-local") as conn,
        anyio.create_task_group() as tg,
    ):
        await conn.session.update(
            session={
                "type": "realtime",
                "audio": {"input": {"format": fmt}, "output": {"format": fmt}},
            },
            wait=True,
        )
        sink = CallbackSink(send_media, played=phone_position, clear=clear_phone)
        player = AudioPlayer(sink, format=session_format)
        await tg.start(player.run, conn)
        # The phone already paces its frames: no extra pacing here.
        tg.start_soon(
            functools.partial(
                pump_audio, conn, caller_audio(), format=session_format, realtime=False
            )
        )
        completed = 0
        async for event in conn:
            if isinstance(event, ResponseDone):
                print(f"model: response {event.response.status}")
                completed += event.response.status == "completed"
                if completed == 1 and player.last_interruption is not None:
                    break
        cut = player.last_interruption
        if cut is not None:
            for item in cut.cuts:
                print(f"bridge: {item.action} at {item.audio_end_ms} ms: {item.transcript!r}")
        await player.wait_idle()
        tg.cancel_scope.cancel()
    await to_phone.aclose()


async def main(resample: bool) -> None:
    async with FakeRealtimeServer(pacing="realtime") as server:
        server.script.reply_text("It is sunny in Paris today, with a light breeze from the sea.")
        server.script.reply_text("You're welcome, goodbye!")
        to_bridge, from_phone = anyio.create_memory_object_stream[str](100)
        to_phone, from_bridge = anyio.create_memory_object_stream[str](100)
        heard = b""
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                functools.partial(bridge, server.url, from_phone, to_phone, resample=resample)
            )
            heard = await caller(to_bridge, from_bridge)
            tg.cancel_scope.cancel()
        print(f"phone: the caller heard {len(heard) / 8000:.2f} s of the model")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
    parser.add_argument("--resample", action="store_true", help="session in 24 kHz PCM")
    args = parser.parse_args()
    anyio.run(main, args.resample, backend=args.backend)
