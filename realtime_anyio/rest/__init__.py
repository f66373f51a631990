"""The REST side of the Realtime API: client secrets, WebRTC call creation, SIP call control.

Reach it through :class:`~realtime_anyio.Realtime` (``rt.client_secrets``, ``rt.calls``), or
build a :class:`RESTClient` from a :class:`~realtime_anyio.ClientConfig` yourself. Webhook
verification lives in :mod:`realtime_anyio.webhooks`.
"""

from __future__ import annotations

from ._client import DEFAULT_MAX_RETRY_DELAY as DEFAULT_MAX_RETRY_DELAY
from ._client import RESTClient as RESTClient
from ._client import Timeout as Timeout
from ._resources import Calls as Calls
from ._resources import ClientSecrets as ClientSecrets
from ._types import CallAction as CallAction
from ._types import CallCreated as CallCreated
from ._types import CallReferRequest as CallReferRequest
from ._types import CallRejectRequest as CallRejectRequest
from ._types import ClientSecret as ClientSecret
from ._types import ClientSecretCreateRequest as ClientSecretCreateRequest
from ._types import ExpiresAfter as ExpiresAfter
from ._types import SessionConfig as SessionConfig
from ._types import TranslationAudio as TranslationAudio
from ._types import TranslationAudioInput as TranslationAudioInput
from ._types import TranslationAudioOutput as TranslationAudioOutput
from ._types import TranslationClientSecret as TranslationClientSecret
from ._types import TranslationClientSecretCreateRequest as TranslationClientSecretCreateRequest
from ._types import TranslationNoiseReduction as TranslationNoiseReduction
from ._types import TranslationSession as TranslationSession
from ._types import TranslationTranscription as TranslationTranscription

__all__ = [
    "DEFAULT_MAX_RETRY_DELAY",
    "CallAction",
    "CallCreated",
    "CallReferRequest",
    "CallRejectRequest",
    "Calls",
    "ClientSecret",
    "ClientSecretCreateRequest",
    "ClientSecrets",
    "ExpiresAfter",
    "RESTClient",
    "SessionConfig",
    "Timeout",
    "TranslationAudio",
    "TranslationAudioInput",
    "TranslationAudioOutput",
    "TranslationClientSecret",
    "TranslationClientSecretCreateRequest",
    "TranslationNoiseReduction",
    "TranslationSession",
    "TranslationTranscription",
]
