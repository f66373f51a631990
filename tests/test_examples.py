"""Every connection example runs to completion against the bundled server, on both backends.

(The fake-server, REST and events examples have their own tests beside their modules.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
@pytest.mark.parametrize("name", ["text_turn.py", "correlation.py", "tool_agent.py"])
def test_example_runs(name: str, backend: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--backend", backend],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
