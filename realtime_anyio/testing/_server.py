"""``FakeRealtimeServer``: the bundled Realtime service on 127.0.0.1, over real sockets.

One anyio TCP listener serves both sides of the API on one port: WebSocket upgrades on
``…/realtime`` run a :class:`~realtime_anyio.testing.FakeSession` over the same
``websockets`` Sans-I/O engine the client uses, and plain HTTP requests go to
:class:`~realtime_anyio.testing.FakeREST` (client secrets, calls). Faults are injected between
the session and the socket.
"""

from __future__ import annotations

import contextlib
import http
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeAlias
from urllib.parse import parse_qsl, urlsplit

import anyio
import anyio.abc
from websockets.datastructures import Headers
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from .._errors import ConnectionClosed
from ..transport._engine import WebSocketEngine
from ..transport._websocket import protocol_logger
from ._faults import (
    CloseAfter,
    DelayEvents,
    DelayHandshake,
    DropAfter,
    Fault,
    RefuseHandshake,
    SendFrame,
    SendMalformed,
    SendOversized,
    StallAfter,
)
from ._http import HTTPRequest, HTTPResponse
from ._ids import IdFactory
from ._rest import FakeREST
from ._script import Script
from ._session import ConnectInfo, FakeSession, LinkClosed, Pacing, SessionOptions

__all__ = ["FakeRealtimeServer", "ModelCheck"]

logger = logging.getLogger("realtime_anyio.testing")

#: An allowlist of model names, or a predicate saying whether a model is served.
ModelCheck = Collection[str] | Callable[[str], bool]

_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024


class _PrefixedStream(anyio.abc.ByteStream):
    """A byte stream that first replays bytes already read from it."""

    def __init__(self, stream: anyio.abc.ByteStream, prefix: bytes) -> None:
        self._stream = stream
        self._prefix = prefix

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix[:max_bytes], self._prefix[max_bytes:]
            return data
        return await self._stream.receive(max_bytes)

    async def send(self, item: bytes) -> None:
        await self._stream.send(item)

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        attributes: Mapping[Any, Callable[[], Any]] = self._stream.extra_attributes  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        return attributes


class _Head:
    """The request line and headers of one HTTP/1.1 request."""

    def __init__(self, method: str, target: str, version: str, headers: list[tuple[str, str]]):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.lower = {k.lower(): v for k, v in headers}

    @property
    def is_upgrade(self) -> bool:
        return self.lower.get("upgrade", "").lower() == "websocket"


class _BadRequest(Exception):
    pass


def _parse_head(raw: bytes) -> _Head:
    try:
        text = raw.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
        raise _BadRequest("undecodable request head") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise _BadRequest("malformed request line")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest("malformed header line")
        headers.append((name, value.strip()))
    return _Head(parts[0], parts[1], parts[2], headers)


#: The faults that fire after a number of server events.
_AfterFault: TypeAlias = (
    CloseAfter | DropAfter | StallAfter | SendMalformed | SendFrame | SendOversized
)


class _Plan:
    """The faults for one connection."""

    def __init__(self, faults: Iterable[Fault]) -> None:
        self.refuse: RefuseHandshake | None = None
        self.handshake_delay = 0.0
        self.after: list[_AfterFault] = []
        self.delays: list[DelayEvents] = []
        for fault in faults:
            if isinstance(fault, RefuseHandshake):
                self.refuse = fault
            elif isinstance(fault, DelayHandshake):
                self.handshake_delay = max(self.handshake_delay, fault.seconds)
            elif isinstance(fault, DelayEvents):
                self.delays.append(fault)
            else:
                self.after.append(fault)


def _threshold(fault: _AfterFault) -> int:
    if isinstance(fault, (CloseAfter, DropAfter, StallAfter)):
        return fault.events
    return fault.after


