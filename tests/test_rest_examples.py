"""The REST examples run end to end against the bundled server, on both backends."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import anyio
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_sip_agent_demo(capsys: pytest.CaptureFixture[str]) -> None:
    with anyio.fail_after(30):
        await load("sip_agent").demo()
    out = capsys.readouterr().out
    assert "tool get_opening_hours" in out
    assert "tool end_call" in out
    assert "demo done" in out
    assert "rejected blocked caller" in out


async def test_client_secret_example(capsys: pytest.CaptureFixture[str]) -> None:
    with anyio.fail_after(30):
        await load("client_secret").main()
    out = capsys.readouterr().out
    assert "client secret ek_" in out
    assert "WebRTC call rtc_" in out
    assert "assistant: Welcome to Café Anyio!" in out
