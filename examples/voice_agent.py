"""A voice agent: mic in, speaker out, server-VAD turns, barge-in. ``--live``: the real API and
your sound devices (default: the bundled server, a simulated user); ``asyncio``: on asyncio."""

import sys

import anyio

from realtime_anyio import audio, open_realtime
from realtime_anyio.events import ResponseDone, ResponseOutputAudioTranscriptDone
from realtime_anyio.testing import FakeRealtimeServer


async def agent(mic: audio.AudioSource, speaker: audio.AudioSink, url: str | None = None) -> None:
    async with (
        open_realtime(model="gpt-realtime", websocket_base_url=url, api_key=url and "sk") as conn,
        anyio.create_task_group() as tg,
    ):
        player = audio.AudioPlayer(speaker)  # barge-in when the server hears the user speak
        await tg.start(player.run, conn)
        tg.start_soon(audio.pump_audio, conn, mic)  # 20 ms appends, paced on the anyio clock
        async for event in conn:  # the app's own loop: the player reads its own copy
            if isinstance(event, ResponseOutputAudioTranscriptDone):
                print(f"model: {player.transcript(event.item_id)!r}")  # only what was heard
            elif isinstance(event, ResponseDone) and event.response.status == "completed":
                break
        tg.cancel_scope.cancel()


async def main() -> None:
    if "--live" in sys.argv:
        async with audio.Microphone() as mic, audio.Speaker() as speaker:
            return await agent(mic, speaker)
    user = audio.speech("Tell me a story.") + audio.silence(1.5) + audio.speech("Stop!")
    async with FakeRealtimeServer(pacing="realtime") as server:
        server.script.reply_text("Once upon a time, a lighthouse keeper collected the waves.")
        server.script.reply_text("Okay, I'll stop.")
        await agent(user + audio.silence(2.0), audio.VirtualSpeaker(), url=server.url)


anyio.run(main, backend="asyncio" if "asyncio" in sys.argv else "trio")
