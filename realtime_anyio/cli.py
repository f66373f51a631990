"""The ``realtime-anyio`` command: ``serve``, ``demo``, ``chat`` and ``talk``.

``serve`` runs the bundled fake server; ``demo`` plays a scripted voice-agent conversation
against it; ``chat`` and ``talk`` talk to it (default) or to the live API (``--live``, with
``OPENAI_API_KEY`` or the Azure variables from the environment). Errors are printed as one line;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import wave
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import anyio
import anyio.to_thread

from . import events as ev
from ._connection import RealtimeConnection, open_realtime
from ._errors import RealtimeError
from .audio import chunked, read_wav, write_wav
from .testing import FakeRealtimeServer

__all__ = ["main"]

PROG = "realtime-anyio"
DEFAULT_MODEL = "gpt-realtime"
#: Audio longer than this gets a progress bar while it is sent.
PROGRESS_FROM_SECONDS = 5.0


class CLIError(Exception):
    """A problem to report as one line (bad input, missing key)."""


# -- argument parsing ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--backend",
        choices=("trio", "asyncio"),
        default="trio",
        help="event loop to run on (default: trio)",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks instead of one-line errors",
    )

    remote = argparse.ArgumentParser(add_help=False)
    where = remote.add_mutually_exclusive_group()
    where.add_argument(
        "--live",
        action="store_true",
        help="use the live OpenAI API (key from OPENAI_API_KEY, or the Azure variables)",
    )
    where.add_argument(
        "--url", metavar="WS_BASE_URL", help="a running server, e.g. one from 'serve'"
    )
    remote.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"model to use (default: {DEFAULT_MODEL})"
    )

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="A structured-concurrency client for the OpenAI Realtime API, and a local "
        "Realtime server for tests and demos.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks instead of one-line errors"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="run the bundled Realtime server",
        description="Run the bundled fake Realtime server. The first line on stdout is the "
        "WebSocket base URL (websocket_base_url) to connect to.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    serve.add_argument("--api-key", help="require this API key from clients")
    serve.add_argument(
        "--pacing",
        choices=("fast", "realtime"),
        default="realtime",
        help="stream replies at playback speed (realtime, default) or at once (fast)",
    )

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="a scripted voice conversation against the bundled server",
        description="Start the bundled server in-process and run a text turn, a spoken turn "
        "with a tool call, and a barge-in, printing a transcript with timings.",
    )
    demo.add_argument("--out", type=Path, help="directory for the WAV files (default: a temp dir)")

    chat = commands.add_parser(
        "chat",
        parents=[common, remote],
        help="text chat in the terminal",
        description="Type a message, get the model's answer. An empty line or end of input quits.",
    )
    chat.add_argument("--instructions", help="system instructions for the session")

    talk = commands.add_parser(
        "talk",
        parents=[common, remote],
        help="send a WAV question, write the spoken answer to a WAV",
        description="Send a 16-bit PCM WAV file as one user turn and write the model's spoken "
        "answer to another WAV file (24 kHz mono).",
    )
    talk.add_argument("--in", dest="input", type=Path, required=True, help="question WAV file")
    talk.add_argument("--out", dest="output", type=Path, required=True, help="answer WAV file")
    talk.add_argument("--voice", help="voice of the answer (e.g. alloy, marin)")
    return parser


# -- shared plumbing -----------------------------------------------------------------------


@asynccontextmanager
async def _connection(args: argparse.Namespace) -> AsyncGenerator[RealtimeConnection, None]:
    """Connect where the arguments say: the live API, a given server, or a bundled one."""
    if args.live:
        if not (os.environ.get("OPENAI_API_KEY") or os.environ.get("AZURE_OPENAI_ENDPOINT")):
            raise CLIError("--live needs OPENAI_API_KEY (or the Azure OpenAI variables) set")
        async with open_realtime(model=args.model) as conn:
            yield conn
    elif args.url:
        async with open_realtime(
            model=args.model, websocket_base_url=args.url, api_key="sk-local"
        ) as conn:
            yield conn
    else:
        async with (
            FakeRealtimeServer() as server,
            open_realtime(
                model=args.model, websocket_base_url=server.url, api_key="sk-local"
            ) as conn,
        ):
            yield conn


async def _until(
    conn: RealtimeConnection, on_event: Callable[[ev.ServerEvent], Awaitable[bool] | bool]
) -> None:
    """Feed events to ``on_event`` until it returns true; ``error`` events raise."""
    async for event in conn:
        if isinstance(event, ev.Error):
            raise CLIError(f"the server answered with an error: {event.error.message}")
        if isinstance(event, ev.BaseServerEvent):
            result = on_event(event)  # pyright: ignore[reportArgumentType]
            if not isinstance(result, bool):
                result = await result
            if result:
                return
    raise CLIError("the connection closed before the answer was complete")


def _progress(out: TextIO, done: float, total: float, label: str) -> None:
    width = 30
    fraction = 0.0 if total <= 0 else min(1.0, done / total)
    filled = int(fraction * width)
    bar = "#" * filled + "." * (width - filled)
    end = "\n" if fraction >= 1.0 else ""
    out.write(f"\r{label} [{bar}] {fraction:4.0%} {done:6.1f}/{total:.1f} s{end}")
    out.flush()


# -- commands -----------------------------------------------------------------------------


async def _serve(args: argparse.Namespace) -> None:
    async with FakeRealtimeServer(
        host=args.host, port=args.port, api_key=args.api_key, pacing=args.pacing
    ) as server:
        print(server.url, flush=True)
        print(
            f"{PROG}: serving Realtime sessions on {server.url}/realtime and REST on "
            f"{server.http_url}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(_stop_on_signal, tg.cancel_scope)
            await server.serve_forever()


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                scope.cancel()
                return
    except NotImplementedError:  # pragma: no cover - Windows: Ctrl-C raises KeyboardInterrupt
        await anyio.sleep_forever()


async def _demo(args: argparse.Namespace) -> None:
    from ._demo import run_demo

    await run_demo(out_dir=args.out, emit=lambda line: print(line, flush=True))


async def _chat(args: argparse.Namespace) -> None:
    async with _connection(args) as conn:
        session: dict[str, Any] = {"type": "realtime", "output_modalities": ["text"]}
        if args.instructions:
            session["instructions"] = args.instructions
        await conn.session.update(session=session)
        interactive = sys.stdin.isatty()
        if interactive:
            print("Type a message; an empty line or Ctrl-D quits.", file=sys.stderr)
        while True:
            if interactive:
                print("you> ", end="", file=sys.stderr, flush=True)
            line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
            text = line.strip()
            if not text:
                return
            await conn.conversation.item.create(item=ev.user_text(text))
            await conn.response.create()
            print("model> ", end="", flush=True)

            def show(event: ev.ServerEvent) -> bool:
                if isinstance(event, ev.ResponseOutputTextDelta):
                    print(event.delta, end="", flush=True)
                elif isinstance(event, ev.ResponseDone):
                    print(flush=True)
                    status = event.response.status
                    if status not in ("completed", ev.UNSET):
                        print(f"({PROG}: the response ended {status})", file=sys.stderr)
                    return True
                return False

            await _until(conn, show)


async def _talk(args: argparse.Namespace) -> None:
    try:
        pcm = read_wav(args.input)
    except FileNotFoundError:
        raise CLIError(f"{args.input}: no such file") from None
    except (OSError, EOFError, ValueError, wave.Error) as exc:
        raise CLIError(f"{args.input}: not a readable PCM WAV file ({exc})") from None
    seconds = len(pcm) / 48000
    if seconds < 0.1:
        raise CLIError(f"{args.input}: needs at least 0.1 s of audio (has {seconds:.2f} s)")
    async with _connection(args) as conn:
        output: dict[str, Any] = {"format": {"type": "audio/pcm", "rate": 24000}}
        if args.voice:
            output["voice"] = args.voice
        await conn.session.update(
            session={
                "type": "realtime",
                "output_modalities": ["audio"],
                "audio": {
                    "input": {
                        "turn_detection": None,
                        "transcription": {"model": "gpt-4o-mini-transcribe"},
                    },
                    "output": output,
                },
            }
        )
        show_bar = seconds >= PROGRESS_FROM_SECONDS
        sent = 0
        async for chunk in chunked(pcm, chunk_ms=1000):  # one second per append
            await conn.input_audio_buffer.append(chunk)
            sent += len(chunk)
            if show_bar:
                _progress(sys.stderr, sent / 48000, seconds, "sending")
        await conn.input_audio_buffer.commit()
        await conn.response.create()
        reply = bytearray()
        transcript: list[str] = []
        heard: list[str] = []

        def collect(event: ev.ServerEvent) -> bool:
            if isinstance(event, ev.ResponseOutputAudioDelta):
                reply.extend(event.delta)
                if show_bar:
                    sys.stderr.write(f"\rreceiving {len(reply) / 48000:6.1f} s of audio")
                    sys.stderr.flush()
            elif isinstance(event, ev.ResponseOutputAudioTranscriptDelta):
                transcript.append(event.delta)
            elif isinstance(event, ev.ConversationItemInputAudioTranscriptionCompleted):
                heard.append(event.transcript)
            elif isinstance(event, ev.ResponseDone):
                if show_bar:
                    sys.stderr.write("\n")
                status = event.response.status
                if status != "completed":
                    raise CLIError(f"the response ended {status}")
                return True
            return False

        await _until(conn, collect)
    write_wav(args.output, bytes(reply))
    if heard:
        print(f"you said: {heard[0]}")
    print(f"model: {''.join(transcript)}")
    print(f"wrote {len(reply) / 48000:.1f} s of audio to {args.output}")


_COMMANDS: dict[str, Callable[[argparse.Namespace], Awaitable[None]]] = {
    "serve": _serve,
    "demo": _demo,
    "chat": _chat,
    "talk": _talk,
}


def _one_line(exc: BaseException) -> str:
    # An exception group holding one exception is reported as that exception.
    while True:
        inner: object = getattr(exc, "exceptions", None)
        if not isinstance(inner, tuple) or len(inner) != 1:  # pyright: ignore[reportUnknownArgumentType]
            break
        only: object = inner[0]  # pyright: ignore[reportUnknownVariableType]
        if not isinstance(only, BaseException):
            break
        exc = only
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (CLIError, RealtimeError)):
        return text
    return f"{type(exc).__name__}: {text}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    command = _COMMANDS[args.command]
    try:
        anyio.run(functools.partial(command, args), backend=args.backend)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    return 0
