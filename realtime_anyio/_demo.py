"""``realtime-anyio demo``: a scripted voice-agent conversation against the bundled server.

Everything runs in one process on 127.0.0.1: a :class:`~realtime_anyio.testing.FakeRealtimeServer`
paced in real time, and a client that uses only the public API (``open_realtime``, the typed
events). Four turns: a text exchange; a spoken question (a generated WAV pumped in at real time)
that makes the model call a tool and answer aloud (the answer is written to a WAV); and a long
spoken story that the user interrupts, which the client truncates at the position its simulated
speaker had played. The audio side is the public :mod:`realtime_anyio.audio` API: the question
is pumped with :func:`~realtime_anyio.audio.pump_audio`, the story plays through an
:class:`~realtime_anyio.audio.AudioPlayer` into a virtual speaker, and the player's barge-in
truncates it.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from . import events as ev
from ._connection import RealtimeConnection, ReceivedEvent
from ._open import open_realtime
from .audio import AudioPlayer, VirtualSpeaker, pump_audio, silence, speech, write_wav
from .testing import FakeRealtimeServer, Say, Script, ToolCall

__all__ = ["DemoResult", "run_demo"]

MODEL = "gpt-realtime"
QUESTION = "What's the weather in Paris?"
INTERRUPTION = "Wait, stop!"
STORY = (
    "Once upon a time, in a small town by the sea, there lived a lighthouse keeper who "
    "collected the sounds of the waves in glass jars, one for every day of the year."
)
WEATHER_TOOL = ev.FunctionTool(
    name="get_weather",
    description="The current weather in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)
#: How much of the story the simulated speaker plays before the user talks over it.
PLAY_BEFORE_INTERRUPTING = 1.2


@dataclass
class DemoResult:
    """What a demo run produced."""

    out_dir: Path
    question_wav: Path
    reply_wav: Path
    seconds: float
    lines: list[str] = field(default_factory=lambda: [])


def _script() -> Script:
    script = Script()
    script.reply("Hi! I'm the bundled fake model, speaking the Realtime protocol on 127.0.0.1.")
    script.reply(ToolCall("get_weather", {"city": "Paris"}))
    script.reply("Sunny and twenty-one degrees in Paris.")
    script.reply(Say(STORY))
    script.reply("Sure, I'll stop there.")
    script.transcripts(QUESTION, INTERRUPTION)
    return script


def _weather(arguments: str) -> str:
    city = json.loads(arguments).get("city", "?")
    return json.dumps({"city": city, "forecast": "sunny", "celsius": 21})


class _Demo:
    def __init__(
        self,
        conn: RealtimeConnection,
        out_dir: Path,
        emit: Callable[[str], None],
        speed: float = 1.0,
    ) -> None:
        self.conn = conn
        #: How many times faster than real time the conversation runs (audio time / wall time).
        self.speed = speed
        self.out_dir = out_dir
        self.emit = emit
        self.start = anyio.current_time()
        self.lines: list[str] = []

    def say(self, text: str) -> None:
        line = f"[{anyio.current_time() - self.start:5.2f}s] {text}"
        self.lines.append(line)
        self.emit(line)

    async def send(self, event: ev.ClientEvent) -> None:
        await self.conn.send(event)

    async def receive(self) -> ReceivedEvent:
        return await self.conn.receive()

    async def pump(self, pcm: bytes) -> None:
        """Stream ``pcm`` like a microphone, at the conversation's speed."""
        await pump_audio(self.conn, pcm, chunk_ms=100, speed=self.speed)

    # -- turn 1: text -------------------------------------------------------------------------

    async def text_turn(self) -> None:
        prompt = "Hi! Who are you?"
        self.say(f"you (text): {prompt}")
        await self.send(ev.ConversationItemCreate(item=ev.user_text(prompt)))
        await self.send(
            ev.ResponseCreate(response=ev.ResponseCreateParams(output_modalities=["text"]))
        )
        text: list[str] = []
        while True:
            event = await self.receive()
            if isinstance(event, ev.ResponseOutputTextDelta):
                text.append(event.delta)
            elif isinstance(event, ev.ResponseDone):
                self.say(f"model (text): {''.join(text)}")
                return
            else:
                self._report_error(event)

    # -- turns 2 and 3: a spoken question, a tool call, a spoken answer -------------------------

    async def spoken_turn(self) -> Path:
        question = silence(0.5) + speech(QUESTION, voice="echo") + silence(0.4)
        question_wav = self.out_dir / "question.wav"
        write_wav(question_wav, question)
        self.say(
            f"you (voice): {question_wav.name}, {len(question) / 48000:.1f} s, "
            "streamed at real time"
        )
        reply_pcm = bytearray()
        answer_response: str | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.pump, question)
            while True:
                event = await self.receive()
                if isinstance(event, ev.InputAudioBufferSpeechStarted):
                    self.say(f"  server VAD: speech started at {event.audio_start_ms} ms")
                elif isinstance(event, ev.InputAudioBufferSpeechStopped):
                    self.say(f"  server VAD: speech stopped at {event.audio_end_ms} ms")
                elif isinstance(event, ev.ConversationItemInputAudioTranscriptionCompleted):
                    self.say(f'  transcript: "{event.transcript}"')
                elif isinstance(event, ev.ResponseFunctionCallArgumentsDone):
                    self.say(f"model calls {event.name}({event.arguments})")
                    result = _weather(event.arguments)
                    self.say(f"  tool result: {result}")
                    await self.send(
                        ev.ConversationItemCreate(
                            item=ev.function_call_output(event.call_id, result)
                        )
                    )
                    # The follow-up response.create goes out once this response is done.
                elif isinstance(event, ev.ResponseOutputAudioDelta):
                    if event.response_id == answer_response:
                        reply_pcm += event.delta
                elif isinstance(event, ev.ResponseCreated):
                    if answer_response is None and self._follow_up_pending:
                        response_id = event.response.id
                        answer_response = response_id if isinstance(response_id, str) else None
                elif isinstance(event, ev.ResponseDone):
                    outputs = (
                        event.response.output if isinstance(event.response.output, list) else []
                    )
                    if any(isinstance(o, ev.FunctionCallItem) for o in outputs):
                        self._follow_up_pending = True
                        await self.send(ev.ResponseCreate())
                    elif event.response.id == answer_response:
                        transcript = _transcript_of(event)
                        reply_wav = self.out_dir / "reply.wav"
                        write_wav(reply_wav, bytes(reply_pcm))
                        self.say(
                            f'model (voice): "{transcript}" '
                            f"({len(reply_pcm) / 48000:.1f} s) -> {reply_wav.name}"
                        )
                        tg.cancel_scope.cancel()
                        return reply_wav
                else:
                    self._report_error(event)
        raise RuntimeError("the spoken turn ended without an answer")

    _follow_up_pending = False

    # -- turn 4: barge-in ---------------------------------------------------------------------

    async def barge_in(self) -> None:
        prompt = "Tell me a long story."
        self.say(f"you (text): {prompt}")
        await self.send(ev.ConversationItemCreate(item=ev.user_text(prompt)))
        await self.send(ev.ResponseCreate())
        player = AudioPlayer(VirtualSpeaker(speed=self.speed))
        story_item: str | None = None
        interrupted = False
        interruption = speech(INTERRUPTION, voice="echo") + silence(0.4)
        async with anyio.create_task_group() as tg:
            await tg.start(player.run, self.conn)
            while True:
                event = await self.receive()
                played = 0.0 if story_item is None else player.played_ms(story_item)
                if not interrupted and played >= PLAY_BEFORE_INTERRUPTING * 1000:
                    interrupted = True
                    self.say(f'you interrupt (voice): "{INTERRUPTION}"')
                    tg.start_soon(self.pump, interruption)
                if isinstance(event, ev.ResponseOutputAudioDelta):
                    if story_item is None:
                        story_item = event.item_id
                        self.say("model (voice): starts the story; the demo's speaker plays it")
                elif isinstance(event, ev.InputAudioBufferSpeechStarted):
                    self.say(f"  server VAD: speech started at {event.audio_start_ms} ms")
                elif isinstance(event, ev.ResponseDone):
                    status = event.response.status
                    details = event.response.status_details
                    reason = (
                        details.reason if isinstance(details, ev.ResponseStatusDetails) else None
                    )
                    if status == "cancelled":
                        self.say(f"  response cancelled by the server ({reason})")
                    elif status == "completed":
                        self.say(f'model (voice): "{_transcript_of(event)}"')
                        tg.cancel_scope.cancel()
                        return
                elif isinstance(event, ev.ConversationItemTruncated):
                    # The player sent the truncate at the position its speaker had played.
                    self.say(
                        f"  the player truncated the story at {event.audio_end_ms} ms played "
                        f"(of {player.received_ms(event.item_id):.0f} ms received): "
                        f'"{player.transcript(event.item_id)}"'
                    )
                    self.say("  server confirmed the truncation")
                else:
                    self._report_error(event)

    def _report_error(self, event: object) -> None:
        if isinstance(event, ev.Error):
            self.say(f"  server error: {event.error.message}")


