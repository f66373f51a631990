"""The fake-server examples run offline and exit 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_testing_your_app_example(backend: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "testing_your_app.py"), "--backend", backend],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok: ") == 3


def test_official_sdk_example() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "official_sdk_against_fake.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Hello from the fake server!" in result.stdout
    assert "(response completed)" in result.stdout
