"""Print a pip constraints file pinning every direct runtime dependency to its declared floor.

``.ci/run`` installs the package with these constraints in a second venv and runs the test
suite there, so that the lowest versions pyproject.toml admits are tested as well as the newest.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

project = tomllib.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml").read_text())
for requirement in project["project"]["dependencies"]:
    name, _, marker = requirement.partition(";")
    if marker.strip():
        continue  # backports for old Pythons: not a floor of ours
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([0-9][^,\s]*)\s*", name)
    if match is None:
        sys.exit(f"no '>=' floor to pin in {requirement!r}")
    package = re.sub(r"\[.*\]", "", match.group(1))
    print(f"{package}=={match.group(2)}")