class _EngineLink:
    """The :class:`~realtime_anyio.testing._session.Link` over a server-side engine."""

    def __init__(self, engine: WebSocketEngine, plan: _Plan, close_timeout: float) -> None:
        self.engine = engine
        self.plan = plan
        self.close_timeout = close_timeout
        self.sent = 0
        self.closing = False
        self.scope: anyio.CancelScope | None = None
        self._lock = anyio.Lock()
        self._resume: anyio.Event | None = None

    async def send(self, data: bytes) -> None:
        async with self._lock:
            await self._apply_faults()
            await self.wait_if_stalled()
            if self.closing or not self.engine.open:
                return
            for delay in self.plan.delays:
                if self.sent >= delay.after:
                    await anyio.sleep(delay.seconds)
            try:
                await self.engine.send_text(data)
            except ConnectionClosed:
                return
            self.sent += 1
            # "After N events" means as soon as the N-th went out, not when an N+1-th is due.
            await self._apply_faults()

    async def _apply_faults(self) -> None:
        due = [f for f in self.plan.after if _threshold(f) <= self.sent]
        for fault in due:
            self.plan.after.remove(fault)
            if isinstance(fault, CloseAfter):
                await self.close(fault.code, fault.reason)
            elif isinstance(fault, DropAfter):
                self.closing = True
                await self.engine.abort()
            elif isinstance(fault, StallAfter):
                self._resume = anyio.Event()
                if fault.seconds is not None:
                    await self._stall_for(fault.seconds)
            elif self.engine.open:
                if isinstance(fault, SendMalformed):
                    await self.engine.send_text(fault.data.encode())
                elif isinstance(fault, SendFrame):
                    if fault.binary:
                        await self.engine.send_binary(fault.data)
                    else:
                        await self.engine.send_text(fault.data)
                else:
                    await self.engine.send_text(_oversized(fault.size))

    async def _stall_for(self, seconds: float) -> None:
        await anyio.sleep(seconds)
        if self._resume is not None:
            self._resume.set()
            self._resume = None

    async def wait_if_stalled(self) -> None:
        if self._resume is not None:
            await self._resume.wait()

    async def receive(self) -> str | bytes:
        await self.wait_if_stalled()
        try:
            message = await self.engine.receive_message()
        except ConnectionClosed:
            raise LinkClosed from None
        await self.wait_if_stalled()
        if message.text:
            return bytes(message.data).decode("utf-8", "replace")
        return bytes(message.data)

    async def abort(self) -> None:
        self.closing = True
        await self.engine.abort()

    async def close(self, code: int, reason: str = "") -> None:
        if self.closing:
            return
        self.closing = True
        if code in (1005, 1006, 1015):
            await self.engine.abort()
            return
        if self.engine.open:
            self.engine.protocol.send_close(code, reason)
            with contextlib.suppress(ConnectionClosed):
                await self.engine.flush()
        # A client that never answers the close frame must not keep the session alive.
        if self.scope is not None:
            self.scope.deadline = min(
                self.scope.deadline, anyio.current_time() + self.close_timeout
            )


def _oversized(size: int) -> bytes:
    head = (
        b'{"type":"response.output_audio.delta","event_id":"event_oversized0000000000",'
        b'"response_id":"resp_oversized00000000000","item_id":"item_oversized00000000000",'
        b'"output_index":0,"content_index":0,"delta":"'
    )
    pad = max(0, size - len(head) - 2)
    return head + b"A" * (pad - pad % 4) + b'"}'