def _transcript_of(event: ev.ResponseDone) -> str:
    parts: list[str] = []
    for item in event.response.output if isinstance(event.response.output, list) else []:
        if isinstance(item, ev.MessageItem):
            for part in item.content:
                transcript = getattr(part, "transcript", None)
                text = getattr(part, "text", None)
                if isinstance(transcript, str):
                    parts.append(transcript)
                elif isinstance(text, str):
                    parts.append(text)
    return " ".join(parts)


async def run_demo(
    *, out_dir: Path | None = None, emit: Callable[[str], None] = print, speed: float = 1.0
) -> DemoResult:
    """Run the whole demo and return where its files went.

    ``speed`` runs the conversation that many times faster than real time (the server's
    pacing, the microphone and the simulated speaker alike); the tests use it.

    Cancellation: safe; the in-process server and the connection are closed.
    """
    directory = out_dir or Path(tempfile.mkdtemp(prefix="realtime-anyio-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    began = anyio.current_time()
    async with FakeRealtimeServer(
        script=_script(), pacing="realtime", pacing_speed=speed
    ) as server:
        emit(f"realtime-anyio demo: bundled server at {server.url}")
        async with open_realtime(
            model=MODEL, websocket_base_url=server.url, api_key="sk-demo-local"
        ) as conn:
            demo = _Demo(conn, directory, emit, speed)
            created = await demo.receive()
            if isinstance(created, ev.SessionCreated):
                demo.say(f"connected: session {created.session.id} (model {MODEL})")
            await demo.send(
                ev.SessionUpdate(
                    session=ev.RealtimeSession(
                        tools=[WEATHER_TOOL],
                        audio=ev.SessionAudio(
                            input=ev.SessionAudioInput(
                                transcription=ev.AudioTranscription(model="gpt-4o-transcribe")
                            )
                        ),
                    )
                )
            )
            await demo.text_turn()
            reply_wav = await demo.spoken_turn()
            await demo.barge_in()
            elapsed = anyio.current_time() - began
            demo.say(f"done in {elapsed:.1f} s")
    emit(f"WAV files: {directory / 'question.wav'} (you), {reply_wav} (the model)")
    return DemoResult(
        out_dir=directory,
        question_wav=directory / "question.wav",
        reply_wav=reply_wav,
        seconds=elapsed,
        lines=demo.lines,
    )
