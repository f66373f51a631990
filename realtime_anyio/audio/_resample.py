"""Sample-rate conversion of PCM16 mono: a stateful streaming resampler and ``resample``.

Two engines behind one interface. ``"python"`` is dependency-free: a polyphase windowed-sinc
(Kaiser) filter whose stopband starts at the lower rate's Nyquist frequency, so nothing above it
folds back (about -90 dB). ``"soxr"`` uses the ``soxr`` package (the ``realtime-anyio[audio]``
extra) at its HQ setting, many times faster. Both are exact streaming resamplers: feeding a
signal chunk by chunk gives the same samples as feeding it whole, so chunk borders never click.
Each holds back a little input (the filter's look-ahead), reported by :attr:`Resampler.pending_ms`.
"""

from __future__ import annotations

import importlib
import math
from array import array
from functools import cache
from math import gcd
from operator import mul
from typing import Any, Literal

from ._formats import pcm16_samples, samples_to_pcm16

__all__ = ["Resampler", "resample", "soxr_available"]

Engine = Literal["auto", "python", "soxr"]

#: Zero crossings of the sinc on each side, in samples of the lower rate.
_ZERO_CROSSINGS = 32
#: Stopband attenuation the Kaiser window is designed for, in dB.
_ATTENUATION = 90.0


def _soxr() -> Any:
    try:
        return importlib.import_module("soxr")
    except ImportError:
        return None


def soxr_available() -> bool:
    """Whether the ``soxr`` engine can be used (``pip install 'realtime-anyio[audio]'``)."""
    return _soxr() is not None


def _bessel_i0(x: float) -> float:
    total = term = 1.0
    k = 1
    while term > 1e-12 * total:
        term *= (x / (2 * k)) ** 2
        total += term
        k += 1
    return total


@cache
def _design(up: int, down: int) -> tuple[int, tuple[tuple[float, ...], ...]]:
    """The polyphase filter for ``up``/``down``: (half width J, one coefficient row per phase).

    Output ``n`` sits at ``n * down`` on the virtual grid where input ``k`` sits at ``k * up``;
    with ``base, phase = divmod(n * down, up)`` it is the dot product of inputs
    ``base - J .. base + J`` with row ``phase``.
    """
    stride = max(up, down)
    half = _ZERO_CROSSINGS * stride
    transition = (_ATTENUATION - 7.95) / (14.36 * 2 * half)
    cutoff = 0.5 / stride - transition / 2
    beta = 0.1102 * (_ATTENUATION - 8.7)
    norm = _bessel_i0(beta)

    def tap(t: int) -> float:
        if abs(t) > half:
            return 0.0
        x = 2 * cutoff * t
        sinc = 1.0 if t == 0 else math.sin(math.pi * x) / (math.pi * x)
        window = _bessel_i0(beta * math.sqrt(1.0 - (t / half) ** 2)) / norm
        return 2 * cutoff * sinc * window * up

    reach = half // up + 1
    rows: list[tuple[float, ...]] = []
    for phase in range(up):
        # Inputs base - reach .. base + reach in ascending order: input base - j is weighted by
        # the tap at phase + j * up.
        rows.append(tuple(tap(phase + j * up) for j in range(reach, -reach - 1, -1)))
    return reach, tuple(rows)


