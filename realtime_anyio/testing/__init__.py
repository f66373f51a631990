"""Testing kit: the bundled fake Realtime server, its scripting and fault types, and audio helpers.

``FakeRealtimeServer`` speaks the Realtime API's wire protocol on 127.0.0.1 (WebSocket sessions
and the ``/realtime`` REST endpoints). ``Script`` decides what its model says; the fault types
break connections on purpose. The pytest plugin (installed with the package) adds a
``realtime_server`` fixture. See the "Testing your app" page of the docs.
"""

from __future__ import annotations

from ._audio import SAMPLE_RATE as SAMPLE_RATE
from ._audio import read_wav as read_wav
from ._audio import silence as silence
from ._audio import speech as speech
from ._audio import tone as tone
from ._audio import write_wav as write_wav
from ._faults import CloseAfter as CloseAfter
from ._faults import DelayEvents as DelayEvents
from ._faults import DelayHandshake as DelayHandshake
from ._faults import DropAfter as DropAfter
from ._faults import Fault as Fault
from ._faults import RefuseHandshake as RefuseHandshake
from ._faults import SendFrame as SendFrame
from ._faults import SendMalformed as SendMalformed
from ._faults import SendOversized as SendOversized
from ._faults import StallAfter as StallAfter
from ._http import HTTPRequest as HTTPRequest
from ._http import HTTPResponse as HTTPResponse
from ._rest import CallState as CallState
from ._rest import FakeCall as FakeCall
from ._rest import FakeREST as FakeREST
from ._rest import FakeRESTTransport as FakeRESTTransport
from ._rest import IssuedSecret as IssuedSecret
from ._script import Failure as Failure
from ._script import Reply as Reply
from ._script import ReplyLike as ReplyLike
from ._script import Responder as Responder
from ._script import Say as Say
from ._script import Script as Script
from ._script import ToolCall as ToolCall
from ._script import Transcriber as Transcriber
from ._script import TurnContext as TurnContext
from ._script import choose_tool as choose_tool
from ._script import default_responder as default_responder
from ._server import FakeRealtimeServer as FakeRealtimeServer
from ._server import ModelCheck as ModelCheck
from ._session import FakeSession as FakeSession
from ._session import Pacing as Pacing

__all__ = [
    "SAMPLE_RATE",
    "CallState",
    "CloseAfter",
    "DelayEvents",
    "DelayHandshake",
    "DropAfter",
    "Failure",
    "FakeCall",
    "FakeREST",
    "FakeRESTTransport",
    "FakeRealtimeServer",
    "FakeSession",
    "Fault",
    "HTTPRequest",
    "HTTPResponse",
    "IssuedSecret",
    "ModelCheck",
    "Pacing",
    "RefuseHandshake",
    "Reply",
    "ReplyLike",
    "Responder",
    "Say",
    "Script",
    "SendFrame",
    "SendMalformed",
    "SendOversized",
    "StallAfter",
    "ToolCall",
    "Transcriber",
    "TurnContext",
    "choose_tool",
    "default_responder",
    "read_wav",
    "silence",
    "speech",
    "tone",
    "write_wav",
]
