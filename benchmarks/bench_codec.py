"""Codec benchmark: realtime_anyio.events against the official SDK's parse path.

Run by hand::

    .venv/bin/python benchmarks/bench_codec.py [--quick]

Every contender handles the same frames in the same run; the table gives nanoseconds per event
(best of several repeats, garbage collector paused as in ``timeit``) and the speed-up over the
official SDK (official = 1.0). Contenders:

- ``official``: what openai-python does with a received frame,
  ``construct_type_unchecked(value=json.loads(frame), type_=RealtimeServerEvent)``, plus
  ``base64.b64decode`` of the audio (the SDK leaves audio as a base64 string).
- ``json+b64``: ``json.loads`` and ``base64.b64decode`` alone (no models at all).
- ``minimal``: a msgspec decoder over a union of only two of our event classes; it measures
  what the 57-type union and the codec's error handling cost (ideally nothing).
- ``ours``: ``realtime_anyio.events.decode_server_event``.

Encoding compares building and encoding a 20 ms ``input_audio_buffer.append`` from raw PCM:
ours (``encode_event(InputAudioBufferAppend(audio=pcm))``) against the SDK's two ways, the
dict its ``input_audio_buffer.append()`` helper sends (base64, ``maybe_transform``,
``json.dumps``; this is the 1.0 baseline) and the model's ``model_dump_json``.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, Union

import msgspec
from openai._models import construct_type_unchecked
from openai._utils import maybe_transform
from openai.types.realtime import (
    InputAudioBufferAppendEvent,
    RealtimeClientEventParam,
    RealtimeServerEvent,
)

from realtime_anyio.events import (
    InputAudioBufferAppend,
    ResponseDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputTextDelta,
    SessionUpdated,
    decode_server_event,
    encode_event,
)

AUDIO = "response.output_audio.delta"
RATE = 24_000


def _pcm(ms: int) -> bytes:
    samples = RATE * ms // 1000
    # a 440 Hz-ish sawtooth: incompressible enough to look like speech to base64
    return b"".join(((i * 37) % 65536).to_bytes(2, "little") for i in range(samples))


def _ids(n: int) -> dict[str, Any]:
    return {
        "event_id": f"event_CZ{n:019d}",
        "response_id": "resp_CZabcdefghijklmnopqrs",
        "item_id": "item_CZabcdefghijklmnopqrs",
        "output_index": 0,
        "content_index": 0,
    }


def _frame(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def audio_frames(ms: int, count: int = 50) -> list[bytes]:
    delta = base64.b64encode(_pcm(ms)).decode()
    return [_frame({"type": AUDIO, **_ids(n), "delta": delta}) for n in range(count)]


SENTENCE = "Sure, here is a quick summary of what we discussed about the weather in Paris today"
WORDS = SENTENCE.split(" ")


def text_frames(count: int = 100) -> list[bytes]:
    frames: list[bytes] = []
    for n in range(count):
        kind = "response.output_text.delta" if n % 2 else "response.output_audio_transcript.delta"
        word = " " + WORDS[n % len(WORDS)]
        frames.append(_frame({"type": kind, **_ids(n), "delta": word, "obfuscation": "k3Jd9x"}))
    return frames


def _tool(n: int) -> dict[str, Any]:
    return {
        "type": "function",
        "name": f"tool_{n}",
        "description": f"Look up record {n} in the customer database and return it.",
        "parameters": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "description": "record id"},
                "fields": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["id"],
        },
    }


def session_updated_frame() -> bytes:
    session = {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_CZabcdefghijklmnopqrs",
        "model": "gpt-realtime-2025-08-28",
        "output_modalities": ["audio"],
        "instructions": "You are a helpful, concise phone agent for ACME. " * 40,
        "tools": [_tool(n) for n in range(8)],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": 1763975000,
        "include": None,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-4o-transcribe", "language": None, "prompt": None},
                "noise_reduction": {"type": "near_field"},
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 200,
                    "idle_timeout_ms": None,
                    "create_response": True,
                    "interrupt_response": True,
                },
            },
            "output": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "voice": "marin",
                "speed": 1.0,
            },
        },
    }
    return _frame({"type": "session.updated", "event_id": "event_CZ1", "session": session})


def response_done_frame() -> bytes:
    transcript = " ".join(WORDS * 6)
    output = [
        {
            "id": f"item_CZ{n:019d}",
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "phase": "final_answer" if n == 2 else "commentary",
            "content": [{"type": "output_audio", "transcript": transcript}],
        }
        for n in range(3)
    ] + [
        {
            "id": "item_CZfunc",
            "object": "realtime.item",
            "type": "function_call",
            "status": "completed",
            "name": "tool_1",
            "call_id": "call_Hx7Gk2LmNpQrStUv",
            "arguments": '{"id":"cust_42","fields":["name","plan"]}',
        }
    ]
    response = {
        "object": "realtime.response",
        "id": "resp_CZabcdefghijklmnopqrs",
        "status": "completed",
        "status_details": None,
        "output": output,
        "conversation_id": "conv_CZabcdefghijklmnopqrs",
        "output_modalities": ["audio"],
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}},
        "usage": {
            "total_tokens": 1253,
            "input_tokens": 980,
            "output_tokens": 273,
            "input_token_details": {
                "text_tokens": 620,
                "audio_tokens": 360,
                "image_tokens": 0,
                "cached_tokens": 512,
                "cached_tokens_details": {"text_tokens": 512, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": 60, "audio_tokens": 213, "reasoning_tokens": 0},
        },
        "metadata": None,
    }
    return _frame({"type": "response.done", "event_id": "event_CZ2", "response": response})


def mix_frames() -> list[bytes]:
    """Three seconds of a spoken reply as it streams in.

    For each 100 ms of speech: two transcript deltas and one 100 ms audio delta, plus a 20 ms
    audio delta every fifth step (the service's chunk sizes vary); one ``session.updated``
    before the turn and one ``response.done`` after it.
    """
    audio100 = audio_frames(100, 30)
    audio20 = audio_frames(20, 6)
    text = text_frames(60)
    frames: list[bytes] = [session_updated_frame()]
    for n in range(30):
        frames += text[2 * n : 2 * n + 2]
        frames.append(audio100[n])
        if n % 5 == 4:
            frames.append(audio20[n // 5])
    frames.append(response_done_frame())
    return frames


def with_unknown_members(frame: bytes) -> bytes:
    """``frame`` with members no Struct defines: one on the event, and one on every object
    of a ``response.done`` (response, each item, each content part, usage)."""
    obj = json.loads(frame)
    obj["x_new_event_field"] = "v1"
    response = obj.get("response")
    if isinstance(response, dict):
        response["x_new_response_field"] = {"k": 1}
        for item in response.get("output", []):
            item["x_new_item_field"] = True
            for part in item.get("content", []):
                part["x_new_part_field"] = 1.5
        response["usage"]["x_new_usage_field"] = 7
    return _frame(obj)


# --- contenders -----------------------------------------------------------------------------


def official(frame: bytes) -> object:
    event: Any = construct_type_unchecked(
        value=json.loads(frame),
        type_=RealtimeServerEvent,  # pyright: ignore[reportArgumentType]
    )
    if event.type == AUDIO:
        return base64.b64decode(event.delta)
    return event


def json_b64(frame: bytes) -> object:
    obj = json.loads(frame)
    if obj["type"] == AUDIO:
        return base64.b64decode(obj["delta"])
    return obj


def minimal_decoder(*classes: type) -> Callable[[bytes], object]:
    decoder = msgspec.json.Decoder(Union[classes])  # type: ignore[valid-type]  # noqa: UP007
    return decoder.decode


# --- timing ---------------------------------------------------------------------------------


def best_ns_per_item(
    fn: Callable[[Any], object], items: Sequence[Any], *, repeat: int, budget: float
) -> float:
    """Best-of-``repeat`` nanoseconds per item; each repeat runs about ``budget`` seconds."""
    start = time.perf_counter()
    for item in items:
        fn(item)
    once = max(time.perf_counter() - start, 1e-7)
    loops = max(1, int(budget / once))
    best = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter_ns()
            for _ in range(loops):
                for item in items:
                    fn(item)
            best = min(best, (time.perf_counter_ns() - start) / (loops * len(items)))
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def measure(
    contenders: dict[str, Callable[[Any], object]],
    items: Sequence[Any],
    *,
    repeat: int,
    budget: float,
) -> dict[str, float]:
    """Interleave the contenders round by round so that machine noise hits them all alike."""
    results = {name: float("inf") for name in contenders}
    for _ in range(repeat):
        for name, fn in contenders.items():
            ns = best_ns_per_item(fn, items, repeat=1, budget=budget)
            results[name] = min(results[name], ns)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Codec benchmark against the official SDK.")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    args = parser.parse_args(argv)
    repeat, budget = (3, 0.05) if args.quick else (9, 0.2)

    workloads: list[tuple[str, list[bytes], tuple[type, ...]]] = [
        (
            "audio delta 20 ms",
            audio_frames(20),
            (ResponseOutputAudioDelta, ResponseOutputTextDelta),
        ),
        (
            "audio delta 100 ms",
            audio_frames(100),
            (ResponseOutputAudioDelta, ResponseOutputTextDelta),
        ),
        (
            "text/transcript deltas",
            text_frames(),
            (ResponseOutputTextDelta, ResponseOutputAudioTranscriptDelta),
        ),
        ("session.updated (large)", [session_updated_frame()], (SessionUpdated, ResponseDone)),
        ("response.done (large)", [response_done_frame()], (ResponseDone, SessionUpdated)),
        (
            "mix: one spoken reply",
            mix_frames(),
            (
                ResponseOutputAudioDelta,
                ResponseOutputAudioTranscriptDelta,
                ResponseOutputTextDelta,
                SessionUpdated,
                ResponseDone,
            ),
        ),
    ]
    for _, frames, _classes in workloads:  # sanity: everyone decodes the same frames
        for frame in frames:
            assert decode_server_event(frame).type == json.loads(frame)["type"]

    print(f"python {sys.version.split()[0]}, msgspec {msgspec.__version__}")
    header = (
        f"{'decoding (ns/event)':<26}{'official':>10}{'json+b64':>10}{'minimal':>10}{'ours':>9}"
        f"{'ours vs official':>18}{'vs json+b64':>13}{'vs minimal':>12}"
    )
    print(header)
    print("-" * len(header))
    for name, frames, classes in workloads:
        r = measure(
            {
                "official": official,
                "json+b64": json_b64,
                "minimal": minimal_decoder(*classes),
                "ours": decode_server_event,
            },
            frames,
            repeat=repeat,
            budget=budget,
        )
        print(
            f"{name:<26}{r['official']:>10.0f}{r['json+b64']:>10.0f}{r['minimal']:>10.0f}"
            f"{r['ours']:>9.0f}{r['official'] / r['ours']:>17.1f}x"
            f"{r['json+b64'] / r['ours']:>12.1f}x{100 * r['minimal'] / r['ours']:>11.0f}%"
        )

    print()
    print("frames with members this version does not know (kept: lossless slow path)")
    header = (
        f"{'decoding (ns/event)':<26}{'official':>10}{'ours, plain':>13}{'ours':>9}"
        f"{'ours vs official':>18}{'cost vs plain':>15}"
    )
    print(header)
    print("-" * len(header))
    for name, frames in (
        ("audio delta 20 ms", audio_frames(20)),
        ("text/transcript deltas", text_frames()),
        ("response.done (large)", [response_done_frame()]),
    ):
        extended = [with_unknown_members(frame) for frame in frames]
        for plain, frame in zip(frames, extended, strict=True):
            assert json.loads(encode_event(decode_server_event(frame))) == json.loads(frame)
            assert json.loads(encode_event(decode_server_event(plain))) == json.loads(plain)
        r = measure(
            {"official": official, "ours": decode_server_event},
            extended,
            repeat=repeat,
            budget=budget,
        )
        base = measure({"ours": decode_server_event}, frames, repeat=repeat, budget=budget)
        print(
            f"{name:<26}{r['official']:>10.0f}{base['ours']:>13.0f}{r['ours']:>9.0f}"
            f"{r['official'] / r['ours']:>17.1f}x{r['ours'] / base['ours']:>14.1f}x"
        )

    pcm = _pcm(20)

    def official_dict(pcm: bytes) -> object:
        event = {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}
        return json.dumps(maybe_transform(event, RealtimeClientEventParam))

    def official_model(pcm: bytes) -> object:
        event = InputAudioBufferAppendEvent(
            type="input_audio_buffer.append", audio=base64.b64encode(pcm).decode()
        )
        return event.model_dump_json(exclude_unset=True)

    def ours(pcm: bytes) -> object:
        return encode_event(InputAudioBufferAppend(audio=pcm))

    assert json.loads(ours(pcm)) == json.loads(official_dict(pcm))  # type: ignore[arg-type]
    r = measure(
        {"official": official_dict, "model": official_model, "ours": ours},
        [pcm],
        repeat=repeat,
        budget=budget,
    )
    print()
    header = (
        f"{'encoding (ns/event)':<26}{'official':>10}{'model':>10}{'ours':>9}"
        f"{'ours vs official':>18}{'vs model':>10}"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{'append 20 ms from PCM':<26}{r['official']:>10.0f}{r['model']:>10.0f}{r['ours']:>9.0f}"
        f"{r['official'] / r['ours']:>17.1f}x{r['model'] / r['ours']:>9.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
