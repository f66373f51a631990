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
    assert ev.wire_type == "brand.new"
    # never a known type, so comparing .type with a known one rules it out
    assert ev.type == "unknown_server_event"
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


# --- errors, one test per kind of bad input --------------------------------------------------

AUDIO_DELTA = {
    "type": "response.output_audio.delta",
    "event_id": "event_1",
    "response_id": "resp_1",
    "item_id": "item_1",
    "output_index": 0,
    "content_index": 0,
    "delta": "AAEC",
}


def _remote_error(frame: bytes | str) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        decode_server_event(frame)
    assert not isinstance(info.value, LocalProtocolError)
    return info.value


@pytest.mark.parametrize("frame", [b"", b"{", b"not json", b'{"type":"error"', b"\xff\xfe"])
def test_not_json(frame: bytes) -> None:
    err = _remote_error(frame)
    assert err.raw == frame
    assert err.path is None
    assert "JSON" in err.reason or "UTF-8" in err.reason


@pytest.mark.parametrize("frame", [b"[1]", b'"event"', b"1", b"null", b"true"])
def test_not_an_object(frame: bytes) -> None:
    err = _remote_error(frame)
    assert err.raw == frame
    assert err.reason == "frame is not a JSON object"
    assert err.path is None


@pytest.mark.parametrize("frame", [b'{"type":5}', b'{"type":null}', b'{"type":["a"]}', b"{}"])
def test_type_not_a_string(frame: bytes) -> None:
    err = _remote_error(frame)
    assert err.raw == frame
    assert err.path == "type"
    assert "type" in err.reason


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"delta": "not base64!"}, "delta"),
        ({"delta": 5}, "delta"),
        ({"output_index": "0"}, "output_index"),
        ({"response_id": None}, "response_id"),
    ],
)
def test_malformed_body(change: dict[str, object], path: str) -> None:
    frame = msgspec.json.encode({**AUDIO_DELTA, **change})
    err = _remote_error(frame)
    assert err.raw == frame
    assert err.path == path
    assert err.reason.startswith("malformed 'response.output_audio.delta' event: ")
    assert err.reason.endswith(f" at {path}")


def test_missing_required_field() -> None:
    frame = msgspec.json.encode({k: v for k, v in AUDIO_DELTA.items() if k != "item_id"})
    err = _remote_error(frame)
    assert "item_id" in err.reason
    assert err.path == "item_id"


def test_nested_path() -> None:
    frame = msgspec.json.encode(
        {
            "type": "response.done",
            "event_id": "e",
            "response": {
                "output": [
                    {"type": "message", "role": "assistant", "content": [{"type": 7}]},
                ]
            },
        }
    )
    err = _remote_error(frame)
    assert err.path == "response.output[0].content[0].type"


def test_unknown_nested_tag_is_forward_compatible() -> None:
    payload = {
        "type": "response.done",
        "event_id": "e",
        "response": {
            "output": [
                {"type": "message", "role": "assistant", "content": [{"type": "hologram"}]},
            ]
        },
    }
    frame = msgspec.json.encode(payload)
    event = decode_server_event(frame)
    assert isinstance(event, UnknownServerEvent)
    assert event.wire_type == "response.done"
    assert event.type == "unknown_server_event"
    assert event.payload == payload
    assert msgspec.json.decode(encode_event(event)) == payload


def test_invalid_utf8_inside_a_string() -> None:
    frame = b'{"type":"response.output_text.delta","event_id":"e","response_id":"r",'
    frame += b'"item_id":"i","output_index":0,"content_index":0,"delta":"caf\xc3"}'
    err = _remote_error(frame)
    assert err.raw == frame
    assert "UTF-8" in err.reason


def test_raw_keeps_str_and_copies_buffers() -> None:
    assert _remote_error("[]").raw == "[]"
    with pytest.raises(RemoteProtocolError) as info:
        decode_server_event(bytearray(b"[]"))
    assert info.value.raw == b"[]"
    with pytest.raises(RemoteProtocolError) as info:
        decode_server_event(memoryview(b"[]"))
    assert info.value.raw == b"[]"


def test_unknown_fields_are_ignored() -> None:
    frame = msgspec.json.encode({**AUDIO_DELTA, "brand_new_field": {"x": 1}})
    ev = decode_server_event(frame)
    assert isinstance(ev, ResponseOutputAudioDelta)


