"""Ephemeral keys: your server mints a short-lived client secret, the app connects with it.

1. Server side, with the real API key: ``rt.client_secrets.create(session=..., expires_after=...)``.
2. App side, with only the ``ek_…`` value: start a WebRTC call by posting an SDP offer
   (``calls.create``), or open a WebSocket session (``open_realtime(api_key=secret.value)``);
   either way the session configuration bound to the secret applies.
3. Server side again: end the WebRTC call with ``calls.hangup``.

Runs against the bundled fake server (no network, no key)::

    python examples/client_secret.py [--backend trio|asyncio]
"""

from __future__ import annotations

import argparse

import anyio

from realtime_anyio import Realtime, open_realtime
from realtime_anyio.events import (
    RealtimeSession,
    ResponseDone,
    SessionAudio,
    SessionAudioOutput,
    SessionCreated,
)
from realtime_anyio.testing import FakeRealtimeServer

# A browser would produce this with RTCPeerConnection.createOffer().
SDP_OFFER = (
    "v=0\r\no=- 7614219274584779017 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "a=group:BUNDLE 0 1\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
)


async def main() -> None:
    async with FakeRealtimeServer(api_key="sk-server-side-key") as server:
        server.script.reply_text("Welcome to Café Anyio!")

        # 1. Your backend, holding the real key, mints a secret for one app session.
        async with Realtime(api_key="sk-server-side-key", base_url=server.http_url) as backend:
            secret = await backend.client_secrets.create(
                session=RealtimeSession(
                    model="gpt-realtime",
                    instructions="You are the friendly host of Café Anyio.",
                    output_modalities=["text"],
                    audio=SessionAudio(output=SessionAudioOutput(voice="marin")),
                ),
                expires_after=600,
            )
            print(f"client secret {secret.value[:6]}… valid until {secret.expires_at}")
            print(f"  request id {secret.request_id}, session type {secret.session.type}")

            # 2a. The app starts a WebRTC call with nothing but the ephemeral key.
            async with Realtime(api_key=secret.value, base_url=server.http_url) as app:
                call = await app.calls.create(SDP_OFFER)
            print(f"WebRTC call {call.call_id}: {len(call.sdp.splitlines())}-line SDP answer")

            # 3. The backend ends that call when it is done with it.
            await backend.calls.hangup(call.call_id)
            print(f"call {call.call_id} hung up")

        # 2b. Or the app opens a WebSocket session with the ephemeral key.
        async with open_realtime(
            model="gpt-realtime", api_key=secret.value, base_url=server.http_url
        ) as conn:
            created = await conn.receive()
            assert isinstance(created, SessionCreated)
            assert isinstance(created.session, RealtimeSession)
            print(f"WebSocket session instructions: {created.session.instructions!r}")
            await conn.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "Hello!"}],
                }
            )
            await conn.response.create()
            async for event in conn:
                if isinstance(event, ResponseDone):
                    for item in event.response.output or ():
                        for part in getattr(item, "content", None) or ():
                            print(f"assistant: {getattr(part, 'text', '')}")
                    break


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Ephemeral keys for browser and mobile apps.")
    parser.add_argument(
        "--backend", choices=("trio", "asyncio"), default="trio", help="event loop (default: trio)"
    )
    anyio.run(main, backend=parser.parse_args().backend)
