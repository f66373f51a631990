"""The audio examples run offline against the bundled server (subprocesses, real time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=90, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_voice_agent(backend: str) -> None:
    path = EXAMPLES / "voice_agent.py"
    assert len(path.read_text().splitlines()) <= 40
    lines = run(str(path), "--backend", backend).splitlines()
    # The story was cut where the user spoke; the answer to "Stop!" came whole.
    assert lines[0].startswith("model: 'Once upon a time") and "waves" not in lines[0]
    assert lines[1] == 'model: "Okay, I\'ll stop."'


@pytest.mark.parametrize(
    ("args", "backend"), [((), "trio"), (("--resample",), "asyncio")], ids=["pcmu", "resample"]
)
def test_phone_bridge(args: tuple[str, ...], backend: str) -> None:
    out = run(str(EXAMPLES / "phone_bridge.py"), *args, "--backend", backend)
    assert "phone: playback cleared after" in out
    assert "bridge: truncated at" in out
    assert "model: response completed" in out
