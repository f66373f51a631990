"""realtime_anyio.audio conversions: exact G.711, streaming resampling, WAV input (pure tests)."""

from __future__ import annotations

import random
import struct
from array import array
from pathlib import Path
from typing import Any

import pytest

from realtime_anyio.audio import (
    PCM16_24K,
    PCMU,
    AudioDecoder,
    AudioEncoder,
    Resampler,
    WireFormat,
    alaw_to_pcm16,
    decode_wav,
    level_dbfs,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    read_wav,
    resample,
    silence,
    soxr_available,
    speech,
    stereo_to_mono,
    tone,
    ulaw_to_pcm16,
    write_wav,
)

ALL_SAMPLES = array("h", range(-32768, 32768)).tobytes()
ENGINES = ["python", *(["soxr"] if soxr_available() else [])]


# Reference arithmetic transcribed from ITU-T G.191's g711.c (ulaw_compress/alaw_compress and
# their expanders), kept deliberately literal and separate from the library's table builder.
def g191_ulaw_compress(x: int) -> int:
    absno = ((~x) >> 2) + 33 if x < 0 else (x >> 2) + 33
    absno = min(absno, 0x1FFF)
    i = absno >> 6
    segno = 1
    while i != 0:
        segno += 1
        i >>= 1
    high = 0x0008 - segno
    low = 0x000F - ((absno >> segno) & 0x000F)
    out = (high << 4) | low
    return out | 0x0080 if x >= 0 else out


def g191_alaw_compress(x: int) -> int:
    ix = (~x) >> 4 if x < 0 else x >> 4
    if ix > 15:
        iexp = 1
        while ix > 16 + 15:
            ix >>= 1
            iexp += 1
        ix -= 16
        ix += iexp << 4
    if x >= 0:
        ix |= 0x0080
    return ix ^ 0x0055


def g191_ulaw_expand(code: int) -> int:
    sign = -1 if code < 0x80 else 1
    mantissa = ~code
    exponent = (mantissa >> 4) & 0x07
    segment = exponent + 1
    mantissa &= 0x0F
    step = 4 << segment
    return sign * ((0x80 << exponent) + step * mantissa + step // 2 - 4 * 33)


def g191_alaw_expand(code: int) -> int:
    ix = (code ^ 0x55) & 0x7F
    iexp = ix >> 4
    mant = ix & 0x0F
    if iexp > 0:
        mant += 16
    mant = (mant << 4) + 0x08
    if iexp > 1:
        mant <<= iexp - 1
    return mant if code > 127 else -mant


def negating_ulaw(x: int) -> int:
    """The audioop-style µ-law coder (negates instead of taking the one's complement)."""
    ends = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
    v = x >> 2
    mask = 0xFF
    if v < 0:
        v, mask = -v, 0x7F
    v = min(v, 8159) + 33
    seg = next((i for i, end in enumerate(ends) if v <= end), 8)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((v >> (seg + 1)) & 0xF)) ^ mask


def test_ulaw_encoder_is_g191_exact_for_every_input() -> None:
    expected = bytes(g191_ulaw_compress(x) for x in range(-32768, 32768))
    assert pcm16_to_ulaw(ALL_SAMPLES) == expected
    # The audioop-style coder differs on exactly 508 inputs: the pitfall the tables avoid.
    assert (
        sum(negating_ulaw(x) != e for x, e in zip(range(-32768, 32768), expected, strict=True))
        == 508
    )


def test_alaw_encoder_is_g191_exact_for_every_input() -> None:
    expected = bytes(g191_alaw_compress(x) for x in range(-32768, 32768))
    assert pcm16_to_alaw(ALL_SAMPLES) == expected


@pytest.mark.parametrize("encode", [pcm16_to_ulaw, pcm16_to_alaw])
def test_encoding_a_buffer_equals_encoding_each_sample(encode: Any) -> None:
    # The encoders work on the whole buffer at once: no lane may leak into its neighbour,
    # whatever the length, the alignment or the buffer type; a trailing odd byte is ignored.
    rng = random.Random(711)
    for length in [0, 1, 2, 3, 4, 6, 160, 321, 960, 4801]:
        data = bytes(rng.getrandbits(8) for _ in range(length))
        one_by_one = b"".join(encode(data[i : i + 2]) for i in range(0, length - 1, 2))
        assert encode(data) == one_by_one
        assert encode(bytearray(data)) == one_by_one
        assert encode(memoryview(b"x" + data)[1:]) == one_by_one
    extremes = array("h", [-32768, -1, 0, 1, 32767, -32768, 32767]).tobytes()
    assert encode(extremes) == b"".join(
        encode(extremes[i : i + 2]) for i in range(0, len(extremes), 2)
    )


def test_decoders_are_g191_exact_for_every_code() -> None:
    codes = bytes(range(256))
    assert array("h", ulaw_to_pcm16(codes)).tolist() == [g191_ulaw_expand(c) for c in codes]
    assert array("h", alaw_to_pcm16(codes)).tolist() == [g191_alaw_expand(c) for c in codes]
    # Well-known points: digital silence, and A-law's alternate-bit inversion.
    assert pcm16_to_ulaw(b"\x00\x00") == b"\xff"
    assert pcm16_to_alaw(b"\x00\x00") == b"\xd5"


