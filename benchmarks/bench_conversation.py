"""Conversation fold benchmark: events folded per second, and memory per hour of conversation.

Run by hand::

    .venv/bin/python benchmarks/bench_conversation.py [--minutes 60] [--repeats 3]

It builds the decoded events of a simulated spoken conversation (decoding is not timed: the
connection's reader has already done it), then folds them into a fresh
:class:`~realtime_anyio.conversation.Conversation` under three audio policies: ``none``
(durations only), the last 60 seconds, and ``all``. Each turn of ~10 s is what the live service
sends for one server-VAD exchange: speech started/stopped, the committed user audio item, its
input transcription (deltas, then completed), and a spoken reply of 6 s (audio deltas of
120 ms interleaved with transcript deltas, content part and item events, ``response.done``
with usage, ``rate_limits.updated``). 360 turns make an hour.

Reported: events per second (best of ``--repeats``), and the memory the conversation holds
after the hour (``tracemalloc``, allocated while folding and still alive), with the event
objects themselves not counted.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

from realtime_anyio.conversation import AudioRetention, Conversation
from realtime_anyio.events import (
    AudioContent,
    ConversationItemAdded,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionDelta,
    InputAudioBufferCommitted,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    InputAudioContent,
    MessageItem,
    OutputAudioContent,
    RateLimit,
    RateLimitsUpdated,
    RealtimeResponse,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseCreated,
    ResponseDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseOutputTokenDetails,
    ResponseUsage,
    TranscriptionUsageDuration,
)

TURN_SECONDS = 10
REPLY_SECONDS = 6
DELTA_MS = 120
CHUNK = b"\x01\x02" * (24 * DELTA_MS)  # 120 ms of 24 kHz PCM16, shared by every delta
WORDS = [f" word{i}" for i in range(40)]


def turn_events(n: int) -> list[Any]:
    """The events of one ~10 s spoken exchange, with ids unique to turn ``n``."""
    user_id, reply_id, resp_id = f"item_u{n}", f"item_a{n}", f"resp_{n}"
    start_ms = n * TURN_SECONDS * 1000
    user_item = MessageItem(
        id=user_id,
        role="user",
        status="completed",
        content=[InputAudioContent(transcript=None)],
    )
    events: list[Any] = [
        InputAudioBufferSpeechStarted(audio_start_ms=start_ms, item_id=user_id),
        InputAudioBufferSpeechStopped(audio_end_ms=start_ms + 4000, item_id=user_id),
        InputAudioBufferCommitted(item_id=user_id, previous_item_id=f"item_a{n - 1}"),
        ConversationItemAdded(item=user_item, previous_item_id=f"item_a{n - 1}"),
        ConversationItemDone(item=user_item, previous_item_id=f"item_a{n - 1}"),
        ResponseCreated(
            response=RealtimeResponse(id=resp_id, status="in_progress", conversation_id="conv")
        ),
    ]
    started = MessageItem(id=reply_id, role="assistant", status="in_progress", content=[])
    ids: dict[str, Any] = {
        "response_id": resp_id,
        "item_id": reply_id,
        "output_index": 0,
        "content_index": 0,
    }
    events += [
        ResponseOutputItemAdded(response_id=resp_id, output_index=0, item=started),
        ConversationItemAdded(item=started, previous_item_id=user_id),
        ResponseContentPartAdded(**ids, part=AudioContent(transcript="")),
    ]
    deltas = REPLY_SECONDS * 1000 // DELTA_MS
    for i in range(deltas):
        if i < len(WORDS):
            events.append(ResponseOutputAudioTranscriptDelta(**ids, delta=WORDS[i]))
        events.append(ResponseOutputAudioDelta(**ids, delta=CHUNK))
        if i in (5, 12):  # the user's transcription arrives while the reply plays
            events.append(
                ConversationItemInputAudioTranscriptionDelta(
                    item_id=user_id, content_index=0, delta=" some words"
                )
            )
    transcript = "".join(WORDS)
    final = MessageItem(
        id=reply_id,
        role="assistant",
        status="completed",
        content=[OutputAudioContent(transcript=transcript)],
    )
    events += [
        ConversationItemInputAudioTranscriptionCompleted(
            item_id=user_id,
            content_index=0,
            transcript="some words some words",
            usage=TranscriptionUsageDuration(seconds=4),
        ),
        ResponseOutputAudioDone(**ids),
        ResponseOutputAudioTranscriptDone(**ids, transcript=transcript),
        ResponseContentPartDone(**ids, part=AudioContent(transcript=transcript)),
        ConversationItemDone(item=final, previous_item_id=None),
        ResponseOutputItemDone(response_id=resp_id, output_index=0, item=final),
        ResponseDone(
            response=RealtimeResponse(
                id=resp_id,
                status="completed",
                conversation_id="conv",
                output=[final],
                usage=ResponseUsage(
                    total_tokens=300,
                    input_tokens=180,
                    output_tokens=120,
                    output_token_details=ResponseOutputTokenDetails(
                        text_tokens=40, audio_tokens=80
                    ),
                ),
            )
        ),
        RateLimitsUpdated(
            rate_limits=[RateLimit(name="tokens", limit=15_000_000, remaining=1, reset_seconds=1)]
        ),
    ]
    return events


def conversation_events(minutes: float) -> list[Any]:
    turns = int(minutes * 60 / TURN_SECONDS)
    events: list[Any] = []
    for n in range(turns):
        events.extend(turn_events(n))
    return events


def fold_rate(events: Sequence[Any], keep: AudioRetention, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        conversation = Conversation(keep_audio=keep)
        apply = conversation.apply
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            for event in events:
                apply(event)
            elapsed = time.perf_counter() - started
        finally:
            gc.enable()
        assert conversation.ignored == 0, conversation.ignored
        best = min(best, elapsed)
    return len(events) / best


def held_memory(events: Sequence[Any], keep: AudioRetention) -> tuple[int, Conversation]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    conversation = Conversation(keep_audio=keep)
    for event in events:
        conversation.apply(event)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, conversation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Conversation fold benchmark.")
    parser.add_argument("--minutes", type=float, default=60.0, help="conversation length")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per policy")
    args = parser.parse_args(argv)
    events = conversation_events(args.minutes)
    print(
        f"{len(events)} events for {args.minutes:g} min of conversation "
        f"({int(args.minutes * 60 / TURN_SECONDS)} turns), Python {sys.version.split()[0]}"
    )
    print(f"{'audio kept':<14}{'events/s':>12}{'us/event':>10}{'MiB held':>10}")
    policies: list[tuple[str, AudioRetention]] = [
        ("none", "none"),
        ("last 60 s", 60.0),
        ("all", "all"),
    ]
    for label, keep in policies:
        rate = fold_rate(events, keep, args.repeats)
        held, conversation = held_memory(events, keep)
        assert len(conversation) == 2 * int(args.minutes * 60 / TURN_SECONDS)
        mib = held / 2**20
        print(f"{label:<14}{rate:>12,.0f}{1e6 / rate:>10.2f}{mib:>10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
