"""Request and response shapes of the ``/realtime/*`` REST endpoints, as msgspec Structs.

Every result type carries the raw ``httpx.Response`` it came from as ``.http_response`` (and its
``x-request-id`` as ``.request_id``). That attribute is not a field: it is not encoded, compared
or shown in ``repr``, so results stay plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Union

import msgspec

from ..events import RealtimeSession, TranscriptionSession

if TYPE_CHECKING:
    import httpx

__all__ = [
    "CallAction",
    "CallCreated",
    "CallReferRequest",
    "CallRejectRequest",
    "ClientSecret",
    "ClientSecretCreateRequest",
    "ExpiresAfter",
    "SessionConfig",
    "TranslationAudio",
    "TranslationAudioInput",
    "TranslationAudioOutput",
    "TranslationClientSecret",
    "TranslationClientSecretCreateRequest",
    "TranslationNoiseReduction",
    "TranslationSession",
    "TranslationTranscription",
]

#: A session configuration: :class:`~realtime_anyio.events.RealtimeSession`,
#: :class:`~realtime_anyio.events.TranscriptionSession` (or another Struct that encodes to the
#: same JSON), or a plain dict.
SessionConfig = Union[msgspec.Struct, Mapping[str, Any]]  # noqa: UP007

_RESPONSE_KEY = "_http_response"


class _Result(msgspec.Struct, frozen=True, dict=True):
    """Base of REST results: data fields plus the response they were read from."""

    @property
    def http_response(self) -> httpx.Response:
        """The raw ``httpx.Response`` (status, headers, body); its request's credentials are
        already replaced with ``<redacted>``."""
        try:
            response: httpx.Response = self.__dict__[_RESPONSE_KEY]
        except KeyError:
            raise AttributeError("this result was not read from an HTTP response") from None
        return response

    @property
    def request_id(self) -> str | None:
        """The ``x-request-id`` header of the response, for support requests and logs."""
        response: httpx.Response | None = self.__dict__.get(_RESPONSE_KEY)
        return None if response is None else response.headers.get("x-request-id")


def attach_response(result: _Result, response: httpx.Response) -> None:
    """Record the response a result was read from (library use only)."""
    vars(result)[_RESPONSE_KEY] = response


# -- requests ------------------------------------------------------------------------------------


class ExpiresAfter(msgspec.Struct, frozen=True):
    """How long a client secret stays valid: ``seconds`` (10-7200) after its creation."""

    seconds: int = 600
    anchor: Literal["created_at"] = "created_at"


class ClientSecretCreateRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    """Body of ``POST /realtime/client_secrets``."""

    expires_after: ExpiresAfter | None = None
    session: dict[str, Any] | None = None


class TranslationClientSecretCreateRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    """Body of ``POST /realtime/translations/client_secrets``."""

    session: dict[str, Any]
    expires_after: ExpiresAfter | None = None


class CallRejectRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    """Body of ``POST /realtime/calls/{call_id}/reject``; the service sends 603 when omitted."""

    status_code: int | None = None


class CallReferRequest(msgspec.Struct, frozen=True):
    """Body of ``POST /realtime/calls/{call_id}/refer``: the SIP ``Refer-To`` URI."""

    target_uri: str


# -- responses -----------------------------------------------------------------------------------


class TranslationTranscription(msgspec.Struct, frozen=True):
    """Source-language transcription of a translation session."""

    model: str


class TranslationNoiseReduction(msgspec.Struct, frozen=True):
    """Input noise reduction of a translation session (``near_field`` or ``far_field``)."""

    type: str


class TranslationAudioInput(msgspec.Struct, frozen=True):
    """Input side of a translation session."""

    transcription: TranslationTranscription | None = None
    noise_reduction: TranslationNoiseReduction | None = None


class TranslationAudioOutput(msgspec.Struct, frozen=True):
    """Output side of a translation session: the target language."""

    language: str | None = None


class TranslationAudio(msgspec.Struct, frozen=True):
    """Audio configuration of a translation session."""

    input: TranslationAudioInput = msgspec.field(default_factory=TranslationAudioInput)
    output: TranslationAudioOutput = msgspec.field(default_factory=TranslationAudioOutput)


class TranslationSession(msgspec.Struct, frozen=True):
    """The effective translation session a translation client secret is bound to."""

    id: str
    expires_at: int
    model: str
    audio: TranslationAudio = msgspec.field(default_factory=TranslationAudio)
    type: Literal["translation"] = "translation"


class TranslationClientSecret(_Result, frozen=True):
    """A translation client secret (``ek_…``), its expiry (Unix seconds) and its session."""

    value: str
    expires_at: int
    session: TranslationSession


class CallCreated(_Result, frozen=True):
    """A WebRTC call the service created: the SDP answer and the call id.

    ``call_id`` (``rtc_…``) is the last segment of the ``Location`` header; use it for
    ``calls.hangup`` or to attach a WebSocket with ``open_realtime(call_id=...)``.
    """

    call_id: str
    sdp: str
    location: str


class CallAction(_Result, frozen=True):
    """The service took a call-control action (``accept``, ``reject``, ``refer``, ``hangup``)."""

    call_id: str
    action: Literal["accept", "reject", "refer", "hangup"]


class ClientSecret(_Result, frozen=True):
    """A client secret (``ek_…``), its expiry (Unix seconds) and the effective session
    (:class:`~realtime_anyio.events.RealtimeSession` or
    :class:`~realtime_anyio.events.TranscriptionSession`, told apart by its ``type``).

    Hand ``value`` to a browser or mobile app; it authenticates Realtime connections (WebSocket
    or WebRTC) until ``expires_at``, with the session configuration it was created with.
    """

    value: str
    expires_at: int
    session: RealtimeSession | TranscriptionSession
