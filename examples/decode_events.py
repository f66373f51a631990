"""Decode a short recorded Realtime session and print what happened.

Runs offline: the frames below have the shapes the live service sends for one spoken turn
(audio deltas shortened). Run it with ``python examples/decode_events.py``.
"""

from __future__ import annotations

import base64

from realtime_anyio import RemoteProtocolError
from realtime_anyio.events import (
    ConversationItemAdded,
    ConversationItemCreate,
    Error,
    InputAudioBufferAppend,
    MessageItem,
    OutputAudioContent,
    RateLimitsUpdated,
    RealtimeSession,
    ResponseCreate,
    ResponseDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioTranscriptDelta,
    ResponseUsage,
    SessionCreated,
    SessionUpdate,
    UnknownServerEvent,
    decode_server_event,
    encode_event,
    to_client_event,
    user_text,
)

PCM = base64.b64encode(bytes(960)).decode()  # 20 ms of silence at 24 kHz, 16-bit mono
IDS = '"response_id":"resp_1","item_id":"item_2","output_index":0,"content_index":0'

RECORDED = [
    '{"type":"session.created","event_id":"event_1","session":{"type":"realtime",'
    '"object":"realtime.session","id":"sess_1","model":"gpt-realtime","output_modalities":["audio"],'
    '"tools":[],"tool_choice":"auto","max_output_tokens":"inf","tracing":null,"prompt":null,'
    '"audio":{"input":{"format":{"type":"audio/pcm","rate":24000},"transcription":null,'
    '"turn_detection":{"type":"server_vad","threshold":0.5,"silence_duration_ms":200}},'
    '"output":{"format":{"type":"audio/pcm","rate":24000},"voice":"alloy","speed":1.0}}}}',
    '{"type":"conversation.item.added","event_id":"event_2","previous_item_id":null,'
    '"item":{"id":"item_1","object":"realtime.item","type":"message","status":"completed",'
    '"role":"user","content":[{"type":"input_text","text":"Say hi"}]}}',
    '{"type":"response.created","event_id":"event_3","response":{"id":"resp_1",'
    '"object":"realtime.response","status":"in_progress","output":[],"usage":null}}',
    f'{{"type":"response.output_audio_transcript.delta","event_id":"event_4",{IDS},'
    '"delta":"Hi ","obfuscation":"Qm8x"}',
    f'{{"type":"response.output_audio.delta","event_id":"event_5",{IDS},"delta":"{PCM}"}}',
    f'{{"type":"response.output_audio_transcript.delta","event_id":"event_6",{IDS},'
    '"delta":"there!","obfuscation":"z1"}',
    f'{{"type":"response.output_audio.delta","event_id":"event_7",{IDS},"delta":"{PCM}"}}',
    '{"type":"some.future_event","event_id":"event_8","detail":42}',
    '{"type":"response.done","event_id":"event_9","response":{"id":"resp_1",'
    '"object":"realtime.response","status":"completed","output":[{"id":"item_2",'
    '"object":"realtime.item","type":"message","status":"completed","role":"assistant",'
    '"content":[{"type":"output_audio","transcript":"Hi there!"}]}],'
    '"usage":{"total_tokens":42,"input_tokens":30,"output_tokens":12}}}',
    '{"type":"rate_limits.updated","event_id":"event_10","rate_limits":[{"name":"tokens",'
    '"limit":15000000,"remaining":14999958,"reset_seconds":0.001}]}',
    '{"type":"response.output_audio.delta","event_id":"event_11","delta":"not base64"}',
]


def show_recorded_session() -> None:
    audio = bytearray()
    for frame in RECORDED:
        try:
            event = decode_server_event(frame)
        except RemoteProtocolError as exc:
            print(f"bad frame ({exc.reason})")
            continue
        match event:
            case SessionCreated(session=RealtimeSession(model=model)):
                print(f"session created, model {model}")
            case ConversationItemAdded(item=MessageItem(role=role, content=content)):
                print(f"{role} item added with {len(content)} part(s)")
            case ResponseOutputAudioTranscriptDelta(delta=text):
                print(f"transcript: {text!r}")
            case ResponseOutputAudioDelta(delta=pcm):
                audio += pcm  # raw PCM bytes, already decoded from base64
            case ResponseDone(response=response):
                # Optional fields are UNSET when absent and None when the server sent null.
                usage = response.usage
                tokens = usage.total_tokens if isinstance(usage, ResponseUsage) else "?"
                print(f"response {response.status}, {tokens} tokens")
                for item in response.output or []:
                    if isinstance(item, MessageItem):
                        for part in item.content:
                            if isinstance(part, OutputAudioContent):
                                print(f"  said: {part.transcript!r}")
            case RateLimitsUpdated(rate_limits=limits):
                print("rate limits:", ", ".join(f"{lim.name} {lim.remaining}" for lim in limits))
            case Error(error=error):
                print(f"error {error.code}: {error.message}")
            case UnknownServerEvent(wire_type=kind):
                print(f"(an event this version does not know: {kind})")
            case _:
                print(event.type)
    print(f"received {len(audio)} bytes of audio ({len(audio) // 48} ms)")


def show_client_events() -> None:
    # Typed Structs and plain dicts (as the official SDK takes them) give the same frames.
    typed = [
        SessionUpdate(session=RealtimeSession(instructions="Be brief.")),
        ConversationItemCreate(item=user_text("Say hi")),
        InputAudioBufferAppend(audio=bytes(4)),
        ResponseCreate(event_id="evt_client_1"),
    ]
    from_dicts = [
        to_client_event(
            {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}
        ),
        to_client_event(
            {
                "type": "conversation.item.create",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Say hi"}],
                },
            }
        ),
        to_client_event({"type": "input_audio_buffer.append", "audio": "AAAAAA=="}),
        to_client_event({"type": "response.create", "event_id": "evt_client_1"}),
    ]
    for a, b in zip(typed, from_dicts, strict=True):
        assert a == b
        print(encode_event(a).decode())


if __name__ == "__main__":
    show_recorded_session()
    print()
    show_client_events()
