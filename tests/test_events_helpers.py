"""Item helpers, constructors and typing conveniences of the event model."""

from __future__ import annotations

import msgspec

from realtime_anyio.events import (
    UNSET,
    AudioFormat,
    ConversationItem,
    ConversationItemCreate,
    InputAudioContent,
    InputImageContent,
    InputTextContent,
    McpApprovalResponseItem,
    MessageItem,
    OutputTextContent,
    RealtimeResponse,
    ResponseDone,
    ServerEvent,
    assistant_text,
    decode_client_event,
    encode_event,
    function_call_output,
    mcp_approval_response,
    system_text,
    user_audio,
    user_image,
    user_text,
)


def _wire(item: ConversationItem) -> object:
    return msgspec.json.decode(encode_event(ConversationItemCreate(item=item)))["item"]


def test_user_text() -> None:
    item = user_text("hi", id="item_1")
    assert item == MessageItem(role="user", content=[InputTextContent(text="hi")], id="item_1")
    assert _wire(item) == {
        "type": "message",
        "role": "user",
        "id": "item_1",
        "content": [{"type": "input_text", "text": "hi"}],
    }


def test_user_audio_is_base64_on_the_wire() -> None:
    item = user_audio(b"\x00\x01\x02", transcript="hello")
    assert item.content == [InputAudioContent(audio=b"\x00\x01\x02", transcript="hello")]
    assert _wire(item) == {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio", "audio": "AAEC", "transcript": "hello"}],
    }


def test_user_image_system_assistant() -> None:
    assert user_image("data:image/png;base64,xx", detail="low").content == [
        InputImageContent(image_url="data:image/png;base64,xx", detail="low")
    ]
    assert system_text("rules").role == "system"
    assert assistant_text("earlier").content == [OutputTextContent(text="earlier")]


def test_function_call_output_and_mcp_approval() -> None:
    assert _wire(function_call_output("call_1", '{"ok":true}')) == {
        "type": "function_call_output",
        "call_id": "call_1",
        "output": '{"ok":true}',
    }
    approval = mcp_approval_response("mcpr_1", False, reason="no")
    assert approval == McpApprovalResponseItem(
        approval_request_id="mcpr_1", approve=False, reason="no"
    )
    assert approval.id is UNSET


def test_helpers_round_trip_through_the_client_decoder() -> None:
    for item in (
        user_text("a"),
        user_audio(bytes(10)),
        user_image("https://example.com/x.png"),
        system_text("b"),
        assistant_text("c"),
        function_call_output("call_1", "d"),
        mcp_approval_response("mcpr_1", True),
    ):
        event = ConversationItemCreate(item=item)
        assert decode_client_event(encode_event(event)) == event


def test_audio_format_constructors() -> None:
    assert AudioFormat.pcm() == AudioFormat(type="audio/pcm", rate=24000)
    assert AudioFormat.pcmu() == AudioFormat(type="audio/pcmu")
    assert AudioFormat.pcma() == AudioFormat(type="audio/pcma")
    assert msgspec.json.encode(AudioFormat.pcmu()) == b'{"type":"audio/pcmu"}'


def test_type_narrowing_by_type_string() -> None:
    def status(event: ServerEvent) -> str | None:
        if event.type == "response.done":
            # a type checker narrows to ResponseDone here
            return str(event.response.status)
        return None

    done = ResponseDone(response=RealtimeResponse(status="completed"))
    assert status(done) == "completed"