class _PythonEngine:
    __slots__ = ("_buffer", "_down", "_next", "_offset", "_reach", "_rows", "_up", "fed", "made")

    def __init__(self, up: int, down: int) -> None:
        self._up = up
        self._down = down
        self._reach, self._rows = _design(up, down)
        # Silence before the first sample, so the first outputs have their history.
        self._buffer = array("h", bytes(2 * self._reach))
        self._offset = -self._reach  # absolute index of _buffer[0]
        self._next = 0  # absolute index of the next output sample
        self.fed = 0
        self.made = 0

    def _run(self, available: int, limit: int | None) -> bytes:
        up, down, reach, rows = self._up, self._down, self._reach, self._rows
        buffer, offset = self._buffer, self._offset
        width = 2 * reach + 1
        out: list[float] = []
        n = self._next
        while limit is None or n < limit:
            base, phase = divmod(n * down, up)
            if base + reach >= available:
                break
            start = base - reach - offset
            out.append(sum(map(mul, buffer[start : start + width], rows[phase])))
            n += 1
        self._next = n
        self.made += len(out)
        keep_from = (n * down) // up - reach - offset
        if keep_from > 0:
            del buffer[:keep_from]
            self._offset += keep_from
        samples = array("h", [min(32767, max(-32768, round(v))) for v in out])
        return samples_to_pcm16(samples)

    def process(self, samples: array[int]) -> bytes:
        self._buffer.extend(samples)
        self.fed += len(samples)
        return self._run(self.fed, None)

    def flush(self) -> bytes:
        self._buffer.extend(bytes(2 * self._reach))
        total = -(-self.fed * self._up // self._down)
        return self._run(self.fed + self._reach, total)


class _SoxrEngine:
    # float32 in and out: soxr's int16 mode dithers, so its output would depend on chunking.
    __slots__ = ("_numpy", "_stream", "fed", "made")

    def __init__(self, soxr: Any, from_rate: int, to_rate: int) -> None:
        self._numpy: Any = importlib.import_module("numpy")
        self._stream: Any = soxr.ResampleStream(
            from_rate, to_rate, 1, dtype="float32", quality="HQ"
        )
        self.fed = 0
        self.made = 0

    def _chunk(self, samples: Any, last: bool) -> bytes:
        np = self._numpy
        out: Any = self._stream.resample_chunk(samples, last=last)
        self.made += len(out)
        data: bytes = np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()
        return data

    def process(self, samples: array[int]) -> bytes:
        self.fed += len(samples)
        np = self._numpy
        floats: Any = np.frombuffer(samples_to_pcm16(samples), dtype="<i2").astype("float32")
        return self._chunk(floats, False)

    def flush(self) -> bytes:
        return self._chunk(self._numpy.zeros(0, dtype="float32"), True)


class Resampler:
    """A streaming PCM16 mono sample-rate converter: ``process`` chunks, then ``flush`` once.

    ``engine="auto"`` uses ``soxr`` when it is installed and the pure-Python filter otherwise;
    name one to pin it. Not thread-safe; one instance per stream.
    """

    def __init__(self, from_rate: int, to_rate: int, *, engine: Engine = "auto") -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError("sample rates must be positive")
        self.from_rate = from_rate
        self.to_rate = to_rate
        soxr = _soxr() if engine in ("auto", "soxr") else None
        if engine == "soxr" and soxr is None:
            raise RuntimeError("the soxr engine needs: pip install 'realtime-anyio[audio]'")
        self._passthrough = from_rate == to_rate
        self.engine: str = "none" if self._passthrough else ("soxr" if soxr else "python")
        self._fed = 0
        self._made = 0
        self._odd = b""
        self._impl: _PythonEngine | _SoxrEngine | None = None
        if not self._passthrough:
            if soxr is not None:
                self._impl = _SoxrEngine(soxr, from_rate, to_rate)
            else:
                divisor = gcd(from_rate, to_rate)
                self._impl = _PythonEngine(to_rate // divisor, from_rate // divisor)

    @property
    def pending_ms(self) -> float:
        """Input audio fed but not yet come out, in milliseconds (the engine's look-ahead)."""
        if self._impl is None:
            return 0.0
        return max(0.0, self._impl.fed / self.from_rate - self._impl.made / self.to_rate) * 1000

    def process(self, pcm: bytes | bytearray | memoryview) -> bytes:
        """Feed PCM16 at ``from_rate``; returns what is ready at ``to_rate`` (maybe empty)."""
        data = self._odd + bytes(pcm)
        self._odd = data[len(data) - len(data) % 2 :]
        samples = pcm16_samples(data)
        if self._impl is None:
            return samples_to_pcm16(samples)
        return self._impl.process(samples) if samples else b""

    def flush(self) -> bytes:
        """End of the stream: the audio still held back. Use a new instance afterwards."""
        self._odd = b""
        return b"" if self._impl is None else self._impl.flush()


def resample(
    pcm: bytes | bytearray | memoryview, from_rate: int, to_rate: int, *, engine: Engine = "auto"
) -> bytes:
    """PCM16 mono at ``from_rate`` converted to ``to_rate``, anti-aliased (a whole buffer)."""
    resampler = Resampler(from_rate, to_rate, engine=engine)
    return resampler.process(pcm) + resampler.flush()
