"""The ``realtime-anyio`` command: ``serve``, ``demo``, ``chat`` and ``talk``.

``serve`` runs the bundled fake server; ``demo`` plays a scripted voice-agent conversation
against it; ``chat`` and ``talk`` talk to it (default) or to the live API (``--live``, with
``OPENAI_API_KEY`` or the Azure variables from the environment). Errors are printed as one line;
``--debug`` shows the traceback instead.

Ctrl-C is turned into a cancellation of the running command, on both backends: the command
unwinds (connections close, the bundled server stops), one line is printed and the exit status
is 130. A command that has not finished unwinding within :data:`INTERRUPT_GRACE` seconds, or a
second Ctrl-C, ends the process at once with the same status.
"""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
import threading
import wave
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO

import anyio
import anyio.from_thread
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from . import events as ev
from ._connection import RealtimeConnection
from ._errors import RealtimeError
from ._open import open_realtime
from ._version import __version__
from .audio import chunked, read_wav, write_wav
from .testing import FakeRealtimeServer

__all__ = ["main"]

PROG = "realtime-anyio"
DEFAULT_MODEL = "gpt-realtime"
#: Audio longer than this gets a progress bar while it is sent.
PROGRESS_FROM_SECONDS = 5.0
#: Seconds a command gets to unwind after Ctrl-C before the process ends regardless.
INTERRUPT_GRACE = 0.8
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130
#: The key sent to a local server when none is given (the bundled server accepts any key).
LOCAL_KEY = "sk-local"


class CLIError(Exception):
    """A problem to report as one line (bad input, missing key)."""


# -- argument parsing ------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are reported like every other error: one line, then exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is outside 0-65535")
    return port


def _speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1.0 <= speed <= 50.0:
        raise argparse.ArgumentTypeError(f"speed {speed:g} is outside 1-50")
    return speed


