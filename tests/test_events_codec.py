"""Codec basics: decoding, encoding, dict validation and error reporting."""

from __future__ import annotations

import base64

import msgspec
import pytest

from realtime_anyio._errors import LocalProtocolError, RemoteProtocolError
from realtime_anyio.events import (
    CLIENT_EVENT_TYPES,
    SERVER_EVENT_TYPES,
    UNSET,
    ConversationItemCreate,
    InputAudioBufferAppend,
    MessageItem,
    RealtimeSession,
    ResponseOutputAudioDelta,
    ServerVad,
    SessionAudio,
    SessionAudioInput,
    SessionUpdate,
    UnknownServerEvent,
    decode_client_event,
    decode_server_event,
    encode_event,
    to_client_event,
    user_text,
)


def test_counts() -> None:
    assert len(SERVER_EVENT_TYPES) == 46
    assert len(CLIENT_EVENT_TYPES) == 11


def test_audio_delta_is_bytes() -> None:
    pcm = bytes(range(256)) * 4
    frame = msgspec.json.encode(
        {
            "type": "response.output_audio.delta",
            "event_id": "event_1",
            "response_id": "resp_1",
            "item_id": "item_1",
            "output_index": 0,
            "content_index": 0,
            "delta": base64.b64encode(pcm).decode(),
        }
    )
    ev = decode_server_event(frame)
    assert isinstance(ev, ResponseOutputAudioDelta)
    assert ev.type == "response.output_audio.delta"
    assert ev.delta == pcm
    assert msgspec.json.decode(encode_event(ev)) == msgspec.json.decode(frame)


def test_unknown_type() -> None:
    frame = b'{"type":"brand.new","event_id":"e1","x":[1,2]}'
    ev = decode_server_event(frame)
    assert isinstance(ev, UnknownServerEvent)
    assert ev.type == "brand.new"
    assert ev.raw == frame
    assert ev.event_id == "e1"
    assert msgspec.json.decode(encode_event(ev)) == msgspec.json.decode(frame)


def test_session_update_from_dict() -> None:
    ev = to_client_event(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "audio": {"input": {"turn_detection": None}},
            },
        }
    )
    assert ev == SessionUpdate(
        session=RealtimeSession(audio=SessionAudio(input=SessionAudioInput(turn_detection=None)))
    )
    assert msgspec.json.decode(encode_event(ev)) == {
        "type": "session.update",
        "session": {"type": "realtime", "audio": {"input": {"turn_detection": None}}},
    }
    assert ServerVad().type == "server_vad"


def test_to_client_event_errors() -> None:
    with pytest.raises(LocalProtocolError) as info:
        to_client_event({"type": "session.update", "session": {"type": "realtime", "audio": 3}})
    assert info.value.path == "session.audio"
    with pytest.raises(LocalProtocolError) as info:
        to_client_event({"type": "nope"})
    assert info.value.path == "type"


def test_base64_string_accepted_in_dicts() -> None:
    ev = to_client_event({"type": "input_audio_buffer.append", "audio": "AAEC"})
    assert ev == InputAudioBufferAppend(audio=b"\x00\x01\x02")


def test_item_helpers_round_trip() -> None:
    ev = ConversationItemCreate(item=user_text("Hello", id="item_1"))
    frame = encode_event(ev)
    back = decode_client_event(frame)
    assert back == ev
    assert isinstance(back, ConversationItemCreate)
    assert isinstance(back.item, MessageItem)
    assert back.event_id is UNSET


def test_bad_frames() -> None:
    for frame in (b"not json", b"[1]", b'{"type":5}', b"{}"):
        with pytest.raises(RemoteProtocolError) as info:
            decode_server_event(frame)
        assert info.value.raw == frame
    with pytest.raises(RemoteProtocolError) as info:
        decode_server_event(
            b'{"type":"session.updated","session":{"type":"realtime",'
            b'"audio":{"input":{"format":{"type":"audio/pcm","rate":"x"}}}}}'
        )
    assert info.value.path == "session.audio.input.format.rate"
    with pytest.raises(RemoteProtocolError) as info:
        decode_client_event(b'{"type":"nope"}')
    assert info.value.path == "type"
