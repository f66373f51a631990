"""Pure parts of the fake server: audio synthesis, G.711, VAD, validation, settings, scripts."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

from realtime_anyio.testing import Say, Script, ToolCall, TurnContext
from realtime_anyio.testing._audio import (
    bytes_per_ms,
    decode_g711,
    duration_ms,
    encode_g711,
    from_pcm24k,
    level_dbfs,
    read_wav,
    silence,
    speech,
    speech_tokens,
    to_pcm24k,
    tone,
    write_wav,
)
from realtime_anyio.testing._conversation import Conversation, normalize_client_item
from realtime_anyio.testing._core import split_tokens as _tokens
from realtime_anyio.testing._ids import IdFactory
from realtime_anyio.testing._settings import (
    apply_session_update,
    default_realtime_session,
    validate_response_params,
)
from realtime_anyio.testing._vad import SpeechStarted, SpeechStopped, VoiceActivityDetector
from realtime_anyio.testing._validate import Invalid, quote_list, unknown_parameter


def test_tone_and_silence_levels() -> None:
    assert level_dbfs(silence(0.1)) == -math.inf
    assert duration_ms(silence(0.25)) == 250
    sine = tone(1000, 0.5, amplitude=0.5)
    assert len(sine) == 24000
    # A sine's RMS is 3 dB below its peak.
    assert abs(level_dbfs(sine) - (20 * math.log10(0.5) - 3.01)) < 0.1


def test_speech_is_speech_like() -> None:
    pcm = speech("Hello there, how are you today?")
    assert 1500 < duration_ms(pcm) < 3500
    assert -30 < level_dbfs(pcm) < -10
    # Different voices have different pitches, hence different audio.
    assert speech("hello", voice="echo") != speech("hello", voice="shimmer")
    assert speech("hello", voice="custom-1") == speech("hello", voice="custom-1")
    slow, fast = speech("hello there", speed=0.5), speech("hello there", speed=1.5)
    assert len(slow) > 2 * len(fast)
    pieces = list(speech_tokens(["Hi", " there", "!"]))
    assert len(pieces) == 3 and all(pieces)


def test_g711_round_trip() -> None:
    pcm = tone(440, 0.3, amplitude=0.4)
    for law in ("audio/pcmu", "audio/pcma"):
        encoded = from_pcm24k(pcm, law)
        assert len(encoded) == len(pcm) // 6
        back = to_pcm24k(encoded, law)
        assert len(back) == len(pcm)
        assert abs(level_dbfs(back) - level_dbfs(pcm)) < 0.5
        assert len(decode_g711(encode_g711(pcm, law), law)) == len(pcm) // 3
    assert bytes_per_ms("audio/pcm") == 48 and bytes_per_ms("audio/pcmu") == 8


def test_wav_round_trip_and_resampling(tmp_path: Path) -> None:
    pcm = tone(300, 0.2)
    path = tmp_path / "a.wav"
    write_wav(path, pcm)
    assert read_wav(path) == pcm
    write_wav(path, tone(300, 0.2, rate=16000), rate=16000)
    assert abs(len(read_wav(path)) - len(pcm)) <= 2


def test_vad_decisions_and_positions() -> None:
    vad = VoiceActivityDetector(prefix_padding_ms=300, silence_duration_ms=200)
    pcm = silence(1.0) + tone(200, 0.5) + silence(0.5)
    decisions: list[SpeechStarted | SpeechStopped] = []
    # Odd chunk sizes must not matter.
    for start in range(0, len(pcm), 777):
        decisions.extend(vad.feed(pcm[start : start + 777]))
    assert decisions == [SpeechStarted(700), SpeechStopped(1700)]
    assert vad.position_ms == 2000


def test_vad_threshold_and_buffer_start() -> None:
    quiet = tone(200, 0.5, amplitude=0.003)  # about -53 dBFS
    assert VoiceActivityDetector(threshold=0.5).feed(silence(0.1) + quiet) == []
    assert VoiceActivityDetector(threshold=0.2).feed(silence(0.1) + quiet)[0] == SpeechStarted(0)
    vad = VoiceActivityDetector(origin_ms=5000)
    vad.mark_buffer_start(5050)
    assert vad.feed(silence(0.1) + tone(200, 0.3)) == [SpeechStarted(5050)]


def test_ids_have_the_service_shape() -> None:
    ids = IdFactory(seed=1)
    assert re.match(r"^item_[A-Za-z0-9]{21}$", ids.new("item_"))
    assert re.match(r"^call_[A-Za-z0-9]{16}$", ids.call_id())
    assert re.match(r"^event_[0-9a-f]{16}$", ids.hex_event_id())
    assert len("Hey" + ids.obfuscation("Hey")) == 16
    assert IdFactory(seed=3).new("x_") == IdFactory(seed=3).new("x_")


def test_tokens_keep_spaces_with_words() -> None:
    assert _tokens("Hi there, friend.") == ["Hi", " there", ",", " friend", "."]
    assert "".join(_tokens("It\u2019s 21 degrees!")) == "It\u2019s 21 degrees!"


def test_quote_list() -> None:
    assert quote_list(["a"]) == "'a'"
    assert quote_list(["a", "b"]) == "'a' and 'b'"
    assert quote_list(["a", "b", "c"]) == "'a', 'b', and 'c'"


def _session() -> dict[str, Any]:
    return default_realtime_session(session_id="sess_x", model="m", expires_at=0)


def test_session_update_is_atomic() -> None:
    session = _session()
    with pytest.raises(Invalid) as caught:
        apply_session_update(
            session,
            {"type": "realtime", "instructions": "new", "audio": {"output": {"speed": 9}}},
            voice_locked=False,
        )
    assert caught.value.param == "session.audio.output.speed"
    assert session == _session()
    updated = apply_session_update(
        session,
        {
            "type": "realtime",
            "tools": [{"type": "function", "name": "f"}],
            "tool_choice": {"type": "function", "name": "f"},
            "truncation": {"type": "retention_ratio", "retention_ratio": 0.5},
            "tracing": "auto",
            "include": ["item.input_audio_transcription.logprobs"],
            "audio": {
                "input": {
                    "noise_reduction": {"type": "near_field"},
                    "format": {"type": "audio/pcma"},
                },
                "output": {"voice": {"id": "voice_123"}},
            },
        },
        voice_locked=False,
    )
    assert updated["audio"]["input"]["format"] == {"type": "audio/pcma"}
    assert updated["audio"]["output"]["voice"] == {"id": "voice_123"}
    assert updated["tools"] == [{"type": "function", "name": "f"}]


@pytest.mark.parametrize(
    ("update", "param"),
    [
        ({"type": "realtime", "tools": [{"type": "function"}]}, "session.tools[0].name"),
        ({"type": "realtime", "tool_choice": "sometimes"}, "session.tool_choice"),
        ({"type": "realtime", "truncation": "never"}, "session.truncation"),
        ({"type": "realtime", "model": "other"}, "session.model"),
        ({"type": "transcription"}, "session.type"),
        (
            {"type": "realtime", "audio": {"input": {"turn_detection": {"threshold": 2}}}},
            "session.audio.input.turn_detection.threshold",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"type": "semantic_vad", "threshold": 1}}},
            },
            "session.audio.input.turn_detection.threshold",
        ),
        (
            {
                "type": "realtime",
                "audio": {"input": {"turn_detection": {"idle_timeout_ms": 100}}},
            },
            "session.audio.input.turn_detection.idle_timeout_ms",
        ),
        ({"type": "realtime", "output_modalities": []}, "session.output_modalities"),
    ],
)
def test_session_update_errors(update: dict[str, Any], param: str) -> None:
    with pytest.raises(Invalid) as caught:
        apply_session_update(_session(), update, voice_locked=False)
    assert caught.value.param == param


def test_response_params() -> None:
    params = validate_response_params(
        {"conversation": "none", "metadata": {"a": "b"}, "max_output_tokens": "inf"}
    )
    assert params == {"conversation": "none", "metadata": {"a": "b"}, "max_output_tokens": "inf"}
    with pytest.raises(Invalid) as caught:
        validate_response_params({"metadata": {str(i): "x" for i in range(17)}})
    assert caught.value.code == "object_above_max_properties"


def test_conversation_insert_and_delete() -> None:
    conversation = Conversation()
    assert conversation.insert({"id": "a"}, None) is None
    assert conversation.insert({"id": "b"}, None) == "a"
    assert conversation.insert({"id": "r"}, "root") is None
    assert conversation.insert({"id": "m"}, "a") == "a"
    assert [i["id"] for i in conversation.items] == ["r", "a", "m", "b"]
    with pytest.raises(KeyError):
        conversation.insert({"id": "x"}, "nope")
    assert conversation.delete("m") and not conversation.delete("m")


def test_client_items_are_normalized() -> None:
    counter = iter(range(100))

    def new_id() -> str:
        return f"item_{next(counter)}"

    item, audio = normalize_client_item(
        {"type": "function_call", "name": "f", "arguments": "{}"},
        "item",
        new_id=new_id,
        new_call_id=lambda: "call_1",
    )
    assert item == {
        "id": "item_0",
        "type": "function_call",
        "status": "completed",
        "name": "f",
        "call_id": "call_1",
        "arguments": "{}",
    }
    assert audio == {}
    with pytest.raises(Invalid) as caught:
        normalize_client_item(
            {"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": "!"}]},
            "item",
            new_id=new_id,
            new_call_id=lambda: "c",
        )
    assert caught.value.param == "item.content[0].audio"


def test_unknown_parameters_follow_the_event_structs() -> None:
    from realtime_anyio.events import SessionUpdate

    assert (
        unknown_parameter(
            {"type": "session.update", "session": {"type": "realtime"}}, SessionUpdate
        )
        is None
    )
    found = unknown_parameter(
        {"type": "session.update", "session": {"type": "realtime", "bogus_field": 1}},
        SessionUpdate,
    )
    assert found == "session.bogus_field"
    nested = unknown_parameter(
        {
            "type": "session.update",
            "session": {"type": "realtime", "audio": {"output": {"voice": "x", "pitch": 2}}},
        },
        SessionUpdate,
    )
    assert nested == "session.audio.output.pitch"


async def test_script_queue_then_responder() -> None:
    script = Script()
    context = TurnContext(input=[], conversation=[], session={}, response={}, turn=0)
    script.reply("one").reply_tool_call("f", {"x": 1}, say="calling")
    assert script.pending == 2
    assert (await script.next_reply(context)).items == (Say("one"),)
    second = await script.next_reply(context)
    assert second.items[0] == Say("calling")
    tool = second.items[1]
    assert isinstance(tool, ToolCall) and tool.arguments_json == '{"x": 1}'
    assert (await script.next_reply(context)).items == (Say("Hello! How can I help?"),)
    script.respond_with(lambda ctx: ["a", "b"])
    assert (await script.next_reply(context)).items == (Say("a"), Say("b"))
    script.transcripts("heard")
    assert script.transcribe(b"") == "heard"
    assert script.transcribe(silence(1.0)) == "(1.0 seconds of speech)"
