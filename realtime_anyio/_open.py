"""``open_realtime``: connect, own the connection's task group, and close on the way out.

Everything a connection starts lives in the one task group created here and ends with the
``async with`` block. The exit is bounded (``close_timeout`` plus a second at most), and an
exception from the body always comes out as itself, never wrapped in a group.
"""

from __future__ import annotations

import builtins
import importlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.abc

from ._config import ApiKey, ClientConfig, TokenProvider, redact
from ._connection import ABORT_TIMEOUT, RealtimeConnection
from ._errors import ConnectTimeout, RealtimeInternalError, Scrub, scrubber
from .conversation import Conversation
from .transport import ConnectRequest, Transport, TransportFactory, connect_websocket

if TYPE_CHECKING:
    import ssl

__all__ = ["DEFAULT_MAX_MESSAGE_SIZE", "open_realtime"]

logger = logging.getLogger("realtime_anyio")

#: Default limit for one incoming message: a 15 MiB ``input_audio_buffer.append`` (or a
#: ``conversation.item.retrieved`` with audio) is ~20 MiB of JSON.
DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024


def _group_types() -> tuple[type[BaseException], ...]:
    # Python 3.10 has no builtin group; anyio raises the backport's there (its dependency).
    found: type[BaseException] | None = vars(builtins).get("BaseExceptionGroup")
    if found is None:  # pragma: no cover
        found = importlib.import_module("exceptiongroup").BaseExceptionGroup
    assert found is not None
    return (found,)


_GROUP_TYPES = _group_types()

_C = TypeVar("_C")


@asynccontextmanager
async def owned_lifetime(
    start: Callable[[anyio.abc.TaskGroup], Awaitable[_C]],
    close: Callable[[_C], Awaitable[None]],
    release: Callable[[_C | None], Awaitable[None]],
    leftover: Callable[[_C], BaseException | None],
) -> AsyncGenerator[_C, None]:
    """One task group owning a connection for the length of an ``async with`` block.

    ``start(tg)`` opens the connection and starts its tasks in ``tg``; ``close`` ends it
    gracefully (shielded and bounded) when the block ends, however it ends; ``release`` is
    the last step on every path (``None`` when ``start`` failed before returning).
    ``leftover`` names an error to raise when the block itself ended cleanly (accepted sends
    never written, a session that gave up). An exception from ``start`` or from the body
    comes out as itself, never wrapped in a group; leaving is a checkpoint, so a cancel held
    back by the shielded close is raised here.
    """
    error: BaseException | None = None
    conn: _C | None = None
    try:
        async with anyio.create_task_group() as tg:
            try:
                conn = await start(tg)
            except anyio.get_cancelled_exc_class():
                raise
            except BaseException as exc:
                # Raised after the task group, so that it is not wrapped in a group.
                error = exc
                tg.cancel_scope.cancel()
            else:
                try:
                    yield conn
                except anyio.get_cancelled_exc_class():
                    raise
                except BaseException as exc:
                    error = exc
                finally:
                    await close(conn)
                    tg.cancel_scope.cancel()
    except _GROUP_TYPES as group:
        if error is None:
            raise RealtimeInternalError("a background task raised; please report this") from group
        logger.error("a background task raised while the block failed", exc_info=group)
    finally:
        await release(conn)
    if error is not None:
        raise error
    if conn is not None and (late := leftover(conn)) is not None:
        raise late
    await anyio.lowlevel.checkpoint()


def _merge_config(config: ClientConfig | None, **options: Any) -> ClientConfig:
    given = {k: v for k, v in options.items() if v is not None}
    if config is None:
        return ClientConfig.from_options(**given)
    if not given:
        return config
    if "extra_headers" in given:
        given["extra_headers"] = {**config.extra_headers, **given["extra_headers"]}
    if "extra_query" in given:
        given["extra_query"] = {**config.extra_query, **given["extra_query"]}
    for key in ("base_url", "websocket_base_url", "azure_endpoint"):
        if key in given:
            given[key] = str(given[key]).rstrip("/")
    return replace(config, **given)


def _secrets_of(headers: Mapping[str, str], config: ClientConfig) -> tuple[str, ...]:
    """Every secret that this connection's headers carry (keys from providers included)."""
    found = list(config.secrets())
    for name, value in headers.items():
        lowered = name.lower()
        if lowered == "authorization":
            found.append(value.partition(" ")[2] or value)
        elif lowered in ("api-key", "openai-api-key"):
            found.append(value)
    return tuple(s for s in found if s)


