"""The ``realtime-anyio`` command, run as a real subprocess (``python -m realtime_anyio``, and
the installed console script where Ctrl-C is concerned)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.from_thread
import pytest
from test_server_helpers import user_text

from realtime_anyio.testing import (
    FakeRealtimeServer,
    StallAfter,
    read_wav,
    silence,
    speech,
    write_wav,
)
from realtime_anyio.transport import ConnectRequest, connect_websocket

PYTHON = [sys.executable, "-m", "realtime_anyio"]
#: The console script installed next to this interpreter: what a user runs and presses Ctrl-C in.
SCRIPT = [str(Path(sys.executable).with_name("realtime-anyio"))]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENAI_API_KEY": ""}
#: The demo runs this many times faster than real time in the tests.
DEMO_SPEED = "6"


def run(*args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PYTHON, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        check=False,
    )


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_demo_runs_end_to_end(tmp_path: Path, backend: str) -> None:
    result = run("demo", "--backend", backend, "--speed", DEMO_SPEED, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "you (text): Hi! Who are you?",
        "model (text): Hi! I'm the bundled fake model",
        "server VAD: speech started at",
        'transcript: "What\'s the weather in Paris?"',
        'model calls get_weather({"city": "Paris"})',
        "-> reply.wav",
        "response cancelled by the server (turn_detected)",
        "truncated the story at",
        "server confirmed the truncation",
        "Sure, I'll stop there.",
        "WAV files:",
    ):
        assert expected in out, f"{expected!r} missing from:\n{out}"
    seconds = float(out.split("done in ")[1].split(" s")[0])
    assert seconds < 20
    reply = read_wav(tmp_path / "reply.wav")
    assert len(reply) / 48000 > 1.0
    assert (tmp_path / "question.wav").stat().st_size > 48000


def test_serve_prints_the_url_first_and_serves() -> None:
    process = subprocess.Popen(
        [*PYTHON, "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("ws://127.0.0.1:") and url.endswith("/v1")

        async def talk_to_it() -> str:
            transport = await connect_websocket(
                ConnectRequest(
                    url=f"{url}/realtime?model=gpt-realtime",
                    headers={"Authorization": "Bearer sk-x"},
                )
            )
            try:
                import json

                first = json.loads(bytes((await transport.receive()).data))
                await transport.send_text(
                    json.dumps({"type": "conversation.item.create", "item": user_text("hi")})
                )
                second = json.loads(bytes((await transport.receive()).data))
                return f"{first['type']} {second['type']}"
            finally:
                await transport.aclose()

        assert anyio.run(talk_to_it) == "session.created conversation.item.added"
        chat = run("chat", "--url", url, stdin="Hello there\n")
        assert chat.returncode == 0, chat.stderr
        assert "You said: Hello there" in chat.stdout
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            assert process.stdout is not None and process.stderr is not None
            process.stdout.close()
            process.stderr.close()
    assert process.returncode == 0


def test_chat_against_the_bundled_server() -> None:
    result = run("chat", "--backend", "asyncio", stdin="first\nsecond\n\nignored\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("You said:") == 2
    assert "ignored" not in result.stdout


def test_talk_writes_the_answer(tmp_path: Path) -> None:
    question = tmp_path / "q.wav"
    write_wav(question, silence(0.2) + speech("Is this thing on?") + silence(0.3))
    answer = tmp_path / "a.wav"
    result = run("talk", "--in", str(question), "--out", str(answer))
    assert result.returncode == 0, result.stderr
    assert "model: You said:" in result.stdout
    assert len(read_wav(answer)) > 48000 // 2


def test_talk_shows_progress_for_long_audio(tmp_path: Path) -> None:
    question = tmp_path / "long.wav"
    write_wav(question, silence(6.0), rate=16000)
    result = run("talk", "--in", str(question), "--out", str(tmp_path / "a.wav"))
    assert result.returncode == 0, result.stderr
    assert "sending [" in result.stderr and "100%" in result.stderr


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "q.wav"
    write_wav(path, speech("Hello") + silence(0.2))
    return path


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (("talk", "--in", "/nonexistent.wav", "--out", "/tmp/x.wav"), 1, "no such file"),
        (("talk", "--in", "/etc/hostname", "--out", "/tmp/x.wav"), 1, "not a readable PCM WAV"),
        (("talk", "--in", "{q}", "--out", "/nonexistent/a.wav"), 1, "no such directory"),
        (("talk", "--in", "{q}", "--out", "/tmp"), 1, "is a directory"),
        (("talk", "--in", "{q}"), 2, "the following arguments are required: --out"),
        (("chat", "--live"), 1, "--live needs OPENAI_API_KEY"),
        (("chat", "--url", "ws://127.0.0.1:9/v1"), 1, "cannot connect"),
        (("chat", "--backend", "curio"), 2, "invalid choice: 'curio'"),
        (("serve", "--port", "99999"), 2, "port 99999 is outside 0-65535"),
        (("serve", "--port", "http"), 2, "not a port number"),
        (("serve", "--host", "192.0.2.1"), 1, "cannot listen on 192.0.2.1:0"),
        (("demo", "--out", "/etc/hostname"), 1, "exists and is not a directory"),
        (("demo", "--speed", "0"), 2, "speed 0 is outside"),
        (("bake",), 2, "invalid choice: 'bake'"),
        ((), 2, "the following arguments are required: COMMAND"),
    ],
)
def test_bad_input_is_one_line(
    args: tuple[str, ...],
    status: int,
    message: str,
    question_wav: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # In-process: the same code path as the command, without paying an interpreter start
    # per case (the subprocess tests below cover the process itself).
    from realtime_anyio.cli import main

    try:
        returned = main([a.replace("{q}", str(question_wav)) for a in args])
    except SystemExit as exit:
        returned = exit.code
    captured = capsys.readouterr()
    assert returned == status
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("realtime-anyio: error: "), captured.err
    assert message in lines[0]
    assert "Traceback" not in captured.err
    if "/nonexistent/a.wav" in args:
        assert captured.out == ""  # refused before connecting


def test_a_bad_argument_in_a_real_process_is_one_line() -> None:
    result = run("talk", "--in", "/nonexistent.wav", "--out", "/nonexistent/a.wav")
    assert result.returncode == 1
    assert result.stderr == "realtime-anyio: error: /nonexistent.wav: no such file\n"


def test_version() -> None:
    import realtime_anyio

    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"realtime-anyio {realtime_anyio.__version__}"
    from importlib.metadata import version

    assert realtime_anyio.__version__ == version("realtime-anyio")


async def test_chat_and_talk_use_the_key_a_server_requires(
    tmp_path: Path,
    question_wav: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from realtime_anyio.cli import main

    async def run_main(*args: str) -> int:
        return await anyio.to_thread.run_sync(main, [*args, "--backend", "asyncio"])

    answer = tmp_path / "a.wav"
    with anyio.fail_after(30):
        async with FakeRealtimeServer(api_key="sk-required") as server:
            monkeypatch.delenv("OPENAI_API_KEY", raising=False)
            talk = ("talk", "--url", server.url, "--in", str(question_wav), "--out", str(answer))
            assert await run_main(*talk) == 1
            denied = capsys.readouterr().err
            assert denied.startswith("realtime-anyio: error: ") and "sk-required" not in denied
            assert await run_main(*talk, "--api-key", "sk-required") == 0
            monkeypatch.setenv("OPENAI_API_KEY", "sk-required")
            assert await run_main(*talk) == 0
    assert answer.stat().st_size > 44


# -- Ctrl-C ------------------------------------------------------------------------------------


@dataclass
class Interrupted:
    args: tuple[str, ...]
    delay: float
    returncode: int
    seconds_to_exit: float
    stdout: str
    stderr: str


#: The console script's launcher, run so that it says when the interpreter has started: the
#: Ctrl-C moments count from there (the interpreter's own start-up is not the command's).
LAUNCH = [
    sys.executable,
    "-c",
    "import sys, _realtime_anyio_cli as cli; print('started', flush=True); sys.exit(cli.main())",
]


def interrupt_one(args: tuple[str, ...], delay: float) -> Interrupted:
    """Start the command, press Ctrl-C ``delay`` s after it started, wait for it to end.

    stdin stays open and silent, like a terminal where nobody types.
    """
    process = subprocess.Popen(
        [*LAUNCH, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"started\n"
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        signalled = time.monotonic()
        while process.poll() is None and time.monotonic() - signalled < 10:
            time.sleep(0.005)
        exited = time.monotonic()
    finally:
        if process.poll() is None:
            process.kill()
        out, err = process.communicate()
    return Interrupted(
        args, delay, process.returncode, exited - signalled, out.decode(), err.decode()
    )


def interrupt(scenarios: list[tuple[tuple[str, ...], float]]) -> list[Interrupted]:
    """:func:`interrupt_one` for every scenario, all at once.

    Four interpreters starting together on a busy machine can starve one of CPU for a moment;
    a scenario that took longer than :data:`EXIT_WITHIN` is run once more on its own, and that
    run counts (a command that really hangs is slow both times).
    """
    with ThreadPoolExecutor(len(scenarios)) as pool:
        results = list(pool.map(lambda scenario: interrupt_one(*scenario), scenarios))
    return [
        interrupt_one(r.args, r.delay) if r.seconds_to_exit >= EXIT_WITHIN else r for r in results
    ]


#: The promise: Ctrl-C ends every command within this many seconds.
EXIT_WITHIN = 1.0


def assert_interrupted(result: Interrupted) -> None:
    where = f"{' '.join(result.args)} at {result.delay} s:\n{result.stderr}"
    assert result.returncode == 130, where
    assert result.stderr.splitlines()[-1:] == ["realtime-anyio: interrupted"], where
    assert result.stderr.count("realtime-anyio: interrupted") == 1, where
    for noise in ("Traceback", "Exception ignored", "KeyboardInterrupt", "Error"):
        assert noise not in result.stderr, where
    assert result.seconds_to_exit < EXIT_WITHIN, f"took {result.seconds_to_exit:.2f} s: {where}"


#: Moments to press Ctrl-C, in seconds after the interpreter started: while the package is
#: imported, while the event loop starts and connects, and in the middle of the work. The first
#: is 50 ms, not 0: at 0 the signal can land between the launcher's "started" line and its call
#: of main(), a window of a few bytecodes that belongs to the test harness (the console script
#: calls main() at once, and no person presses Ctrl-C within microseconds of a start).
MOMENTS = (0.05, 0.2, 0.6, 1.2)


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
@pytest.mark.parametrize(
    "command",
    [
        ("demo", "--speed", "2"),
        ("serve",),
        ("chat",),
        ("talk", "--url", "{url}", "--in", "{long}", "--out", "{out}"),
    ],
    ids=["demo", "serve", "chat", "talk"],
)
def test_ctrl_c_exits_130_with_one_line(
    command: tuple[str, ...], backend: str, tmp_path: Path
) -> None:
    long_question = tmp_path / "long.wav"
    write_wav(long_question, speech("Tell me everything.") + silence(2.0))
    # talk gets a server that answers at playback speed, so that it is still busy at every
    # moment (the bundled one answers at once).
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(FakeRealtimeServer(pacing="realtime")) as server,
    ):
        for _ in MOMENTS:
            server.script.reply_audio("A long answer.", audio=silence(10.0))
        args = tuple(
            a.replace("{long}", str(long_question))
            .replace("{out}", str(tmp_path / "a.wav"))
            .replace("{url}", server.url)
            for a in command
        )
        results = interrupt([((*args, "--backend", backend), moment) for moment in MOMENTS])
    for result in results:
        assert_interrupted(result)


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_serve_stops_promptly_with_a_client_that_does_not_read(backend: str) -> None:
    process = subprocess.Popen(
        [*SCRIPT, "serve", "--backend", backend, "--pacing", "fast"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    assert process.stdout is not None
    url = process.stdout.readline().decode().strip()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(
            b"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Authorization: Bearer sk-x\r\n\r\n"
        )
        time.sleep(0.3)  # the handshake and session.created are sent; the client never reads
        sent = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
        took = time.monotonic() - sent
    result = Interrupted(("serve",), 0.3, process.returncode, took, out.decode(), err.decode())
    assert_interrupted(result)


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from realtime_anyio.cli import main

    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0 and "serve" in capsys.readouterr().out
    debug = run("talk", "--debug", "--in", "/nonexistent.wav", "--out", "/tmp/x.wav")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


async def test_main_in_process_against_a_server(tmp_path: Path) -> None:
    from realtime_anyio.cli import main

    with anyio.fail_after(20):
        async with FakeRealtimeServer() as server:
            question = tmp_path / "q.wav"
            write_wav(question, speech("Hello") + silence(0.2))
            status = await anyio.to_thread.run_sync(
                main,
                [
                    "talk",
                    "--url",
                    server.url,
                    "--backend",
                    "asyncio",
                    "--in",
                    str(question),
                    "--out",
                    str(tmp_path / "a.wav"),
                ],
            )
    assert status == 0
    assert len(server.sessions) == 1


def test_ctrl_c_does_not_wait_on_a_server_that_stopped_answering() -> None:
    # The server stops reading and writing after session.created: closing cannot complete a
    # handshake with it, and Ctrl-C must still end the command within the second.
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(FakeRealtimeServer(faults=[StallAfter(1)])) as server,
    ):
        result = interrupt_one(("chat", "--url", server.url), 1.2)
    assert_interrupted(result)
