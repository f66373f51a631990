"""realtime_anyio: a structured-concurrency client for the OpenAI Realtime API on trio and asyncio.

The public surface is re-exported here; ``realtime_anyio.events`` holds the protocol's messages,
``realtime_anyio.conversation`` the conversation state, ``realtime_anyio.tools`` function tools
and ``realtime_anyio.testing`` the bundled fake server. ``__version__`` is the installed
distribution's version.
"""

from __future__ import annotations

from ._client import Realtime as Realtime
from ._config import ClientConfig as ClientConfig
from ._connection import ConnectionStatistics as ConnectionStatistics
from ._connection import Expectation as Expectation
from ._connection import InvalidServerEvent as InvalidServerEvent
from ._connection import RealtimeConnection as RealtimeConnection
from ._connection import ReceivedEvent as ReceivedEvent
from ._errors import APIConnectionError as APIConnectionError
from ._errors import APIError as APIError
from ._errors import APIStatusError as APIStatusError
from ._errors import APITimeoutError as APITimeoutError
from ._errors import AuthenticationError as AuthenticationError
from ._errors import BadRequestError as BadRequestError
from ._errors import ConflictError as ConflictError
from ._errors import ConnectionClosed as ConnectionClosed
from ._errors import ConnectionLost as ConnectionLost
from ._errors import ConnectTimeout as ConnectTimeout
from ._errors import InternalServerError as InternalServerError
from ._errors import LocalProtocolError as LocalProtocolError
from ._errors import MessageTooLarge as MessageTooLarge
from ._errors import NotFoundError as NotFoundError
from ._errors import PermissionDeniedError as PermissionDeniedError
from ._errors import ProtocolError as ProtocolError
from ._errors import RateLimitError as RateLimitError
from ._errors import RealtimeError as RealtimeError
from ._errors import RealtimeInternalError as RealtimeInternalError
from ._errors import RemoteProtocolError as RemoteProtocolError
from ._errors import SendInterrupted as SendInterrupted
from ._errors import ServerError as ServerError
from ._errors import SessionExpired as SessionExpired
from ._errors import UnprocessableEntityError as UnprocessableEntityError
from ._errors import WebhookHeaderError as WebhookHeaderError
from ._errors import WebhookSignatureError as WebhookSignatureError
from ._errors import WebhookTimestampError as WebhookTimestampError
from ._errors import WebhookVerificationError as WebhookVerificationError
from ._open import open_realtime as open_realtime
from ._protocols import ConnectionLike as ConnectionLike
from ._restore import RestorePlan as RestorePlan
from ._restore import RestoreReport as RestoreReport
from ._restore import RestoreTarget as RestoreTarget
from ._restore import apply_restore as apply_restore
from ._restore import plan_restore as plan_restore
from ._restore import retrieve_last_user_audio as retrieve_last_user_audio
from ._version import __version__ as __version__
from .conversation import Conversation as Conversation
from .resilience import GaveUp as GaveUp
from .resilience import Reconnecting as Reconnecting
from .resilience import ReconnectPolicy as ReconnectPolicy
from .resilience import ResilientConnection as ResilientConnection
from .resilience import Restored as Restored
from .resilience import RolloverPolicy as RolloverPolicy
from .resilience import SessionExpiring as SessionExpiring
from .resilience import open_resilient as open_resilient
from .tools import ToolDispatcher as ToolDispatcher
from .tools import ToolFunction as ToolFunction
from .tools import function_tool as function_tool

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientConfig",
    "ConnectionLike",
    "ConnectionStatistics",
    "Expectation",
    "ConflictError",
    "Conversation",
    "ConnectTimeout",
    "ConnectionClosed",
    "ConnectionLost",
    "InternalServerError",
    "InvalidServerEvent",
    "LocalProtocolError",
    "MessageTooLarge",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "ReceivedEvent",
    "Realtime",
    "RealtimeConnection",
    "RealtimeError",
    "RealtimeInternalError",
    "RemoteProtocolError",
    "RestorePlan",
    "RestoreReport",
    "RestoreTarget",
    "GaveUp",
    "Reconnecting",
    "ReconnectPolicy",
    "ResilientConnection",
    "Restored",
    "RolloverPolicy",
    "SendInterrupted",
    "ServerError",
    "SessionExpired",
    "SessionExpiring",
    "ToolDispatcher",
    "ToolFunction",
    "UnprocessableEntityError",
    "WebhookHeaderError",
    "WebhookSignatureError",
    "WebhookTimestampError",
    "WebhookVerificationError",
    "apply_restore",
    "function_tool",
    "open_realtime",
    "plan_restore",
    "retrieve_last_user_audio",
    "open_resilient",
]


def _present_publicly() -> None:
    # Tracebacks and reprs name the public path (realtime_anyio.AuthenticationError), not the
    # private module a class happens to live in.
    for name in __all__:
        obj = globals()[name]
        if isinstance(obj, type) and obj.__module__.startswith(f"{__name__}._"):
            obj.__module__ = __name__


_present_publicly()
