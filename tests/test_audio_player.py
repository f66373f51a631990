"""AudioPlayer against the bundled server: the playback clock and barge-in, on both backends.

Every case checks with ``conversation.item.retrieve`` that the server kept exactly the audio
that was played, and that no event of the player's drew an error.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest

from realtime_anyio import RealtimeConnection, ReceivedEvent, ServerError, open_realtime
from realtime_anyio.audio import (
    AudioPlayer,
    AudioSink,
    CallbackSink,
    VirtualSpeaker,
    WavSink,
    pump_audio,
    silence,
    speech,
)
from realtime_anyio.events import (
    Error,
    FunctionCallItem,
    MessageItem,
    OutputAudioContent,
    ResponseCreated,
    ResponseDone,
    ResponseOutputAudioDelta,
    function_call_output,
)
from realtime_anyio.testing import FakeRealtimeServer, Say, ToolCall
from realtime_anyio.transport import ConnectRequest, memory_transport_pair

STORY = "Once upon a time, in a small town by the sea, there lived a keeper of a lighthouse."
REALTIME = pytest.mark.realtime_server(pacing="realtime")
#: The same cases with the app's loop feeding the player instead of a subscription.
FEED = pytest.mark.parametrize("feed", [False, True], ids=["subscribed", "fed"])


@dataclass
class App:
    conn: RealtimeConnection
    player: AudioPlayer
    events: list[ReceivedEvent] = field(default_factory=lambda: [])

    def errors(self) -> list[Error]:
        # The tests' own retrieves of deleted items are expected to fail.
        return [
            e
            for e in self.events
            if isinstance(e, Error) and e.error.code != "item_retrieve_invalid_item_id"
        ]

    async def first_audio(self, *, other_than: str | None = None) -> str:
        delta = await self.conn.wait_for(
            ResponseOutputAudioDelta, predicate=lambda d: d.item_id != other_than
        )
        return delta.item_id

    async def until_played(self, item_id: str, ms: float) -> None:
        while self.player.played_ms(item_id) < ms:  # noqa: ASYNC110 - a clock, not an event
            await anyio.sleep(0.01)

    async def kept_audio(self, item_id: str) -> bytes:
        retrieved = await self.conn.conversation.item.retrieve(item_id=item_id, wait=True)
        item = retrieved.item
        assert isinstance(item, MessageItem)
        part = item.content[0]
        assert isinstance(part, OutputAudioContent) and isinstance(part.audio, bytes)
        return part.audio


@asynccontextmanager
async def app(
    server: FakeRealtimeServer, sink: AudioSink, *, feed: bool = False
) -> AsyncIterator[App]:
    async with (
        open_realtime(model="gpt-realtime", websocket_base_url=server.url, api_key="sk-t") as conn,
        anyio.create_task_group() as tg,
    ):
        player = AudioPlayer(sink)
        await tg.start(functools.partial(player.run, conn, feed=feed))
        state = App(conn, player)

        async def loop() -> None:  # the app's own event loop, beside the player's
            async for event in conn:
                if feed:
                    player.feed(event)
                state.events.append(event)

        tg.start_soon(loop)
        yield state
        assert player.statistics().errors == ()
        assert state.errors() == []
        tg.cancel_scope.cancel()


class NeverPlays:
    """A far end that has not played anything yet."""

    async def write(self, audio: bytes) -> None:
        await anyio.lowlevel.checkpoint()

    def played_bytes(self) -> int:
        return 0

    async def clear(self) -> int:
        await anyio.lowlevel.checkpoint()
        return 0


class OverReports:
    """A far end whose position runs ahead of what it was given (twice as fast)."""

    def __init__(self) -> None:
        self.written = 0

    async def write(self, audio: bytes) -> None:
        self.written += len(audio)
        await anyio.lowlevel.checkpoint()

    def played_bytes(self) -> int:
        return 2 * self.written

    async def clear(self) -> int:
        await anyio.lowlevel.checkpoint()
        return 2 * self.written


async def gone(conn: RealtimeConnection, item_id: str) -> bool:
    try:
        await conn.conversation.item.retrieve(item_id=item_id, wait=True)
    except ServerError as exc:
        assert exc.code == "item_retrieve_invalid_item_id"
        return True
    return False


@FEED
@REALTIME
async def test_played_zero_deletes_the_item(
    realtime_server: FakeRealtimeServer, feed: bool
) -> None:
    realtime_server.script.reply_text(STORY)
    with anyio.fail_after(15):
        async with app(realtime_server, NeverPlays(), feed=feed) as a:
            await a.conn.response.create()
            item = await a.first_audio()
            await anyio.sleep(0.2)
            cut = await a.player.interrupt()
            assert [(c.item_id, c.action) for c in cut.cuts] == [(item, "deleted")]
            assert len(cut.cancelled) == 1
            assert await gone(a.conn, item)


@FEED
@REALTIME
async def test_barge_in_before_the_first_delta(
    realtime_server: FakeRealtimeServer, feed: bool
) -> None:
    realtime_server.script.reply_text(STORY, delay=0.3)
    with anyio.fail_after(15):
        async with app(realtime_server, VirtualSpeaker(), feed=feed) as a:
            await a.conn.response.create()
            created = await a.conn.wait_for(ResponseCreated)
            cut = await a.player.interrupt()
            assert cut.cuts == () and cut.cancelled == (created.response.id,)
            done = await a.conn.wait_for(ResponseDone)
            assert done.response.status == "cancelled"
            assert a.player.statistics().received_ms == 0
            items = [o.id for o in done.response.output or [] if isinstance(o, MessageItem)]
            for item_id in items:
                assert isinstance(item_id, str) and await gone(a.conn, item_id)


async def test_played_all_keeps_everything(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.script.reply_text("A short answer.")
    speaker = VirtualSpeaker(keep=True)
    with anyio.fail_after(15):
        async with app(realtime_server, speaker) as a:
            await a.conn.response.create()
            await a.conn.wait_for(ResponseDone)
            await a.player.wait_idle()
            item = next(e.item_id for e in a.events if isinstance(e, ResponseOutputAudioDelta))
            cut = await a.player.interrupt()
            assert cut.cuts == () and cut.cancelled == ()
            assert await a.kept_audio(item) == speaker.played_audio()
            assert a.player.transcript(item) == "A short answer."
            with pytest.raises(RuntimeError, match="feed=True"):
                a.player.feed(a.events[0])


@REALTIME
async def test_played_more_than_received_is_capped(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.script.reply_text(STORY)
    with anyio.fail_after(15):
        async with app(realtime_server, OverReports()) as a:
            await a.conn.response.create()
            item = await a.first_audio()
            await anyio.sleep(0.3)
            cut = await a.player.interrupt()
            (only,) = cut.cuts
            assert only.action == "truncated" and only.played_ms == only.received_ms
            assert only.audio_end_ms == int(only.received_ms)
            assert only.audio_end_ms is not None
            assert len(await a.kept_audio(item)) == only.audio_end_ms * 48


@REALTIME
async def test_barge_in_during_a_preamble_before_a_tool_call(
    realtime_server: FakeRealtimeServer,
) -> None:
    realtime_server.script.reply(Say(STORY), ToolCall("get_weather", {"city": "Paris"}))
    speaker = VirtualSpeaker(keep=True)
    with anyio.fail_after(15):
        async with app(realtime_server, speaker) as a:
            await a.conn.response.create()
            item = await a.first_audio()
            await a.until_played(item, 400)
            cut = await a.player.interrupt()
            (only,) = cut.cuts
            assert only.action == "truncated" and 400 <= only.played_ms < 700
            assert only.audio_end_ms is not None
            kept = await a.kept_audio(item)
            assert kept == speaker.played_audio()[: only.audio_end_ms * 48]
            assert STORY.startswith(only.transcript) and 0 < len(only.transcript) < len(STORY)


async def test_barge_in_during_a_tool_call(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.script.reply(Say("One moment."), ToolCall("get_weather", {"city": "Paris"}))
    realtime_server.script.reply_text("Sunny.")
    speaker = VirtualSpeaker(keep=True)
    with anyio.fail_after(15):
        async with app(realtime_server, speaker) as a:
            await a.conn.response.create()
            done = await a.conn.wait_for(ResponseDone)
            await a.player.wait_idle()
            call = next(o for o in done.response.output or [] if isinstance(o, FunctionCallItem))
            preamble = next(o for o in done.response.output or [] if isinstance(o, MessageItem))
            # The tool is running when the user talks: nothing is playing, nothing to cut.
            cut = await a.player.interrupt()
            assert cut.cuts == () and cut.cancelled == ()
            assert isinstance(preamble.id, str)
            assert await a.kept_audio(preamble.id) == speaker.played_audio()
            assert isinstance(call.call_id, str)
            await a.conn.conversation.item.create(
                item=function_call_output(call.call_id, '{"sky": "clear"}'), wait=True
            )


@FEED
@REALTIME
async def test_two_items_in_one_response(realtime_server: FakeRealtimeServer, feed: bool) -> None:
    realtime_server.script.reply(Say("First, a short part."), Say(STORY))
    speaker = VirtualSpeaker(keep=True)
    with anyio.fail_after(20):
        async with app(realtime_server, speaker, feed=feed) as a:
            await a.conn.response.create()
            first = await a.first_audio()
            second = await a.first_audio(other_than=first)
            await a.until_played(second, 300)
            cut = await a.player.interrupt()
            (only,) = cut.cuts  # the first item was heard whole: kept as it is
            assert only.item_id == second and only.action == "truncated"
            # Counted from the second item's own start, not the response's.
            assert 300 <= only.played_ms < 600
            first_audio = await a.kept_audio(first)
            assert len(first_audio) == a.player.received_ms(first) * 48
            heard = speaker.played_audio()
            assert only.audio_end_ms is not None
            assert await a.kept_audio(second) == heard[len(first_audio) :][: only.audio_end_ms * 48]


@FEED
@REALTIME
async def test_two_triggers_85_ms_apart(realtime_server: FakeRealtimeServer, feed: bool) -> None:
    realtime_server.script.reply_text(STORY)
    with anyio.fail_after(15):
        async with app(realtime_server, VirtualSpeaker(), feed=feed) as a:
            await a.conn.response.create()
            item = await a.first_audio()
            await a.until_played(item, 300)
            first_cut = await a.player.interrupt()
            await anyio.sleep(0.085)
            second = await a.player.interrupt("again")
            assert [c.action for c in first_cut.cuts] == ["truncated"]
            first = a.player.statistics()
            assert first.interruptions == 2
            assert second.cuts == () and second.cancelled == ()
            kept = await a.kept_audio(item)
            assert 300 * 48 <= len(kept) < 600 * 48
            assert len(kept) % 48 == 0


@FEED
@REALTIME
async def test_server_vad_speech_started_barges_in(
    realtime_server: FakeRealtimeServer, feed: bool
) -> None:
    realtime_server.script.reply_text(STORY)
    realtime_server.script.reply_text("Sure.")
    speaker = VirtualSpeaker(keep=True)
    with anyio.fail_after(20):
        async with app(realtime_server, speaker, feed=feed) as a, anyio.create_task_group() as tg:
            await a.conn.response.create()
            item = await a.first_audio()
            await a.until_played(item, 300)
            user = speech("Wait, stop!") + silence(0.6)
            tg.start_soon(functools.partial(pump_audio, a.conn, user))
            done = await a.conn.wait_for(
                ResponseDone, predicate=lambda d: d.response.status == "cancelled"
            )
            while a.player.last_interruption is None:  # noqa: ASYNC110
                await anyio.sleep(0.01)
            cut = a.player.last_interruption
            assert cut.reason == "speech_started" and cut.cancelled == ()  # the server cancels
            (only,) = cut.cuts
            assert only.action == "truncated" and only.audio_end_ms is not None
            assert await a.kept_audio(item) == speaker.played_audio()[: only.audio_end_ms * 48]
            assert done.response.id is not None


@FEED
async def test_player_pump_and_app_loop_share_events_under_load(
    realtime_server: FakeRealtimeServer, feed: bool
) -> None:
    """A tiny subscription buffer and a slow app loop: nobody loses or steals an event."""
    long_story = " ".join([STORY] * 6)
    realtime_server.script.reply_text(long_story)
    realtime_server.script.reply_text(long_story)
    played = bytearray()

    async def forward(audio: bytes) -> None:
        played.extend(audio)
        await anyio.lowlevel.checkpoint()

    seen = bytearray()
    with anyio.fail_after(30):
        async with (
            open_realtime(
                model="gpt-realtime", websocket_base_url=realtime_server.url, api_key="sk-t"
            ) as conn,
            anyio.create_task_group() as tg,
        ):
            await conn.session.update(
                session={"type": "realtime", "audio": {"input": {"turn_detection": None}}}
            )
            player = AudioPlayer(CallbackSink(forward), subscription_buffer=4)
            await tg.start(functools.partial(player.run, conn, feed=feed))
            tg.start_soon(functools.partial(pump_audio, conn, speech(long_story), realtime=False))
            await conn.response.create()
            done = 0
            count = 0
            async for event in conn:
                if feed:
                    player.feed(event)
                count += 1
                if count % 25 == 0:
                    await anyio.sleep(0.002)  # the app is busy now and then
                if isinstance(event, ResponseOutputAudioDelta):
                    seen.extend(event.delta)
                elif isinstance(event, ResponseDone):
                    done += 1
                    if done == 2:
                        break
                    await conn.response.create()
            await player.wait_idle()
            assert player.statistics().received_ms == len(seen) / 48
            tg.cancel_scope.cancel()
    assert len(seen) > 48 * 10_000  # over 20 s of audio went through
    assert bytes(played) == bytes(seen)


@REALTIME
async def test_truncating_mid_stream_without_a_cancel(realtime_server: FakeRealtimeServer) -> None:
    """The service accepts a truncate while the item is still streaming; so does the fake."""
    realtime_server.script.reply_text(STORY)
    with anyio.fail_after(15):
        async with open_realtime(
            model="gpt-realtime", websocket_base_url=realtime_server.url, api_key="sk-t"
        ) as conn:
            await conn.response.create()
            received = 0
            item = ""
            async for event in conn:
                if isinstance(event, ResponseOutputAudioDelta):
                    item = event.item_id
                    received += len(event.delta)
                    if received >= 48 * 300:
                        break
            truncated = await conn.conversation.item.truncate(
                item_id=item, content_index=0, audio_end_ms=200, wait=True
            )
            assert truncated.audio_end_ms == 200
            with pytest.raises(ServerError, match="already shorter than"):
                await conn.conversation.item.truncate(
                    item_id=item, content_index=0, audio_end_ms=100_000, wait=True
                )
            await conn.wait_for(ResponseDone)
            retrieved = await conn.conversation.item.retrieve(item_id=item, wait=True)
            assert isinstance(retrieved.item, MessageItem)
            part = retrieved.item.content[0]
            assert isinstance(part, OutputAudioContent) and isinstance(part.audio, bytes)
            assert len(part.audio) == 200 * 48


async def test_sideband_barge_in_clears_the_call_output() -> None:
    """On a WebRTC/SIP sideband socket no audio arrives; barge-in cancels and clears the call."""
    client, peer = memory_transport_pair(max_buffer=64)

    async def factory(request: ConnectRequest) -> Any:
        return client

    hello = {"type": "session.created", "session": {"type": "realtime"}}
    created = {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}}
    with anyio.fail_after(10):
        await peer.send_text(json.dumps(hello))
        async with (
            open_realtime(model="m", api_key="k", transport=factory) as conn,
            anyio.create_task_group() as tg,
        ):
            player = AudioPlayer(VirtualSpeaker(), sideband=True)
            await tg.start(player.run, conn)
            await peer.send_text(json.dumps(created))
            await conn.wait_for(ResponseCreated)
            cut = await player.interrupt()
            assert cut.cancelled == ("resp_1",) and cut.completed
            sent = [json.loads(await peer.receive()) for _ in range(2)]
            assert [e["type"] for e in sent] == ["response.cancel", "output_audio_buffer.clear"]
            assert sent[0]["response_id"] == "resp_1"
            again = await player.interrupt()
            assert again.cancelled == ()
            tg.cancel_scope.cancel()
    await peer.aclose()


async def test_old_item_records_are_forgotten(tmp_path: Any) -> None:
    client, peer = memory_transport_pair(max_buffer=2048)

    async def factory(request: ConnectRequest) -> Any:
        return client

    def delta(n: int) -> str:
        return json.dumps(
            {
                "type": "response.output_audio.delta",
                "response_id": "resp_1",
                "item_id": f"item_{n}",
                "output_index": n,
                "content_index": 0,
                "delta": "AAAA",
            }
        )

    with anyio.fail_after(20), WavSink(tmp_path / "out.wav") as sink:
        await peer.send_text(json.dumps({"type": "session.created", "session": {}}))
        async with (
            open_realtime(model="m", api_key="k", transport=factory) as conn,
            anyio.create_task_group() as tg,
        ):
            player = AudioPlayer(sink)
            await tg.start(player.run, conn)
            for n in range(700):
                await peer.send_text(delta(n))
                await peer.send_text(
                    json.dumps(
                        {
                            "type": "response.output_audio.done",
                            "response_id": "resp_1",
                            "item_id": f"item_{n}",
                            "output_index": n,
                            "content_index": 0,
                        }
                    )
                )
            received = 0
            async for event in conn:
                if isinstance(event, ResponseOutputAudioDelta):
                    received += 1
                    if received == 700:
                        break
            await player.wait_idle()
            stats = player.statistics()
            assert stats.items <= 512
            assert stats.received_ms == 700 * 3 / 48
            assert player.received_ms("item_699") == 3 / 48
            tg.cancel_scope.cancel()
    await peer.aclose()
