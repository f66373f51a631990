"""The ``realtime-anyio`` console script: Ctrl-C is handled before the package is imported.

Importing :mod:`realtime_anyio` takes a noticeable fraction of a second; a Ctrl-C in that
window would otherwise end in a ``KeyboardInterrupt`` traceback. This module imports nothing
heavy itself, so the command answers Ctrl-C the same way at every moment: one line, status 130.
"""

from __future__ import annotations

import sys


def main() -> int:
    """Import the command line and run it; returns the exit status."""
    try:
        from realtime_anyio.cli import main as run

        return run()
    except BaseException as exc:
        if not _interrupted(exc):
            raise
        print("realtime-anyio: interrupted", file=sys.stderr, flush=True)
        return 130


def _interrupted(exc: BaseException | None) -> bool:
    # A Ctrl-C can surface wrapped: Python reports one that lands in a class body's
    # __set_name__ as a RuntimeError caused by the KeyboardInterrupt.
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


if __name__ == "__main__":
    sys.exit(main())
