"""Reconnect and rollover (realtime_anyio.resilience) against the bundled server, both backends."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from realtime_anyio import (
    ConnectionClosed,
    GaveUp,
    Reconnecting,
    ReconnectPolicy,
    Restored,
    RolloverPolicy,
    SendInterrupted,
    SessionExpiring,
    open_resilient,
)
from realtime_anyio.events import (
    ConversationItemRetrieved,
    ResponseDone,
    SessionCreated,
    user_text,
)
from realtime_anyio.resilience import ResilientConnection
from realtime_anyio.testing import FakeRealtimeServer

FAST = ReconnectPolicy(base_delay=0.01, max_delay=0.05, max_attempts=5, deadline=10.0)


def _options(server: FakeRealtimeServer, **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-realtime",
        "websocket_base_url": server.url,
        "api_key": "k",
        "policy": FAST,
        "rollover": RolloverPolicy(before_expiry=None, warn_before=None),
        **extra,
    }


async def _next(conn: ResilientConnection, cls: type[Any]) -> Any:
    async for event in conn:
        if isinstance(event, cls):
            return event
    raise AssertionError(f"no {cls.__name__}")


async def test_drop_reconnects_and_restores_history(realtime_server: FakeRealtimeServer) -> None:
    realtime_server.script.reply_text("Hello there")
    with anyio.fail_after(10):
        async with open_resilient(**_options(realtime_server)) as conn:
            assert isinstance(await conn.receive(), SessionCreated)
            await conn.session.update(
                session={"type": "realtime", "instructions": "Be brief."}, wait=True
            )
            await conn.conversation.item.create(item=user_text("Hi"), wait=True)
            await conn.response.create()
            done = await _next(conn, ResponseDone)
            answer_id = done.response.output[0].id
            first = realtime_server.sessions[0]
            await first.drop()
            reconnecting = await _next(conn, Reconnecting)
            assert reconnecting.attempt == 1
            restored = await _next(conn, Restored)
            assert not restored.rollover
            assert restored.replayed == {"user_text": 1, "assistant": 1}
            assert restored.interrupted == () and restored.attempts == 1
            second = realtime_server.sessions[1]
            assert second.session["instructions"] == "Be brief."
            retrieved = await conn.conversation.item.retrieve(item_id=answer_id, wait=True)
            assert isinstance(retrieved, ConversationItemRetrieved)
            item: Any = retrieved.item
            assert item.content[0].text == "Hello there"


async def test_gap_sends_are_held_or_failed(realtime_server: FakeRealtimeServer) -> None:
    # The first attempt waits 0.3 s (random() == 1.0): the sends below land in the gap.
    policy = ReconnectPolicy(base_delay=0.3, max_delay=0.3, random=lambda: 1.0)
    with anyio.fail_after(10):
        async with open_resilient(**_options(realtime_server, policy=policy)) as conn:
            await _next(conn, SessionCreated)
            await realtime_server.sessions[0].drop()
            reconnecting = await _next(conn, Reconnecting)
            assert reconnecting.delay == pytest.approx(0.3)
            with pytest.raises(SendInterrupted):
                await conn.input_audio_buffer.append(b"\0" * 960)
            await conn.conversation.item.create(item=user_text("said in the gap"))
            assert conn.statistics().sends_held == 1
            restored = await _next(conn, Restored)
            assert restored.sends_delivered == 1
            assert restored.sends_failed == 1
            second = realtime_server.sessions[1]
            await second.wait_for_received("conversation.item.create")
            assert [i["content"][0]["text"] for i in second.conversation.items] == [
                "said in the gap"
            ]
            assert realtime_server.sessions[0].received_count("input_audio_buffer.append") == 0
            assert second.received_count("input_audio_buffer.append") == 0


async def test_gives_up_after_max_attempts(realtime_server: FakeRealtimeServer) -> None:
    from realtime_anyio import InternalServerError
    from realtime_anyio.testing import RefuseHandshake

    policy = ReconnectPolicy(base_delay=0.01, max_delay=0.01, max_attempts=3)
    seen: list[object] = []
    with anyio.fail_after(10), pytest.raises(InternalServerError):
        async with open_resilient(**_options(realtime_server, policy=policy)) as conn:
            await _next(conn, SessionCreated)
            realtime_server.inject(RefuseHandshake(503), connections=None)
            await realtime_server.sessions[0].drop()
            async for event in conn:
                seen.append(event)
    attempts = [e.attempt for e in seen if isinstance(e, Reconnecting)]
    assert attempts == [1, 2, 3]
    assert isinstance(seen[-1], GaveUp)
    assert "3 attempts" in seen[-1].reason


async def test_gives_up_at_the_deadline(realtime_server: FakeRealtimeServer) -> None:
    from realtime_anyio import InternalServerError
    from realtime_anyio.testing import RefuseHandshake

    policy = ReconnectPolicy(
        base_delay=0.05, max_delay=0.05, max_attempts=1000, deadline=0.4, random=lambda: 1.0
    )
    with anyio.fail_after(10), pytest.raises(InternalServerError):
        async with open_resilient(**_options(realtime_server, policy=policy)) as conn:
            await _next(conn, SessionCreated)
            realtime_server.inject(RefuseHandshake(502), connections=None)
            await realtime_server.sessions[0].drop()
            gave_up = await _next(conn, GaveUp)
            assert "0.4 s" in gave_up.reason
            assert conn.closed
            with pytest.raises(InternalServerError):
                await conn.send({"type": "response.create"})
            # The body carries on; the block raises the error when it ends.


async def test_non_retryable_close_gives_up_at_once(realtime_server: FakeRealtimeServer) -> None:
    events: list[object] = []
    with anyio.fail_after(10), pytest.raises(ConnectionClosed) as raised:
        async with open_resilient(**_options(realtime_server)) as conn:
            await _next(conn, SessionCreated)
            await realtime_server.sessions[0].close(4000, "invalid_request_error.nope")
            async for event in conn:
                events.append(event)
    assert raised.value.code == 4000
    assert [type(e) for e in events] == [GaveUp]
    assert len(realtime_server.sessions) == 1


async def test_refused_reconnect_gives_up_at_once(realtime_server: FakeRealtimeServer) -> None:
    from realtime_anyio import AuthenticationError
    from realtime_anyio.testing import RefuseHandshake

    with anyio.fail_after(10), pytest.raises(AuthenticationError):
        async with open_resilient(**_options(realtime_server)) as conn:
            await _next(conn, SessionCreated)
            realtime_server.inject(RefuseHandshake(401), connections=None)
            await realtime_server.sessions[0].drop()
            await _next(conn, GaveUp)
            await conn.receive()


async def test_rollover_on_demand_keeps_the_conversation(
    realtime_server: FakeRealtimeServer,
) -> None:
    realtime_server.script.reply_text("First answer").reply_text("Second answer")
    with anyio.fail_after(10):
        async with open_resilient(**_options(realtime_server)) as conn:
            await _next(conn, SessionCreated)
            await conn.session.update(
                session={"type": "realtime", "output_modalities": ["text"]}, wait=True
            )
            await conn.conversation.item.create(item=user_text("One"), wait=True)
            await conn.response.create()
            await _next(conn, ResponseDone)
            restored = await conn.rollover()
            assert restored.rollover
            assert restored.replayed == {"user_text": 1, "assistant": 1}
            assert (await _next(conn, Restored)) == restored
            old, new = realtime_server.sessions
            with anyio.fail_after(3):
                await old.closed.wait()
            assert old.close_code is None  # the client closed it, no error
            assert new.session["output_modalities"] == ["text"]
            await conn.conversation.item.create(item=user_text("Two"), wait=True)
            await conn.response.create()
            done = await _next(conn, ResponseDone)
            assert done.response.output[0].content[0].text == "Second answer"
            texts = [i["content"][0]["text"] for i in new.conversation.items]
            assert texts == ["One", "First answer", "Two", "Second answer"]
            assert [item.text for item in conn.history] == texts
            stats = conn.statistics()
            assert (stats.connections, stats.rollovers, stats.reconnects) == (2, 1, 0)


async def test_session_cap_warns_then_rolls_over_before_expiry() -> None:
    seen: list[object] = []
    async with FakeRealtimeServer(session_duration=2) as server:
        options = _options(server, rollover=RolloverPolicy(warn_before=1.5, before_expiry=1.0))
        with anyio.fail_after(15):
            async with open_resilient(**options) as conn:
                with anyio.move_on_after(3.2):
                    async for event in conn:
                        seen.append(event)
                assert not conn.closed
        assert all(s.close_code != 1001 for s in server.sessions)
    kinds = [type(e) for e in seen]
    assert SessionExpiring in kinds
    first_warning = kinds.index(SessionExpiring)
    rollovers = [e for e in seen if isinstance(e, Restored)]
    assert rollovers and all(r.rollover for r in rollovers)
    assert kinds.index(Restored) > first_warning
    assert not any(getattr(e, "type", None) == "error" for e in seen)
    assert sum(isinstance(e, SessionCreated) for e in seen) == 1


def _appends(server: FakeRealtimeServer) -> int:
    return sum(s.received_count("input_audio_buffer.append") for s in server.sessions)


@pytest.mark.parametrize("how", ["rollover", "drop"])
async def test_pump_and_player_run_across_the_switch(
    realtime_server: FakeRealtimeServer, how: str
) -> None:
    from realtime_anyio.audio import AudioPlayer, VirtualSpeaker, pump_audio, silence

    realtime_server.script.reply_audio("Before the switch.").reply_audio("After the switch.")
    policy = ReconnectPolicy(base_delay=0.1, max_delay=0.1, random=lambda: 1.0)
    results: list[Any] = []
    stats: Any = None
    pumped = anyio.Event()
    with anyio.fail_after(20):
        async with (
            open_resilient(**_options(realtime_server, policy=policy)) as conn,
            anyio.create_task_group() as tg,
        ):
            player = AudioPlayer(VirtualSpeaker(speed=50))
            await tg.start(player.run, conn)

            async def pump() -> None:
                # 1.5 s of audio at 5x: a 20 ms chunk every 4 ms.
                results.append(await pump_audio(conn, silence(1.5), speed=5))
                pumped.set()

            tg.start_soon(pump)
            await conn.response.create()
            await _next(conn, ResponseDone)
            if how == "rollover":
                await conn.rollover()
            else:
                await realtime_server.sessions[0].drop()
                restored = await _next(conn, Restored)
                assert restored.sends_failed >= 1  # chunks refused in the 0.1 s gap
            await conn.response.create()
            await _next(conn, ResponseDone)
            await pumped.wait()
            await player.wait_idle()
            stats = player.statistics()
            tg.cancel_scope.cancel()
    (result,) = results
    assert result.chunks + result.dropped == 75
    if how == "rollover":
        # Make before break: every chunk reached one session or the other.
        assert _appends(realtime_server) == result.chunks
        assert result.dropped == 0
    else:
        # A chunk accepted just before the drop may die with the old socket (reported as
        # ``unsent`` when it was never written); none is sent twice.
        assert result.chunks - 3 <= _appends(realtime_server) <= result.chunks
        assert result.dropped >= 1
    assert stats.errors == ()
    assert stats.items == 2 and stats.received_ms > 0
    assert stats.played_ms == pytest.approx(stats.received_ms, abs=1)


async def _stage_backoff(conn: ResilientConnection, server: FakeRealtimeServer) -> None:
    await server.sessions[0].drop()
    await _next(conn, Reconnecting)


async def _stage_connect(conn: ResilientConnection, server: FakeRealtimeServer) -> None:
    from realtime_anyio.testing import DelayHandshake

    server.inject(DelayHandshake(float("inf")), connections=None)
    await server.sessions[0].drop()
    await _next(conn, Reconnecting)
    await anyio.sleep(0.2)


async def _stage_restore(conn: ResilientConnection, server: FakeRealtimeServer) -> None:
    from realtime_anyio.testing import StallAfter

    server.inject(StallAfter(1, seconds=1.5), connections=None)
    await server.sessions[0].drop()
    await _next(conn, Reconnecting)
    await server.wait_for_session(2)
    await anyio.sleep(0.2)


async def _stage_rollover_connect(conn: ResilientConnection, server: FakeRealtimeServer) -> None:
    from realtime_anyio.testing import DelayHandshake

    server.inject(DelayHandshake(float("inf")))
    conn._tg.start_soon(conn.rollover)  # type: ignore[union-attr]  # pyright: ignore
    await anyio.sleep(0.2)


async def _stage_rollover_boundary(conn: ResilientConnection, server: FakeRealtimeServer) -> None:
    first = server.sessions[0]
    await first.send_event(
        {
            "type": "input_audio_buffer.speech_started",
            "audio_start_ms": 0,
            "item_id": "item_speaking",
        }
    )
    await conn.wait_for("input_audio_buffer.speech_started")
    conn._tg.start_soon(conn.rollover)  # type: ignore[union-attr]  # pyright: ignore
    second = await server.wait_for_session(2)
    await second.wait_for_received("session.update")
    await anyio.sleep(0.1)


def _client_tasks() -> set[int]:
    # The server's tasks (one may still wait out a handshake delay) are not the client's.
    return {
        t.id
        for t in anyio.get_running_tasks()
        if "testing" not in (t.name or "")
        and "Listener.serve" not in (t.name or "")
        and not (t.name or "").startswith("fake-realtime")
    }


STAGES = {
    "backoff": _stage_backoff,
    "connect": _stage_connect,
    "restore": _stage_restore,
    "rollover-connect": _stage_rollover_connect,
    "rollover-boundary": _stage_rollover_boundary,
}


@pytest.mark.parametrize("stage", list(STAGES))
async def test_cancel_at_each_stage_leaves_nothing(
    realtime_server: FakeRealtimeServer, stage: str
) -> None:
    policy = ReconnectPolicy(base_delay=0.05, max_delay=0.05, random=lambda: 1.0)
    if stage == "backoff":
        policy = ReconnectPolicy(base_delay=30, max_delay=30, random=lambda: 1.0)
    before = _client_tasks()
    conn: ResilientConnection | None = None
    with anyio.fail_after(10):
        with anyio.CancelScope() as scope:
            async with open_resilient(**_options(realtime_server, policy=policy)) as conn:
                await _next(conn, SessionCreated)
                await STAGES[stage](conn, realtime_server)
                scope.cancel()
                await anyio.sleep_forever()
        assert scope.cancelled_caught
        assert conn is not None and conn.closed
        for session in realtime_server.sessions:
            await session.closed.wait()
    left = {t.name for t in anyio.get_running_tasks() if t.id in _client_tasks() - before}
    assert not left


@pytest.mark.parametrize("how", ["rollover", "drop"])
async def test_owed_tool_output_is_sent_once_on_the_new_connection(
    realtime_server: FakeRealtimeServer, how: str
) -> None:
    from realtime_anyio import ToolDispatcher, ToolFunction
    from realtime_anyio.testing import DelayEvents, ToolCall

    release = anyio.Event()

    async def lookup(key: str) -> str:
        """Look a key up (slowly)."""
        await release.wait()
        return f"value of {key}"

    dispatcher = ToolDispatcher([ToolFunction(lookup)])
    realtime_server.script.reply(ToolCall("lookup", {"key": "a"}, call_id="call_a"))
    realtime_server.script.reply_text("Found it.")
    policy = ReconnectPolicy(base_delay=0.01, max_delay=0.01)
    second: Any = None
    with anyio.fail_after(15):
        async with (
            open_resilient(**_options(realtime_server, policy=policy)) as conn,
            anyio.create_task_group() as tg,
        ):
            await conn.session.update(
                session={
                    "type": "realtime",
                    "output_modalities": ["text"],
                    "tools": dispatcher.session_tools(),
                },
                wait=True,
            )
            await tg.start(dispatcher.run, conn)
            await conn.conversation.item.create(item=user_text("Look up a"), wait=True)
            await conn.response.create()
            await _next(conn, ResponseDone)
            # The restore on the next connection is slow, so the output is ready during it.
            realtime_server.inject(DelayEvents(0.1, after=1))
            if how == "rollover":
                tg.start_soon(conn.rollover)
            else:
                await realtime_server.sessions[0].drop()
            second = await realtime_server.wait_for_session(2)
            # The call is owed once the restore started: its output must wait for the switch.
            await second.wait_for_received("session.update")
            release.set()
            restored = await _next(conn, Restored)
            assert restored.sends_delivered >= 1  # the output waited for the switch
            assert "function_call_output" not in restored.replayed
            done = await _next(conn, ResponseDone)
            assert done.response.output[0].content[0].text == "Found it."
            tg.cancel_scope.cancel()
    first = realtime_server.sessions[0]

    def outputs(session: Any) -> list[str]:
        return [
            e["item"]["call_id"]
            for e in session.received
            if e["type"] == "conversation.item.create"
            and e["item"]["type"] == "function_call_output"
        ]

    assert outputs(first) == []
    assert outputs(second) == ["call_a"]
    kinds = [i["type"] for i in second.conversation.items]
    assert kinds.count("function_call_output") == 1
    assert dispatcher.statistics().outputs_sent == 1


async def test_a_request_the_dropped_connection_never_answered_is_sent_again(
    realtime_server: FakeRealtimeServer,
) -> None:
    from realtime_anyio.events import ConversationItemAdded
    from realtime_anyio.testing import StallAfter

    realtime_server.inject(StallAfter(1))  # the first session stops answering
    replies: list[Any] = []
    with anyio.fail_after(10):
        async with (
            open_resilient(**_options(realtime_server)) as conn,
            anyio.create_task_group() as tg,
        ):
            await _next(conn, SessionCreated)

            async def create() -> None:
                replies.append(await conn.conversation.item.create(item=user_text("x"), wait=True))

            tg.start_soon(create)
            first = realtime_server.sessions[0]
            await anyio.sleep(0.2)
            assert not replies
            await first.drop()
            restored = await _next(conn, Restored)
            assert restored.sends_delivered == 1
            while not replies:  # the reply arrives in the stream too: keep reading
                await conn.receive()
    (added,) = replies
    assert isinstance(added, ConversationItemAdded)
    second = realtime_server.sessions[1]
    assert [i["content"][0]["text"] for i in second.conversation.items] == ["x"]


async def test_aclose_ends_the_stream_quietly(realtime_server: FakeRealtimeServer) -> None:
    with anyio.fail_after(10):
        async with open_resilient(**_options(realtime_server)) as conn:
            await _next(conn, SessionCreated)
            await conn.aclose()
            await conn.aclose()  # silent when called again
            async for _ in conn:
                pass
            assert conn.closed
            with pytest.raises(ConnectionClosed):
                await conn.send({"type": "response.create"})
            await anyio.sleep(0.1)  # the supervisor sees the close and does not reconnect
        assert len(realtime_server.sessions) == 1


async def test_the_body_error_comes_out_as_itself_during_a_gap(
    realtime_server: FakeRealtimeServer,
) -> None:
    from realtime_anyio.testing import DelayHandshake

    class Boom(Exception):
        pass

    with anyio.fail_after(10), pytest.raises(Boom):
        async with open_resilient(**_options(realtime_server)) as conn:
            await _next(conn, SessionCreated)
            realtime_server.inject(DelayHandshake(float("inf")), connections=None)
            await realtime_server.sessions[0].drop()
            await _next(conn, Reconnecting)
            raise Boom


async def test_a_margin_longer_than_the_session_does_not_loop() -> None:
    async with FakeRealtimeServer(session_duration=3) as server:
        options = _options(server, rollover=RolloverPolicy(warn_before=None, before_expiry=100))
        with anyio.fail_after(10):
            async with open_resilient(**options) as conn:
                await _next(conn, SessionCreated)
                await anyio.sleep(0.5)
                assert conn.statistics().rollovers == 0
                restored = await _next(conn, Restored)  # about halfway
                assert restored.rollover
                assert conn.statistics().rollovers == 1


async def test_the_old_connection_dying_during_a_rollover_switches_at_once(
    realtime_server: FakeRealtimeServer,
) -> None:
    seen: list[object] = []
    with anyio.fail_after(10):
        async with (
            open_resilient(**_options(realtime_server)) as conn,
            anyio.create_task_group() as tg,
        ):
            await _next(conn, SessionCreated)
            first = realtime_server.sessions[0]
            await first.send_event(
                {
                    "type": "input_audio_buffer.speech_started",
                    "audio_start_ms": 0,
                    "item_id": "item_speaking",
                }
            )
            await conn.wait_for("input_audio_buffer.speech_started")
            tg.start_soon(conn.rollover)  # waits for the user to stop speaking
            second = await realtime_server.wait_for_session(2)
            await second.wait_for_received("session.update")
            await first.drop()
            async for event in conn:
                seen.append(event)
                if isinstance(event, Restored):
                    break
            assert conn.statistics().connections == 2
    restored = seen[-1]
    assert isinstance(restored, Restored) and restored.rollover
    assert not any(isinstance(e, Reconnecting) for e in seen)


async def test_a_failed_rollover_keeps_the_current_connection(
    realtime_server: FakeRealtimeServer,
) -> None:
    from realtime_anyio import InternalServerError
    from realtime_anyio.testing import RefuseHandshake

    with anyio.fail_after(10):
        async with open_resilient(**_options(realtime_server)) as conn:
            await _next(conn, SessionCreated)
            realtime_server.inject(RefuseHandshake(503))
            with pytest.raises(InternalServerError):
                await conn.rollover()
            await conn.conversation.item.create(item=user_text("still here"), wait=True)
            assert realtime_server.sessions[0].conversation.items[0]["content"][0]["text"] == (
                "still here"
            )
            assert conn.statistics().rollovers == 0


@pytest.mark.realtime_server(pacing="realtime", pacing_speed=2)
async def test_a_response_cut_by_the_drop_is_named(realtime_server: FakeRealtimeServer) -> None:
    from realtime_anyio.events import ResponseCreated, ResponseOutputAudioDelta

    realtime_server.script.reply_audio("A long answer that is still being spoken when it drops.")
    with anyio.fail_after(10):
        async with open_resilient(**_options(realtime_server)) as conn:
            await _next(conn, SessionCreated)
            await conn.response.create()
            created = await _next(conn, ResponseCreated)
            await _next(conn, ResponseOutputAudioDelta)
            await realtime_server.sessions[0].drop()
            restored = await _next(conn, Restored)
            assert restored.interrupted == (created.response.id,)


async def test_a_stalled_server_is_detected_and_replaced(
    realtime_server: FakeRealtimeServer,
) -> None:
    from realtime_anyio.testing import StallAfter

    realtime_server.inject(StallAfter(1, seconds=3.0))
    options = _options(realtime_server, ping_interval=0.2, ping_timeout=0.2)
    with anyio.fail_after(10):
        async with open_resilient(**options) as conn:
            await _next(conn, SessionCreated)
            reconnecting = await _next(conn, Reconnecting)
            assert "pong" in reconnecting.reason
            restored = await _next(conn, Restored)
            assert not restored.rollover
            await conn.conversation.item.create(item=user_text("back"), wait=True)


async def test_the_first_connection_failing_raises_as_from_open_realtime(
    realtime_server: FakeRealtimeServer,
) -> None:
    from realtime_anyio import AuthenticationError
    from realtime_anyio.testing import RefuseHandshake

    realtime_server.inject(RefuseHandshake(401))
    before = _client_tasks()
    with anyio.fail_after(10), pytest.raises(AuthenticationError):
        async with open_resilient(**_options(realtime_server)):
            pytest.fail("entered")  # pragma: no cover
    assert _client_tasks() == before


async def test_first_response_after_a_restore_asks_for_audio(
    realtime_server: FakeRealtimeServer,
) -> None:
    # A restored history is text; the first response.create that does not say otherwise asks
    # for audio when the session speaks, and only the first one.
    realtime_server.script.reply_text("Hello there")
    with anyio.fail_after(10):
        async with open_resilient(**_options(realtime_server)) as conn:
            await _next(conn, SessionCreated)
            await conn.session.update(
                session={"type": "realtime", "output_modalities": ["audio"]}, wait=True
            )
            await conn.conversation.item.create(item=user_text("Hi"), wait=True)
            await realtime_server.sessions[0].drop()
            await _next(conn, Restored)
            await conn.response.create()
            await _next(conn, ResponseDone)
            await conn.response.create(response={"output_modalities": ["text"]})
            await _next(conn, ResponseDone)
            await conn.response.create()
            await _next(conn, ResponseDone)
            second = realtime_server.sessions[1]
            creates = [e for e in second.received if e["type"] == "response.create"]
            assert [e.get("response", {}).get("output_modalities") for e in creates] == [
                ["audio"],
                ["text"],
                None,
            ]


async def test_a_rollover_anchors_the_last_spoken_turn_with_its_own_audio(
    realtime_server: FakeRealtimeServer,
) -> None:
    # With a history that keeps audio, the rollover fetches the last user turn from the old
    # session (item events never carry the user's audio) and replays it as audio; the
    # retrieve's reply does not reach the app's stream.
    from realtime_anyio import Conversation
    from realtime_anyio.audio import silence, speech

    realtime_server.script.reply_text("Oui.")
    realtime_server.script.transcripts("Bonjour.")
    with anyio.fail_after(15):
        async with open_resilient(
            **_options(realtime_server), history=Conversation(keep_audio="all")
        ) as conn:
            await _next(conn, SessionCreated)
            await conn.input_audio_buffer.append(speech("Bonjour.") + silence(1.0))
            await _next(conn, ResponseDone)
            restored = await conn.rollover()
            assert restored.replayed == {"user_audio": 1, "assistant": 1}
            assert not any("user audio" in lost for lost in restored.lost)
            await conn.response.create()
            seen: list[Any] = []
            async for event in conn:
                seen.append(event)
                if isinstance(event, ResponseDone):
                    break
            assert not any(isinstance(e, ConversationItemRetrieved) for e in seen)
    second = realtime_server.sessions[1]
    creates = [e for e in second.received if e["type"] == "conversation.item.create"]
    user = creates[0]["item"]
    assert user["role"] == "user" and user["content"][0]["type"] == "input_audio"
    assert user["content"][0].get("audio")