@asynccontextmanager
async def open_realtime(
    *,
    model: str | None = None,
    call_id: str | None = None,
    config: ClientConfig | None = None,
    api_key: ApiKey | None = None,
    base_url: str | None = None,
    websocket_base_url: str | None = None,
    organization: str | None = None,
    project: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    extra_query: Mapping[str, str] | None = None,
    azure_endpoint: str | None = None,
    azure_deployment: str | None = None,
    api_version: str | None = None,
    azure_ad_token_provider: TokenProvider | None = None,
    ssl_context: ssl.SSLContext | None = None,
    transport: TransportFactory | None = None,
    connect_timeout: float = 10.0,
    close_timeout: float = 5.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 20.0,
    max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
    receive_buffer: int = 256,
    send_buffer: int = 64,
    compression: bool = False,
    wait_for_session: bool | None = None,
    history: bool | Conversation = False,
) -> AsyncGenerator[RealtimeConnection, None]:
    """Open a Realtime WebSocket session: ``async with open_realtime(model=...) as conn``.

    Endpoint and credential arguments mean what they mean in the official SDK and fall back to
    the environment (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, Azure's variables); ``config``
    supplies them all at once (``Realtime.connect`` passes its own). ``extra_headers`` and
    ``extra_query`` are added to the handshake request; ``ssl_context`` replaces the default
    TLS context for ``wss://`` URLs (a private CA, client certificates).

    Entering the block connects, completes the handshake and waits (within
    ``connect_timeout``) for the first server event, so a refusal raises here: the specific
    :class:`APIStatusError` subclass (``AuthenticationError`` for close 3000 or HTTP 401,
    ``BadRequestError`` for 4000, ``NotFoundError`` for 404, ...), :class:`ConnectTimeout`
    (saying which phase took too long), or :class:`APIConnectionError`. The first event
    (``session.created``) is still the first one ``receive`` returns. With ``call_id`` (a
    sideband socket, which may never send ``session.created``) the block is entered right
    after the handshake, unless ``wait_for_session=True``.

    Leaving the block flushes accepted sends, closes with 1000 and discards frames until the
    server's reply, all within ``close_timeout`` (plus at most a second to drop a socket whose
    peer does not cooperate, TLS included); an exception from the body comes out as itself. If
    the block ends normally but accepted sends could not be written, :class:`ConnectionClosed`
    is raised with ``unsent`` set. ``ping_interval``/``ping_timeout`` drive the keepalive
    (``None`` disables it); ``max_message_size`` bounds one incoming message;
    ``receive_buffer`` events and ``send_buffer`` frames bound memory each way. ``transport``
    replaces the WebSocket factory (tests, trio-websocket). ``compression=True`` offers
    permessage-deflate. ``history=True`` (or a :class:`~realtime_anyio.Conversation` of your
    own, e.g. one that keeps audio) folds every received event into ``conn.history``.

    Cancellation: safe at every await; nothing is left open.
    """
    merged = _merge_config(
        config,
        api_key=api_key,
        base_url=base_url,
        websocket_base_url=websocket_base_url,
        organization=organization,
        project=project,
        extra_headers=extra_headers,
        extra_query=extra_query,
        azure_endpoint=azure_endpoint,
        azure_deployment=azure_deployment,
        api_version=api_version,
        azure_ad_token_provider=azure_ad_token_provider,
    )
    url = merged.websocket_url(model=model, call_id=call_id)
    headers = await merged.auth_headers()
    secrets = _secrets_of(headers, merged)
    request = ConnectRequest(
        url=url,
        headers=headers,
        connect_timeout=connect_timeout,
        close_timeout=close_timeout,
        max_message_size=max_message_size,
        ssl_context=ssl_context,
        compression=compression,
    )
    factory = transport or connect_websocket
    shown_url = redact(url, secrets)
    if wait_for_session is None:
        wait_for_session = call_id is None
    history_kept = (
        history if isinstance(history, Conversation) else Conversation() if history else None
    )

    async def start(tg: anyio.abc.TaskGroup) -> RealtimeConnection:
        conn = await _connect(
            factory,
            replace(request, task_group=tg),
            wait_for_session=wait_for_session,
            receive_buffer=receive_buffer,
            send_buffer=send_buffer,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            shown_url=shown_url,
            scrub=scrubber(secrets),
            history=history_kept,
        )
        conn._start(tg)  # pyright: ignore[reportPrivateUsage]
        return conn

    async def close(conn: RealtimeConnection) -> None:
        await conn._close()  # pyright: ignore[reportPrivateUsage]

    async def release(conn: RealtimeConnection | None) -> None:
        if conn is not None:
            await conn._abort()  # pyright: ignore[reportPrivateUsage]

    def leftover(conn: RealtimeConnection) -> BaseException | None:
        return conn._closed_error() if conn.statistics().unsent else None  # pyright: ignore[reportPrivateUsage]

    async with owned_lifetime(start, close, release, leftover) as conn:
        yield conn


async def _connect(
    factory: TransportFactory,
    request: ConnectRequest,
    *,
    wait_for_session: bool,
    receive_buffer: int,
    send_buffer: int,
    ping_interval: float | None,
    ping_timeout: float | None,
    shown_url: str,
    scrub: Scrub,
    history: Conversation | None,
) -> RealtimeConnection:
    logger.debug("connecting to %s", shown_url)
    deadline = anyio.current_time() + request.connect_timeout
    try:
        # The transport bounds each phase itself and says which one ran out; this is the net
        # under transports that do not.
        with anyio.fail_after(request.connect_timeout + 1.0):
            opened: Transport = await factory(request)
    except TimeoutError as exc:
        if isinstance(exc, ConnectTimeout):
            raise
        raise ConnectTimeout(
            f"no WebSocket connection within {request.connect_timeout} s (TCP, TLS or the "
            f"upgrade did not finish)"
        ) from None
    conn: RealtimeConnection | None = None
    try:
        conn = RealtimeConnection(
            opened,
            receive_buffer=receive_buffer,
            send_buffer=send_buffer,
            close_timeout=request.close_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            url=shown_url,
            scrub=scrub,
            history=history,
        )
        if wait_for_session:
            await conn._await_session(deadline)  # pyright: ignore[reportPrivateUsage]
    except BaseException:
        if conn is not None:
            conn._release()  # pyright: ignore[reportPrivateUsage]
        with anyio.move_on_after(ABORT_TIMEOUT, shield=True):
            await opened.abort()
        raise
    logger.debug("connected to %s", shown_url)
    return conn
