"""A voice agent: mic in, speaker out, server-VAD turns, barge-in (offline: a simulated user)."""

import argparse

import anyio

from realtime_anyio import audio, open_realtime, testing


async def agent(mic: audio.AudioSource, speaker: audio.AudioSink, url: str | None = None) -> None:
    async with (
        open_realtime(model="gpt-realtime", websocket_base_url=url, api_key=url and "sk") as conn,
        anyio.create_task_group() as tg,
    ):
        player = audio.AudioPlayer(speaker)  # barge-in when the server hears the user speak
        await tg.start(player.run, conn)
        tg.start_soon(audio.pump_audio, conn, mic)  # 20 ms appends, paced on the anyio clock
        async for event in conn:  # the app's own loop: the player reads its own copy
            if event.type == "response.output_audio_transcript.done":
                print(f"model: {player.transcript(event.item_id)!r}")  # only what was heard
            elif event.type == "response.done" and event.response.status == "completed":
                break
        tg.cancel_scope.cancel()


async def main(live: bool) -> None:
    if live:
        async with audio.Microphone() as mic, audio.Speaker() as speaker:
            return await agent(mic, speaker)
    user = audio.speech("Tell me a story.") + audio.silence(1.5) + audio.speech("Stop!")
    async with testing.FakeRealtimeServer(pacing="realtime") as server:
        server.script.reply_text("Once upon a time, a lighthouse keeper collected the waves.")
        server.script.reply_text("Okay, I'll stop.")
        await agent(user + audio.silence(2.0), audio.VirtualSpeaker(), url=server.url)


cli = argparse.ArgumentParser(description=__doc__)
cli.add_argument("--backend", choices=["trio", "asyncio"], default="trio")
cli.add_argument("--live", action="store_true", help="the real API and your sound devices")
anyio.run(main, (args := cli.parse_args()).live, backend=args.backend)
