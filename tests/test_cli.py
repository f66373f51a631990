"""The ``realtime-anyio`` command, run as a real subprocess (``python -m realtime_anyio``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from test_server_helpers import user_text

from realtime_anyio.testing import FakeRealtimeServer, read_wav, silence, speech, write_wav
from realtime_anyio.transport import ConnectRequest, connect_websocket

PYTHON = [sys.executable, "-m", "realtime_anyio"]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OPENAI_API_KEY": ""}


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


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = run("demo", "--out", str(tmp_path))
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


def test_demo_on_asyncio(tmp_path: Path) -> None:
    result = run("demo", "--backend", "asyncio", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Sure, I'll stop there." in result.stdout


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("talk", "--in", "/nonexistent.wav", "--out", "/tmp/x.wav"), "no such file"),
        (("chat", "--live"), "--live needs OPENAI_API_KEY"),
        (("chat", "--url", "ws://127.0.0.1:9/v1"), "cannot connect"),
    ],
)
def test_errors_are_one_line(args: tuple[str, ...], message: str) -> None:
    result = run(*args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("realtime-anyio: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback() -> None:
    result = run("--help")
    assert result.returncode == 0 and "serve" in result.stdout
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
