"""The public facade: what ``realtime_anyio`` exports, and that importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import realtime_anyio
import realtime_anyio.audio
import realtime_anyio.events


def test_all_matches_the_public_names() -> None:
    public = {n for n in vars(realtime_anyio) if n.isidentifier() and not n.startswith("_")}
    modules = {"events", "testing", "transport", "rest", "webhooks", "cli", "annotations"}
    modules |= {"conversation", "tools", "audio", "resilience"}
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


def test_audio_all_matches_its_public_names() -> None:
    audio = realtime_anyio.audio
    public = {n for n in vars(audio) if n.isidentifier() and not n.startswith("_")}
    assert set(audio.__all__) == public - {"annotations"}
    for name in audio.__all__:
        assert getattr(audio, name) is not None


def test_the_testing_kit_reexports_the_audio_helpers() -> None:
    import realtime_anyio.testing as testing

    for name in ("SAMPLE_RATE", "read_wav", "silence", "speech", "tone", "write_wav"):
        assert getattr(testing, name) is getattr(realtime_anyio.audio, name)


def test_importing_audio_needs_no_optional_dependency() -> None:
    code = (
        "import sys, realtime_anyio.audio;"
        "print(sorted({'numpy', 'soxr', 'sounddevice'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
