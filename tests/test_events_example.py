"""The offline decoding example runs and prints the recorded turn."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "decode_events.py"


def test_decode_events_example(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "argv", [EXAMPLE.name, "--backend", "asyncio"])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "session created, model gpt-realtime" in out
    assert "response completed, 42 tokens" in out
    assert "(an event this version does not know: some.future_event)" in out
    assert "bad frame (malformed 'response.output_audio.delta' event" in out
    assert "received 1920 bytes of audio (40 ms)" in out
    assert '{"type":"input_audio_buffer.append","audio":"AAAAAA=="}' in out
    assert "phase final_answer, unknown members {'x_new_member': {'a': 1}}" in out
    assert '"phase":"final_answer","x_new_member":{"a":1}}}' in out