def test_client_decoder_errors() -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_client_event(b'{"type":"response.done"}')
    assert info.value.path == "type"
    assert info.value.reason == "unknown client event type 'response.done'"
    with pytest.raises(RemoteProtocolError) as info:
        decode_client_event(b'{"type":"input_audio_buffer.append","audio":"%%%"}')
    assert info.value.path == "audio"
    with pytest.raises(RemoteProtocolError) as info:
        decode_client_event(b"nope")
    assert info.value.path is None


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (
            {"type": "conversation.item.truncate", "item_id": "i", "content_index": 0},
            "audio_end_ms",
        ),
        ({"type": "conversation.item.delete", "item_id": 5}, "item_id"),
        ({"type": "input_audio_buffer.append", "audio": "***"}, "audio"),
        ({"type": "conversation.item.create", "item": {"type": "message"}}, "item.role"),
        ({"type": "conversation.item.create", "item": {"type": "nope"}}, "item.type"),
        (
            {
                "type": "session.update",
                "session": {"type": "realtime", "audio": {"output": {"speed": "fast"}}},
            },
            "session.audio.output.speed",
        ),
        ({"type": "session.update", "session": {"instructions": "x"}}, "session.type"),
        ({"type": 3}, "type"),
        ({}, "type"),
        ({"type": "response.done"}, "type"),
    ],
)
def test_to_client_event_names_the_bad_field(value: dict[str, object], path: str | None) -> None:
    with pytest.raises(LocalProtocolError) as info:
        to_client_event(value)
    assert info.value.path == path
    assert info.value.raw is None


def test_to_client_event_rejects_non_events() -> None:
    server_event = decode_server_event(msgspec.json.encode(AUDIO_DELTA))
    for value in (server_event, [("type", "response.create")], "response.create", None):
        with pytest.raises(LocalProtocolError, match="expected a client event or a mapping"):
            to_client_event(value)  # type: ignore[arg-type]


def test_local_protocol_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        to_client_event({"type": "nope"})


def test_encode_event_reports_unencodable_values() -> None:
    from realtime_anyio.events import FunctionTool, RealtimeSession

    bad = SessionUpdate(session=RealtimeSession(tools=[FunctionTool(parameters={"x": object()})]))
    with pytest.raises(LocalProtocolError, match="cannot encode SessionUpdate"):
        encode_event(bad)


def test_none_is_null_and_unset_is_absent() -> None:
    from realtime_anyio.events import RealtimeSession

    ev = SessionUpdate(session=RealtimeSession(instructions="hi", tracing=None))
    assert msgspec.json.decode(encode_event(ev)) == {
        "type": "session.update",
        "session": {"type": "realtime", "instructions": "hi", "tracing": None},
    }


def test_repr_shows_audio_by_size() -> None:
    from realtime_anyio.events import user_audio

    assert repr(InputAudioBufferAppend(audio=bytes(960))) == (
        "InputAudioBufferAppend(audio=<960 bytes>)"
    )
    assert repr(user_audio(b"\x00\x01")) == (
        "MessageItem(role='user', content=[InputAudioContent(audio=<2 bytes>)])"
    )
    assert "event_id='e'" in repr(InputAudioBufferAppend(audio=b"", event_id="e"))


def test_server_event_id_may_be_null_or_absent() -> None:
    from realtime_anyio.events import Error

    frame = b'{"type":"error","event_id":null,"error":{"type":"invalid_request_error",'
    frame += b'"code":"session_expired","message":"Your session hit the maximum duration.",'
    frame += b'"param":null,"event_id":null}}'
    ev = decode_server_event(frame)
    assert isinstance(ev, Error)
    assert ev.event_id is None
    assert ev.error.code == "session_expired"
    assert msgspec.json.decode(encode_event(ev)) == msgspec.json.decode(frame)


def test_to_client_event_accepts_structs_inside_dicts() -> None:
    session = RealtimeSession(instructions="hi")
    ev = to_client_event({"type": "session.update", "session": session, "event_id": "e1"})
    assert ev == SessionUpdate(session=session, event_id="e1")
    ev = to_client_event({"type": "conversation.item.create", "item": user_text("x")})
    assert ev == ConversationItemCreate(item=user_text("x"))
    ev = to_client_event({"type": "input_audio_buffer.append", "audio": b"\x00\x01"})
    assert ev == InputAudioBufferAppend(audio=b"\x00\x01")
