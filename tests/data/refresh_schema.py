"""Regenerate ``realtime-ga-events.schema.json``: the part of the GA protocol the drift tests read.

The drift tests (``tests/test_events_drift.py``) compare the event Structs with the protocol's
OpenAPI description. That description lives outside this repository
(``../shared/protocol/realtime-ga.openapi.yaml``), so the schemas they need are vendored here:
``RealtimeServerEvent``, ``RealtimeClientEvent`` and every schema reachable from them through
``$ref``, as sorted JSON. Run it after the description changes::

    python tests/data/refresh_schema.py            # rewrite the vendored file
    python tests/data/refresh_schema.py --check    # exit 1 if it is out of date (CI runs this)
    python tests/data/refresh_schema.py --source path/to/realtime-ga.openapi.yaml

It needs PyYAML (in the dev group).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[2] / "shared" / "protocol" / "realtime-ga.openapi.yaml"
TARGET = HERE / "realtime-ga-events.schema.json"
ROOTS = ("RealtimeServerEvent", "RealtimeClientEvent")


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"].rsplit("/", 1)[-1]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def subset(spec_text: str) -> dict[str, Any]:
    """The vendored document: its provenance and the reachable schemas."""
    import yaml

    schemas: dict[str, Any] = yaml.safe_load(spec_text)["components"]["schemas"]
    keep: set[str] = set()
    pending: list[str] = list(ROOTS)
    while pending:
        name = pending.pop()
        if name not in keep:
            keep.add(name)
            pending.extend(_refs(schemas[name]))
    return {
        "source": "shared/protocol/realtime-ga.openapi.yaml",
        "source_sha256": hashlib.sha256(spec_text.encode()).hexdigest(),
        "generated_by": "tests/data/refresh_schema.py",
        "schemas": {name: schemas[name] for name in sorted(keep)},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when stale")
    args = parser.parse_args()
    if not args.source.exists():
        print(f"refresh_schema: no protocol description at {args.source}", file=sys.stderr)
        return 2
    text = render(subset(args.source.read_text(encoding="utf-8")))
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"refresh_schema: {TARGET.name} is out of date; run {__file__}", file=sys.stderr)
            return 1
        print(f"refresh_schema: {TARGET.name} is up to date")
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"refresh_schema: wrote {TARGET} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
