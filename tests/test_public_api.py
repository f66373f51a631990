"""The public facade: what ``realtime_anyio`` exports, and that importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import realtime_anyio
import realtime_anyio.events


def test_all_matches_the_public_names() -> None:
    public = {n for n in vars(realtime_anyio) if n.isidentifier() and not n.startswith("_")}
    modules = {"events", "testing", "transport", "rest", "webhooks", "cli", "annotations"}
    modules |= {"conversation", "tools"}
    assert set(realtime_anyio.__all__) == public - modules
    for name in realtime_anyio.__all__:
        assert getattr(realtime_anyio, name) is not None


def test_every_error_derives_from_realtime_error() -> None:
    for name in realtime_anyio.__all__:
        obj = getattr(realtime_anyio, name)
        if isinstance(obj, type) and issubclass(obj, BaseException):
            assert issubclass(obj, realtime_anyio.RealtimeError), name


def test_events_exports_resolve() -> None:
    for name in realtime_anyio.events.__all__:
        assert hasattr(realtime_anyio.events, name), name


def test_importing_the_package_does_not_import_trio_or_asyncio_backends() -> None:
    code = "import sys, realtime_anyio, realtime_anyio.events;print('trio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