class FakeRealtimeServer:
    """A local Realtime API server for tests, demos and offline development.

    ``async with FakeRealtimeServer() as server:`` listens on ``host`` (127.0.0.1) and ``port``
    (0: any free port) until the block ends; ``server.url`` is the ``websocket_base_url`` to
    give a client (``ws://127.0.0.1:PORT/v1``) and ``server.http_url`` the REST base URL.

    Options (all keyword-only):

    * ``api_key``: when set, connections must authenticate with it (or with a client secret
      issued by ``server.rest``); otherwise any key, or none, is accepted.
    * ``models``: the models served, as a collection of names or a predicate; default: any.
    * ``script``: the :class:`Script` of replies (``server.script``; one is made if omitted).
    * ``pacing``: ``"fast"`` streams responses as fast as possible; ``"realtime"`` sends audio
      at playback speed, paces text deltas and runs input transcription in the background.
    * ``pacing_speed``: with ``"realtime"`` pacing, run that many times faster than playback
      (default 1.0; tests and the CLI demo use more).
    * ``session_duration``: seconds until ``session_expired`` and close 1001 (default 3600).
    * ``ping_interval``: seconds between server pings (default 20; ``None``: no pings).
    * ``faults``: faults applied to every connection (see :meth:`inject` for one-offs).
    * ``seed``: makes ids and obfuscation strings reproducible.
    * ``rest``: the :class:`FakeREST` to use (one sharing ``api_key`` is made if omitted).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        models: ModelCheck | None = None,
        script: Script | None = None,
        pacing: Pacing = "fast",
        pacing_speed: float = 1.0,
        session_duration: float = 3600.0,
        ping_interval: float | None = 20.0,
        faults: Iterable[Fault] = (),
        seed: int | None = None,
        rest: FakeREST | None = None,
        close_timeout: float = 2.0,
        max_message_size: int = 32 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.models = models
        self.script = script if script is not None else Script()
        self.pacing: Pacing = pacing
        if not pacing_speed > 0:
            raise ValueError("pacing_speed must be positive")
        self.pacing_speed = pacing_speed
        self.session_duration = session_duration
        self.ping_interval = ping_interval
        self.faults: list[Fault] = list(faults)
        self.close_timeout = close_timeout
        self.max_message_size = max_message_size
        self.rest = rest if rest is not None else FakeREST(api_key=api_key, clock=clock)
        #: Every session served so far, oldest first.
        self.sessions: list[FakeSession] = []
        self._ids = IdFactory(seed)
        self._clock = clock
        self._one_off: list[tuple[list[Fault], int | None]] = []
        self._tg: anyio.abc.TaskGroup | None = None
        self._listener: anyio.abc.Listener[anyio.abc.SocketStream] | None = None
        self._session_added = anyio.Event()
        self._connections = 0
        #: Pings the server sent that a client answered with a pong.
        self.pongs_received = 0

    def __repr__(self) -> str:
        where = self.url if self._listener is not None else "not listening"
        return f"FakeRealtimeServer({where})"

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The WebSocket base URL (``websocket_base_url``), e.g. ``ws://127.0.0.1:PORT/v1``."""
        return f"ws://{self._netloc()}/v1"

    @property
    def http_url(self) -> str:
        """The REST base URL (``base_url``), e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self._netloc()}/v1"

    def _netloc(self) -> str:
        if self._listener is None:
            raise RuntimeError("the server is not running; use 'async with FakeRealtimeServer()'")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    # -- control -----------------------------------------------------------------------------

    def inject(self, *faults: Fault, connections: int | None = 1) -> None:
        """Apply ``faults`` to the next ``connections`` WebSocket connections (None: all)."""
        self._one_off.append((list(faults), connections))

    async def wait_for_session(self, count: int = 1) -> FakeSession:
        """Wait until ``count`` sessions have started; return the ``count``-th.

        Cancellation: safe.
        """
        while len(self.sessions) < count:
            await self._session_added.wait()
        return self.sessions[count - 1]

    def _faults_for_connection(self) -> list[Fault]:
        chosen = list(self.faults)
        remaining: list[tuple[list[Fault], int | None]] = []
        for faults, count in self._one_off:
            chosen.extend(faults)
            if count is None:
                remaining.append((faults, None))
            elif count > 1:
                remaining.append((faults, count - 1))
        self._one_off = remaining
        return chosen

    # -- lifetime ----------------------------------------------------------------------------

    async def __aenter__(self) -> FakeRealtimeServer:
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=self.port)
        self._listener = listener
        self.port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        tg.start_soon(self._accept_loop, listener, name="fake-realtime-listener")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None and self._listener is not None
        tg, self._tg = self._tg, None
        tg.cancel_scope.cancel()
        try:
            # The block's own exception is not the task group's business: it propagates
            # unwrapped once the server's tasks are gone.
            await tg.__aexit__(None, None, None)
        finally:
            with anyio.CancelScope(shield=True):
                await self._listener.aclose()
        return None

    async def serve_forever(self) -> None:
        """Run until cancelled (for ``realtime-anyio serve``); enter the server first.

        Cancellation: the intended way to stop it.
        """
        await anyio.sleep_forever()

    async def _accept_loop(self, listener: anyio.abc.Listener[anyio.abc.SocketStream]) -> None:
        async with anyio.create_task_group() as tg:
            try:
                await listener.serve(self._serve_connection, task_group=tg)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return

    # -- one connection ----------------------------------------------------------------------

    async def _serve_connection(self, stream: anyio.abc.SocketStream) -> None:
        self._connections += 1
        try:
            await self._serve_stream(stream)
        except Exception:
            logger.exception("fake server: connection handler failed")
        finally:
            with anyio.CancelScope(shield=True):
                await stream.aclose()

    async def _serve_stream(self, stream: anyio.abc.SocketStream) -> None:
        buffered = b""
        while True:
            while b"\r\n\r\n" not in buffered:
                if len(buffered) > _MAX_HEAD:
                    await self._write_http(stream, HTTPResponse(431), keep_alive=False)
                    return
                try:
                    chunk = await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    return
                buffered += chunk
            head_bytes, _, rest = buffered.partition(b"\r\n\r\n")
            try:
                head = _parse_head(head_bytes)
            except _BadRequest:
                await self._write_http(stream, HTTPResponse(400), keep_alive=False)
                return
            if head.is_upgrade:
                await self._serve_websocket(
                    _PrefixedStream(stream, head_bytes + b"\r\n\r\n" + rest)
                )
                return
            length_text = head.lower.get("content-length", "0")
            if "chunked" in head.lower.get("transfer-encoding", "").lower():
                await self._write_http(stream, HTTPResponse(411), keep_alive=False)
                return
            try:
                length = int(length_text)
            except ValueError:
                length = -1
            if not 0 <= length <= _MAX_BODY:
                await self._write_http(stream, HTTPResponse(413), keep_alive=False)
                return
            while len(rest) < length:
                try:
                    rest += await stream.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    return
            body, buffered = rest[:length], rest[length:]
            split = urlsplit(head.target)
            request = HTTPRequest(
                method=head.method.upper(),
                path=split.path,
                query=dict(parse_qsl(split.query, keep_blank_values=True)),
                headers=head.lower,
                body=body,
            )
            try:
                response = await self.rest.handle(request)
            except Exception:
                logger.exception("fake server: the REST handler failed")
                response = HTTPResponse(
                    500,
                    {"content-type": "application/json"},
                    b'{"error": {"message": "The fake server failed.", "type": "server_error"}}',
                )
            keep_alive = head.lower.get("connection", "").lower() != "close" and head.version == (
                "HTTP/1.1"
            )
            if not await self._write_http(stream, response, keep_alive=keep_alive):
                return
            if not keep_alive:
                return

    async def _write_http(
        self, stream: anyio.abc.ByteStream, response: HTTPResponse, *, keep_alive: bool
    ) -> bool:
        try:
            phrase = http.HTTPStatus(response.status).phrase
        except ValueError:
            phrase = "Unknown"
        lines = [f"HTTP/1.1 {response.status} {phrase}"]
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection"):
                lines.append(f"{name}: {value}")
        lines.append(f"content-length: {len(response.body)}")
        lines.append("connection: " + ("keep-alive" if keep_alive else "close"))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body
        try:
            await stream.send(data)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            return False
        return True

    async def _serve_websocket(self, stream: anyio.abc.ByteStream) -> None:
        plan = _Plan(self._faults_for_connection())
        protocol = ServerProtocol(
            extensions=[ServerPerMessageDeflateFactory()],
            select_subprotocol=_select_subprotocol,
            max_size=self.max_message_size,
            logger=protocol_logger("server"),
        )
        engine = WebSocketEngine(
            protocol, stream, max_size=self.max_message_size, close_timeout=self.close_timeout
        )
        try:
            try:
                request = await engine.receive_handshake()
            except ConnectionClosed:
                return
            assert isinstance(request, Request)
            if plan.handshake_delay:
                await anyio.sleep(plan.handshake_delay)
            refusal = self._refusal(request, plan)
            if refusal is not None:
                protocol.send_response(refusal)
                await engine.flush()
                return
            response = protocol.accept(request)
            protocol.send_response(response)
            await engine.flush()
            if protocol.state is not State.OPEN:
                return
            info = self._connect_info(request)
            session = FakeSession(
                SessionOptions(
                    script=self.script,
                    ids=self._ids,
                    pacing=self.pacing,
                    pacing_speed=self.pacing_speed,
                    session_duration=self.session_duration,
                    clock=self._clock,
                ),
                info,
            )
            self.sessions.append(session)
            self._session_added.set()
            self._session_added = anyio.Event()
            link = _EngineLink(engine, plan, self.close_timeout)
            async with anyio.create_task_group() as tg:
                if self.ping_interval:
                    tg.start_soon(self._ping, link, self.ping_interval)
                with anyio.CancelScope() as scope:
                    link.scope = scope
                    await session.run(link)
                tg.cancel_scope.cancel()
        except ConnectionClosed:
            pass
        finally:
            await engine.aclose(1001, "server shutting down")

    async def _ping(self, link: _EngineLink, interval: float) -> None:
        # The live service pings about every 20 s with a 4-byte payload and does not close
        # idle clients for missing pongs; neither does this one.
        engine = link.engine
        while True:
            await anyio.sleep(interval)
            await link.wait_if_stalled()
            if link.closing:
                return
            with anyio.move_on_after(interval):
                try:
                    await engine.ping()
                except ConnectionClosed:
                    return
                if engine.open:
                    self.pongs_received += 1

    def _refusal(self, request: Request, plan: _Plan) -> Response | None:
        if plan.refuse is not None:
            fault = plan.refuse
            headers = Headers([("Content-Length", str(len(fault.body))), ("Connection", "close")])
            for name, value in fault.headers.items():
                headers[name] = value
            try:
                phrase = http.HTTPStatus(fault.status).phrase
            except ValueError:
                phrase = "Error"
            return Response(fault.status, phrase, headers, fault.body)
        split = urlsplit(request.path)
        if not split.path.rstrip("/").endswith("/realtime"):
            return Response(404, "Not Found", Headers([("Content-Length", "0")]), b"")
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        call_id = query.get("call_id")
        if call_id is not None and not self.rest.is_known_call(call_id):
            return Response(404, "Not Found", Headers([("Content-Length", "0")]), b"")
        return None

    def _connect_info(self, request: Request) -> ConnectInfo:
        split = urlsplit(request.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        info = ConnectInfo(
            model=query.get("model") or query.get("deployment") or None,
            call_id=query.get("call_id"),
            intent=query.get("intent"),
        )
        info.beta_header = "realtime=v1" in headers.get("openai-beta", "").replace(" ", "")
        key = _credential(headers)
        if key is not None and key in self.rest.secrets:
            info.initial_session = dict(self.rest.secrets[key].session)
        if self.api_key is not None:
            if key is None:
                info.auth_error = (None, "Missing bearer or basic authentication in header")
            elif not self.rest.is_valid_key(key):
                shown = f"{key[:3]}\u2026{key[-4:]}" if len(key) > 8 else "\u2026"
                info.auth_error = (
                    "invalid_api_key",
                    f"Incorrect API key provided: {shown}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                )
        if info.call_id is not None:
            call = self.rest.calls.get(info.call_id)
            if call is not None:
                info.call_ended = call.ended
                if call.session:
                    info.initial_session = dict(call.session)
        if info.model is None and info.initial_session is not None:
            model = info.initial_session.get("model")
            if isinstance(model, str):
                info.model = model
            elif info.intent is None and info.initial_session.get("type") == "transcription":
                # A client secret made for a transcription session opens one by itself.
                info.intent = "transcription"
        if info.call_id is None and info.intent != "transcription":
            if info.model is None:
                info.model_error = ("missing_model", "Missing required parameter: 'model'.")
            elif not self._serves(info.model):
                info.model_error = (
                    "invalid_model",
                    f'Model "{info.model}" is not supported in realtime mode.',
                )
        return info

    def _serves(self, model: str) -> bool:
        if self.models is None:
            return True
        if callable(self.models):
            return bool(self.models(model))
        return model in self.models


def _select_subprotocol(
    protocol: ServerProtocol, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    # Browsers offer "realtime" plus "openai-insecure-api-key.<key>"; answer with "realtime".
    return Subprotocol("realtime") if "realtime" in offered else None


def _credential(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() in ("bearer", "basic") and value.strip():
            return value.strip()
    api_key = headers.get("api-key")
    if api_key:
        return api_key.strip()
    for protocol in headers.get("sec-websocket-protocol", "").split(","):
        protocol = protocol.strip()
        if protocol.startswith("openai-insecure-api-key."):
            return protocol[len("openai-insecure-api-key.") :]
    return None
