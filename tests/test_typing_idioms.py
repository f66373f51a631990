"""Pyright (strict) narrows received events the ways the docs promise.

Runs pyright on ``tests/typing/idioms.py`` and compares what it reveals with the
``# revealed:`` comment of each line; any error in that file fails the test too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IDIOMS = ROOT / "tests" / "typing" / "idioms.py"
_EXPECT = re.compile(r"#\s*revealed:\s*(.+?)\s*$")
_REVEALED = re.compile(r'^Type of ".*" is "(.*)"$', re.DOTALL)


def test_idioms_type_check_strictly_and_narrow_as_documented() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", str(IDIOMS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(result.stdout)
    diagnostics = report["generalDiagnostics"]
    errors = [d for d in diagnostics if d["severity"] != "information"]
    assert errors == []
    revealed: dict[int, str] = {}
    for d in diagnostics:
        match = _REVEALED.match(d["message"])
        if match is not None:
            revealed[d["range"]["start"]["line"] + 1] = match.group(1)
    expected: dict[int, str] = {}
    for number, line in enumerate(IDIOMS.read_text(encoding="utf-8").splitlines(), start=1):
        match = _EXPECT.search(line)
        if match is not None and "reveal_type(" in line:
            expected[number] = match.group(1)
    assert len(expected) >= 20
    assert revealed == expected
