"""Audio for voice apps: formats and conversion, sources and sinks, pumps, a player with a
playback clock, and barge-in as one transaction.

Everything works on ``bytes``: PCM16 mono little-endian (the API's ``audio/pcm`` at 24 kHz) or
8 kHz G.711 (``audio/pcmu``, ``audio/pcma``). The core needs no dependency; the
``realtime-anyio[audio]`` extra adds ``soxr`` (fast resampling) and ``sounddevice`` (microphone
and speaker).
"""

from __future__ import annotations

from ._convert import AudioDecoder as AudioDecoder
from ._convert import AudioEncoder as AudioEncoder
from ._convert import convert_stream as convert_stream
from ._device import Microphone as Microphone
from ._device import Speaker as Speaker
from ._formats import PCM16_24K as PCM16_24K
from ._formats import PCMA as PCMA
from ._formats import PCMU as PCMU
from ._formats import SAMPLE_RATE as SAMPLE_RATE
from ._formats import WireFormat as WireFormat
from ._formats import alaw_to_pcm16 as alaw_to_pcm16
from ._formats import bytes_per_ms as bytes_per_ms
from ._formats import duration_ms as duration_ms
from ._formats import level_dbfs as level_dbfs
from ._formats import pcm16_to_alaw as pcm16_to_alaw
from ._formats import pcm16_to_ulaw as pcm16_to_ulaw
from ._formats import stereo_to_mono as stereo_to_mono
from ._formats import ulaw_to_pcm16 as ulaw_to_pcm16
from ._player import AudioPlayer as AudioPlayer
from ._player import Interruption as Interruption
from ._player import ItemCut as ItemCut
from ._player import PlayerStatistics as PlayerStatistics
from ._pump import AudioSource as AudioSource
from ._pump import PumpResult as PumpResult
from ._pump import chunked as chunked
from ._pump import pump_audio as pump_audio
from ._resample import Resampler as Resampler
from ._resample import resample as resample
from ._resample import soxr_available as soxr_available
from ._sinks import AudioSink as AudioSink
from ._sinks import CallbackSink as CallbackSink
from ._sinks import VirtualSpeaker as VirtualSpeaker
from ._sinks import WavSink as WavSink
from ._synth import noise as noise
from ._synth import silence as silence
from ._synth import speech as speech
from ._synth import speech_tokens as speech_tokens
from ._synth import tone as tone
from ._wav import WavInfo as WavInfo
from ._wav import decode_wav as decode_wav
from ._wav import read_wav as read_wav
from ._wav import write_wav as write_wav

__all__ = [
    "PCM16_24K",
    "PCMA",
    "PCMU",
    "SAMPLE_RATE",
    "AudioDecoder",
    "AudioEncoder",
    "AudioPlayer",
    "AudioSink",
    "AudioSource",
    "CallbackSink",
    "Interruption",
    "ItemCut",
    "Microphone",
    "PlayerStatistics",
    "PumpResult",
    "Resampler",
    "Speaker",
    "VirtualSpeaker",
    "WavInfo",
    "WavSink",
    "WireFormat",
    "alaw_to_pcm16",
    "bytes_per_ms",
    "chunked",
    "convert_stream",
    "decode_wav",
    "duration_ms",
    "level_dbfs",
    "noise",
    "pcm16_to_alaw",
    "pcm16_to_ulaw",
    "pump_audio",
    "read_wav",
    "resample",
    "silence",
    "soxr_available",
    "speech",
    "speech_tokens",
    "stereo_to_mono",
    "tone",
    "ulaw_to_pcm16",
    "write_wav",
]
