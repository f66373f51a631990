"""Every connection example runs to completion against the bundled server, on both backends.

(The fake-server, REST and events examples have their own tests beside their modules.) Every
example takes ``--backend trio|asyncio``; the two that need the ``examples`` extra say so in one
line when it is missing.
"""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
@pytest.mark.parametrize(
    "name",
    [
        "text_turn.py",
        "correlation.py",
        "tool_agent.py",
        "restore_conversation.py",
        "resilient_session.py",
        "faults.py",
    ],
)
def test_example_runs(name: str, backend: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--backend", backend],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def run_example(
    name: str, *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int | str | None, str, str]:
    """Run an example's ``__main__`` in this process (fast: the imports are already loaded)."""
    saved = sys.argv
    sys.argv = [name, *args]
    try:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
        code: int | str | None = 0
    except SystemExit as exit:
        code = exit.code
    finally:
        sys.argv = saved
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_every_example_takes_a_backend(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_example(name, "--help", capsys=capsys)
    assert code == 0
    assert "--backend {trio,asyncio}" in out


@pytest.mark.parametrize(
    ("name", "module", "package"),
    [
        ("official_sdk_against_fake.py", "openai", "the openai package"),
        ("sip_agent.py", "hypercorn.config", "starlette and hypercorn"),
        ("sip_agent.py", "starlette.applications", "starlette and hypercorn"),
    ],
)
def test_a_missing_extra_is_one_line(
    name: str, module: str, package: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what an uninstalled package looks like
    monkeypatch.setattr(sys, "argv", [name])
    with pytest.raises(SystemExit) as exit:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    message = str(exit.value.code)
    assert message == f"this example needs {package}: pip install 'realtime-anyio[examples]'"


def test_sip_agent_serve_without_its_variables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    code, _, err = run_example("sip_agent.py", "--serve", capsys=capsys)
    assert code == 2
    assert err == "--serve needs OPENAI_WEBHOOK_SECRET set (see the top of this file)\n"


def test_official_sdk_example_refuses_trio(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_example("official_sdk_against_fake.py", "--backend", "trio", capsys=capsys)
    assert code == 2
    assert err == "the official openai SDK runs on asyncio only: use --backend asyncio\n"


def test_the_examples_extra_names_what_they_import() -> None:
    import re

    # tomllib is 3.11+; the one line is easy to read without it.
    pyproject = (EXAMPLES.parent / "pyproject.toml").read_text()
    line = re.search(r"^examples = \[(.*)\]$", pyproject, re.MULTILINE)
    assert line is not None
    names = {re.split(r"[<>=\[]", r.strip().strip('"'))[0] for r in line[1].split(",")}
    assert names == {"openai", "starlette", "hypercorn"}