def test_g711_round_trip_is_stable() -> None:
    once = ulaw_to_pcm16(pcm16_to_ulaw(ALL_SAMPLES))
    assert ulaw_to_pcm16(pcm16_to_ulaw(once)) == once
    once = alaw_to_pcm16(pcm16_to_alaw(ALL_SAMPLES))
    assert alaw_to_pcm16(pcm16_to_alaw(once)) == once


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("src", "dst"),
    [(24000, 8000), (8000, 24000), (48000, 24000), (16000, 24000), (44100, 24000), (22050, 24000)],
)
def test_streaming_resampler_matches_whole_buffer(engine: str, src: int, dst: int) -> None:
    signal = speech("Chunk borders must not click.", rate=src)[: src * 2 // 2]
    whole = resample(signal, src, dst, engine=engine)  # type: ignore[arg-type]
    for chunk in (src // 50 * 2, 333):  # 20 ms chunks, and odd sizes (half samples too)
        resampler = Resampler(src, dst, engine=engine)  # type: ignore[arg-type]
        parts = [resampler.process(signal[i : i + chunk]) for i in range(0, len(signal), chunk)]
        parts.append(resampler.flush())
        assert b"".join(parts) == whole
    assert abs(len(whole) // 2 - len(signal) // 2 * dst / src) <= 1


@pytest.mark.parametrize("engine", ENGINES)
def test_resampler_anti_aliases_and_keeps_the_passband(engine: str) -> None:
    # A 5.5 kHz tone cannot exist at 8 kHz: it must vanish, not fold back to 2.5 kHz.
    alias = resample(tone(5500, 1.0, amplitude=0.9), 24000, 8000, engine=engine)  # type: ignore[arg-type]
    assert level_dbfs(alias[1600:-1600]) < -85
    kept = resample(tone(1000, 1.0, amplitude=0.5), 24000, 8000, engine=engine)  # type: ignore[arg-type]
    assert abs(level_dbfs(kept[1600:-1600]) - level_dbfs(tone(1000, 1.0, amplitude=0.5))) < 0.1


def test_resampler_reports_held_back_audio() -> None:
    resampler = Resampler(24000, 8000, engine="python")
    resampler.process(tone(440, 0.1))
    assert 0 < resampler.pending_ms < 10
    resampler.flush()
    assert Resampler(24000, 24000).process(b"\x01\x02") == b"\x01\x02"


def test_encoder_and_decoder_stream_to_g711() -> None:
    pcm = speech("Hello caller.")
    whole = AudioEncoder(24000, PCMU, engine="python")
    expected = whole.process(pcm) + whole.flush()
    chunked = AudioEncoder(24000, PCMU, engine="python")
    parts = [chunked.process(pcm[i : i + 960]) for i in range(0, len(pcm), 960)]
    assert b"".join(parts) + chunked.flush() == expected
    assert len(expected) == len(pcm) // 6
    decoder = AudioDecoder(PCMU, 24000, engine="python")
    back = decoder.process(expected) + decoder.flush()
    assert len(back) == len(pcm)
    assert WireFormat.of("audio/pcmu") == PCMU
    assert PCM16_24K.size(20) == 960 and PCMU.size(20) == 160


def _wav_bytes(tag: int, channels: int, rate: int, bits: int, data: bytes) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if tag == 0xFFFE:
        guid_tag = 1
        fmt += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", guid_tag) + bytes(14)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_wav_widths_channels_and_float(tmp_path: Path) -> None:
    samples = array("h", [0, 1000, -1000, 32767, -32768, 12345])
    pcm = samples.tobytes()
    as8 = bytes(((s >> 8) + 128) & 0xFF for s in samples)
    as24 = b"".join(struct.pack("<i", s << 8)[:3] for s in samples)
    as32 = b"".join(struct.pack("<i", s << 16) for s in samples)
    asf = array("f", [s / 32768 for s in samples]).tobytes()
    stereo = array("h", [v for s in samples for v in (s, s)]).tobytes()
    assert decode_wav(_wav_bytes(1, 1, 24000, 16, pcm))[0] == pcm
    assert decode_wav(_wav_bytes(1, 1, 24000, 24, as24))[0] == pcm
    assert decode_wav(_wav_bytes(1, 1, 24000, 32, as32))[0] == pcm
    assert decode_wav(_wav_bytes(0xFFFE, 1, 24000, 32, as32))[0] == pcm
    assert decode_wav(_wav_bytes(3, 1, 24000, 32, asf))[0] == pcm
    eight = array("h", decode_wav(_wav_bytes(1, 1, 24000, 8, as8))[0])
    assert eight.tolist() == [(s >> 8) << 8 for s in samples]
    pcm2, info = decode_wav(_wav_bytes(1, 2, 24000, 16, stereo))
    assert pcm2 == pcm and info.channels == 2
    assert stereo_to_mono(stereo) == pcm
    path = tmp_path / "x.wav"
    write_wav(path, tone(440, 0.5, rate=48000), rate=48000)
    assert len(read_wav(path)) == 24000  # 0.5 s at 24 kHz
    path.write_bytes(_wav_bytes(1, 1, 16000, 16, tone(440, 0.5, rate=16000)))
    assert len(read_wav(path, rate=None)) == 16000
    with pytest.raises(ValueError, match="RIFF"):
        decode_wav(b"nope")


@pytest.mark.parametrize(("src", "dst"), [(24000, 8000), (8000, 24000), (16000, 24000)])
def test_big_integer_kernel_matches_the_dot_products(
    src: int, dst: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import realtime_anyio.audio._resample as engine

    # Full scale with sharp edges: the filter overshoots and the kernel must clip, not wrap.
    signal = tone(700, 0.3, amplitude=1.0, rate=src) + silence(0.05, rate=src)
    signal += speech("Fast and exact.", rate=src)
    fast = array("h", resample(signal, src, dst, engine="python"))
    monkeypatch.setattr(engine, "_BIGINT_MAX_RATIO", 0)
    slow = array("h", resample(signal, src, dst, engine="python"))
    assert len(fast) == len(slow)
    assert max(abs(a - b) for a, b in zip(fast, slow, strict=True)) <= 1
    assert max(fast) == 32767 and min(fast) == -32768