def _parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
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

    remote = _Parser(add_help=False)
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
    remote.add_argument(
        "--api-key",
        metavar="KEY",
        help="API key (default: OPENAI_API_KEY; a placeholder for a local server)",
    )

    parser = _Parser(
        prog=PROG,
        description="A structured-concurrency client for the OpenAI Realtime API, and a local "
        "Realtime server for tests and demos.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
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
    serve.add_argument("--port", type=_port, default=0, help="port (default 0: any free port)")
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
    demo.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        help="play the conversation this many times faster than real time (default: 1)",
    )

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
    # --api-key wins; otherwise open_realtime reads OPENAI_API_KEY (or the Azure variables).
    key: str | None = args.api_key or None
    if args.live:
        if not (key or os.environ.get("OPENAI_API_KEY") or os.environ.get("AZURE_OPENAI_ENDPOINT")):
            raise CLIError("--live needs OPENAI_API_KEY (or the Azure OpenAI variables) set")
        async with open_realtime(model=args.model, api_key=key) as conn:
            yield conn
    elif args.url:
        # A server started with 'serve --api-key K' needs K: from --api-key or OPENAI_API_KEY.
        key = key or os.environ.get("OPENAI_API_KEY") or LOCAL_KEY
        async with open_realtime(
            model=args.model, websocket_base_url=args.url, api_key=key
        ) as conn:
            yield conn
    else:
        async with (
            FakeRealtimeServer() as server,
            open_realtime(
                model=args.model, websocket_base_url=server.url, api_key=LOCAL_KEY
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
    server = FakeRealtimeServer(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        pacing=args.pacing,
        # Stopping must not wait on a client that no longer reads: its close gets this long.
        close_timeout=0.25,
    )
    async with AsyncExitStack() as stack:
        try:
            await stack.enter_async_context(server)
        except OSError as exc:
            where = f"{args.host}:{args.port}"
            raise CLIError(f"cannot listen on {where}: {exc.strerror or exc}") from None
        print(server.url, flush=True)
        print(
            f"{PROG}: serving Realtime sessions on {server.url}/realtime and REST on "
            f"{server.http_url}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        await server.serve_forever()


async def _demo(args: argparse.Namespace) -> None:
    from ._demo import run_demo

    if args.out is not None and args.out.exists() and not args.out.is_dir():
        raise CLIError(f"{args.out}: exists and is not a directory")
    await run_demo(out_dir=args.out, emit=lambda line: print(line, flush=True), speed=args.speed)


async def _chat(args: argparse.Namespace) -> None:
    async with _connection(args) as conn:
        session: dict[str, Any] = {"type": "realtime", "output_modalities": ["text"]}
        if args.instructions:
            session["instructions"] = args.instructions
        await conn.session.update(session=session)
        interactive = sys.stdin.isatty()
        if interactive:
            print("Type a message; an empty line or Ctrl-D quits.", file=sys.stderr)
        async with _stdin_lines() as lines:
            await _chat_loop(conn, lines, interactive)


async def _chat_loop(
    conn: RealtimeConnection, lines: MemoryObjectReceiveStream[str], interactive: bool
) -> None:
    while True:
        if interactive:
            print("you> ", end="", file=sys.stderr, flush=True)
        try:
            line = await lines.receive()
        except anyio.EndOfStream:
            return
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


@asynccontextmanager
async def _stdin_lines() -> AsyncGenerator[MemoryObjectReceiveStream[str], None]:
    """Lines typed on stdin, read so that Ctrl-C (a cancellation) can always end the wait.

    A blocking read cannot be cancelled, and a worker thread stuck in one would keep the
    process alive at exit. So a daemon thread reads the file descriptor itself (no lock of
    ``sys.stdin`` is held while it blocks) and hands each line over through a portal; the
    stream ends at end of input.
    """
    send, receive = anyio.create_memory_object_stream[str](1)
    async with anyio.from_thread.BlockingPortal() as portal, receive:
        thread = threading.Thread(
            target=_read_lines,
            args=(sys.stdin.fileno(), sys.stdin.encoding or "utf-8", portal, send),
            name="realtime-anyio-stdin",
            daemon=True,
        )
        thread.start()
        try:
            yield receive
        finally:
            # A line the reader is still handing over is dropped, not waited for.
            await portal.stop(cancel_remaining=True)


def _read_lines(
    fd: int,
    encoding: str,
    portal: anyio.from_thread.BlockingPortal,
    send: MemoryObjectSendStream[str],
) -> None:
    pending = b""
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                if pending:
                    portal.call(send.send, pending.decode(encoding, "replace"))
                portal.call(send.aclose)
                return
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                portal.call(send.send, line.decode(encoding, "replace"))
    except (RuntimeError, anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
        # The portal stopped (the command ended or was interrupted) or stdin went away.
        return


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
    _check_writable(args.output)
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


def _check_writable(path: Path) -> None:
    """Refuse an output path that cannot be written, before anything is sent (or billed)."""
    if path.is_dir():
        raise CLIError(f"{path}: is a directory")
    parent = path.parent
    if not parent.is_dir():
        raise CLIError(f"{path}: no such directory: {parent}")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CLIError(f"{path}: not writable")


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


def _is_interrupt(exc: BaseException) -> bool:
    """A ``KeyboardInterrupt``, a group made only of them (trio may wrap one), or an error
    raised because of one (Python wraps one that lands in a class body's ``__set_name__``)."""
    if isinstance(exc, KeyboardInterrupt) or isinstance(exc.__cause__, KeyboardInterrupt):
        return True
    inner: object = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple) and inner:
        return all(isinstance(e, BaseException) and _is_interrupt(e) for e in inner)  # pyright: ignore[reportUnknownVariableType]
    return False


@dataclass
class _Stop:
    """The signal that stopped the command, if one did, and the exit status it means."""

    #: SIGTERM is how ``serve`` is normally stopped (exit 0); it ends other commands with 143.
    term_status: int = 128 + signal.SIGTERM
    signum: int | None = None
    #: Ends the process if unwinding outlasts the grace period; cancelled once it is done.
    deadline: threading.Timer | None = None
    #: The "interrupted" line goes out once, whichever thread gets there first.
    _said: threading.Lock = field(default_factory=threading.Lock)

    def status(self) -> int:
        return self.term_status if self.signum == signal.SIGTERM else INTERRUPTED

    def say_interrupted(self) -> None:
        if self._said.acquire(blocking=False):
            _interrupted_line()


def _exit_now(status: int) -> NoReturn:
    """End the process without waiting for threads or cleanup (the grace period is over)."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


def _interrupted_line() -> None:
    print(f"{PROG}: interrupted", file=sys.stderr, flush=True)


async def _watch_signals(
    scope: anyio.CancelScope, stop: _Stop, *, task_status: TaskStatus[None]
) -> None:
    """Turn SIGINT/SIGTERM into a cancellation of the command; a second one ends the process."""
    if threading.current_thread() is not threading.main_thread():
        # Signals reach only the main thread (main() run from a worker, as some tests do).
        task_status.started()
        return
    try:
        receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
    except NotImplementedError:  # pragma: no cover - Windows: Ctrl-C raises KeyboardInterrupt
        task_status.started()
        return
    with receiver as signals:
        task_status.started()
        async for signum in signals:
            if stop.signum is not None:
                if signum == signal.SIGINT:
                    stop.say_interrupted()
                _exit_now(stop.status())
            stop.signum = signum
            scope.cancel()
            # Unwinding is bounded: closing a connection waits on a peer at most briefly,
            # but a user pressing Ctrl-C should not wait on it at all.
            stop.deadline = threading.Timer(INTERRUPT_GRACE, _on_grace_expired, args=(stop,))
            stop.deadline.daemon = True
            stop.deadline.start()


def _on_grace_expired(stop: _Stop) -> None:
    if stop.signum == signal.SIGINT:
        stop.say_interrupted()
    _exit_now(stop.status())


async def _run(
    command: Callable[[argparse.Namespace], Awaitable[None]], args: argparse.Namespace, stop: _Stop
) -> None:
    async with anyio.create_task_group() as tg:
        with anyio.CancelScope() as scope:
            await tg.start(_watch_signals, scope, stop)
            await command(args)
        tg.cancel_scope.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    try:
        return _main(argv)
    except BaseException as exc:
        # Ctrl-C before the event loop started or after it ended.
        if not _is_interrupt(exc):
            raise
        _interrupted_line()
        return INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    command = _COMMANDS[args.command]
    stop = _Stop(term_status=0) if args.command == "serve" else _Stop()
    try:
        try:
            anyio.run(functools.partial(_run, command, args, stop), backend=args.backend)
        finally:
            if stop.deadline is not None:
                stop.deadline.cancel()
    except BaseException as exc:
        if stop.signum is not None or _is_interrupt(exc):
            # Whatever the unwinding raised, the user asked to stop: say so once.
            if stop.signum != signal.SIGTERM:
                stop.say_interrupted()
            return stop.status()
        if not isinstance(exc, Exception):
            raise
        if args.debug:
            raise
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    if stop.signum is not None:
        if stop.signum == signal.SIGINT:
            stop.say_interrupted()
        return stop.status()
    return 0
