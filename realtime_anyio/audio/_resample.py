"""Sample-rate conversion of PCM16 mono: a stateful streaming resampler and ``resample``.

Two engines behind one interface. ``"python"`` is dependency-free: a polyphase windowed-sinc
(Kaiser) filter whose stopband starts at the lower rate's Nyquist frequency, so nothing above it
folds back (about -90 dB); for the small ratios between the common rates it runs as one
big-integer multiplication per chunk. ``"soxr"`` uses the ``soxr`` package (the
``realtime-anyio[audio]`` extra) at its HQ setting, many times faster. Both are exact streaming
resamplers: feeding a signal chunk by chunk gives the same samples as feeding it whole, so chunk
borders never click. Each holds back a little input (the filter's look-ahead), reported by
:attr:`Resampler.pending_ms`.
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


#: Ratios up to this ``up * down`` (8<->24, 16<->24, 24<->48, 8<->16, 16<->48 kHz...) use the
#: big-integer kernel; others (44.1 kHz) the per-sample dot products.
_BIGINT_MAX_RATIO = 6
_FIELD = 6  # bytes per convolution coefficient in the packed integers
_SCALE = 24  # taps are quantized to 2**-24
_FLIP = bytes(b ^ 0x80 for b in range(256))
_SIGN_OF = bytes(0x7F if b >= 0x80 else 0x80 for b in range(256))


class _BigIntKernel:
    """The whole polyphase convolution of a block as one big-integer multiplication.

    CPython multiplies big integers in C (Karatsuba), so packing samples and taps into 48-bit
    fields of two integers turns the filter into one multiplication plus byte slicing: the
    same arithmetic as the dot products (taps quantized to 2**-24, far below 16-bit
    resolution), tens of times faster. Samples are offset to be non-negative and every field
    is biased by 2**47, so no field borrows from its neighbour; the offsets come back out per
    phase, and rounding is folded into the bias.
    """

    def __init__(self, up: int, down: int) -> None:
        self.up = up
        self.down = down
        stride = max(up, down)
        self.half = half = _ZERO_CROSSINGS * stride
        reach, rows = _design(up, down)
        # rows[p][i] is the tap at t = p + (reach - i) * up; rebuild tap(t) for |t| <= half.
        taps = [0] * (2 * half + 1)
        for phase, row in enumerate(rows):
            for i, value in enumerate(row):
                t = phase + (reach - i) * up
                if -half <= t <= half:
                    taps[t + half] = round(value * (1 << _SCALE))
        self.taps = sum(value << (8 * _FIELD * i) for i, value in enumerate(taps) if value)
        # Per phase of the virtual index (v mod up), what the +32768 sample offset added.
        phase_sums = [0] * up
        for i, value in enumerate(taps):
            phase_sums[(i - half) % up] += value
        bias = [(1 << 47) + (1 << (_SCALE - 1)) - 32768 * total for total in phase_sums]
        # Field v' holds virtual index v = v' - half: its phase is (v' - half) mod up.
        self.pattern = b"".join(bias[(k - half) % up].to_bytes(_FIELD, "little") for k in range(up))
        self._biases: dict[int, int] = {}

    @classmethod
    def get(cls, up: int, down: int) -> _BigIntKernel:
        kernel = _KERNELS.get((up, down))
        if kernel is None:
            kernel = _KERNELS[(up, down)] = cls(up, down)
        return kernel

    def run(self, buffer: array[int], offset: int, first: int, last: int) -> bytes:
        up, down, half = self.up, self.down, self.half
        raw = samples_to_pcm16(buffer)
        count = len(buffer)
        stride = _FIELD * up
        packed = bytearray(stride * count)
        packed[0::stride] = raw[0::2]
        packed[1::stride] = raw[1::2].translate(_FLIP)
        fields = count * up + 2 * half + 1
        repeats = -(-fields // up)
        bias = self._biases.get(repeats)
        if bias is None:
            if len(self._biases) > 64:  # chunk sizes vary little; keep the cache small
                self._biases.clear()
            bias = self._biases[repeats] = int.from_bytes(self.pattern * repeats, "little")
        product = int.from_bytes(packed, "little") * self.taps + bias
        data = product.to_bytes(_FIELD * (repeats * up + 1), "little")
        # Output n sits at virtual index n * down - offset * up, i.e. field that + half.
        start = _FIELD * (first * down - offset * up + half)
        step = _FIELD * down
        total = last - first
        low = data[start + 3 :: step][:total]
        high = data[start + 4 :: step][:total]
        check = data[start + 5 :: step][:total]
        out = bytearray(2 * total)
        out[0::2] = low
        out[1::2] = high
        if high.translate(_SIGN_OF) != check:
            # A sample past full scale (filter overshoot): clip those, field by field.
            values = array("h", out)
            for i in range(total):
                pos = start + i * step
                field = int.from_bytes(data[pos : pos + _FIELD], "little") - (1 << 47)
                values[i] = min(32767, max(-32768, field >> _SCALE))
            return samples_to_pcm16(values)
        return bytes(out)


_KERNELS: dict[tuple[int, int], _BigIntKernel] = {}


class _PythonEngine:
    __slots__ = (
        "_buffer",
        "_down",
        "_kernel",
        "_next",
        "_offset",
        "_reach",
        "_rows",
        "_up",
        "fed",
        "made",
    )

    def __init__(self, up: int, down: int) -> None:
        self._up = up
        self._down = down
        self._reach, self._rows = _design(up, down)
        self._kernel = _BigIntKernel.get(up, down) if up * down <= _BIGINT_MAX_RATIO else None
        # Silence before the first sample, so the first outputs have their history.
        self._buffer = array("h", bytes(2 * self._reach))
        self._offset = -self._reach  # absolute index of _buffer[0]
        self._next = 0  # absolute index of the next output sample
        self.fed = 0
        self.made = 0

    def _run(self, available: int, limit: int | None) -> bytes:
        up, down, reach = self._up, self._down, self._reach
        offset = self._offset
        first = n = self._next
        # The outputs whose inputs are all buffered: base + reach < available.
        last = ((available - reach) * up - 1) // down + 1
        if limit is not None:
            last = min(last, limit)
        if last <= first:
            return b""
        n = last
        if self._kernel is not None:
            data = self._kernel.run(self._buffer, offset, first, last)
        else:
            data = self._dot(first, last)
        self._next = n
        self.made += n - first
        keep_from = (n * down) // up - reach - offset
        if keep_from > 0:
            del self._buffer[:keep_from]
            self._offset += keep_from
        return data

    def _dot(self, first: int, last: int) -> bytes:
        up, down, reach, rows = self._up, self._down, self._reach, self._rows
        buffer, offset = self._buffer, self._offset
        width = 2 * reach + 1
        out: list[float] = []
        for n in range(first, last):
            base, phase = divmod(n * down, up)
            start = base - reach - offset
            out.append(sum(map(mul, buffer[start : start + width], rows[phase])))
        samples = array("h", [min(32767, max(-32768, round(v))) for v in out])
        return samples_to_pcm16(samples)

    def process(self, pcm: bytes) -> bytes:
        samples = pcm16_samples(pcm)
        self._buffer.extend(samples)
        self.fed += len(samples)
        return self._run(self.fed, None)

    def flush(self) -> bytes:
        self._buffer.extend(bytes(2 * self._reach))
        total = -(-self.fed * self._up // self._down)
        return self._run(self.fed + self._reach, total)


class _SoxrEngine:
    # float32 in and out: soxr's int16 mode dithers, so its output would depend on chunking.
    # Bytes go straight to numpy and back; rounding and clipping work in place.
    __slots__ = ("_empty", "_numpy", "_stream", "fed", "made")

    def __init__(self, soxr: Any, from_rate: int, to_rate: int) -> None:
        self._numpy: Any = importlib.import_module("numpy")
        self._stream: Any = soxr.ResampleStream(
            from_rate, to_rate, 1, dtype="float32", quality="HQ"
        )
        self._empty: Any = self._numpy.zeros(0, dtype="float32")
        self.fed = 0
        self.made = 0

    def _chunk(self, samples: Any, last: bool) -> bytes:
        np = self._numpy
        out: Any = self._stream.resample_chunk(samples, last=last)
        self.made += len(out)
        if not len(out):
            return b""
        np.rint(out, out=out)
        np.clip(out, -32768.0, 32767.0, out=out)
        data: bytes = out.astype("<i2").tobytes()
        return data

    def process(self, pcm: bytes) -> bytes:
        samples: Any = self._numpy.frombuffer(pcm, dtype="<i2").astype("float32")
        self.fed += len(samples)
        return self._chunk(samples, False)

    def flush(self) -> bytes:
        return self._chunk(self._empty, True)


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
        data = self._odd + pcm if self._odd else bytes(pcm)
        whole = len(data) - len(data) % 2
        if whole != len(data):
            self._odd = data[whole:]
            data = data[:whole]
        else:
            self._odd = b""
        impl = self._impl
        if impl is None:
            return data
        if not data:
            return b""
        return impl.process(data)

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
