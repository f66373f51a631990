"""Function tools: typed Python functions the model may call, and the loop that runs them.

:func:`function_tool` turns a function (sync or async) into a :class:`ToolFunction`: its typed
parameters become the JSON schema of the session's ``tools`` entry (through msgspec's schema
generation), its docstring the description. A :class:`ToolDispatcher` runs in the user's task
group beside the app's own event loop (``await tg.start(dispatcher.run, conn)``): it watches a
subscription of the connection's events for completed ``function_call`` items, decodes their
arguments into the typed parameters, runs each call in its own cancel scope with a deadline
(sync tools in a worker thread), sends the ``function_call_output`` exactly once, and asks for
the next response when every call of a response is answered and no response is in progress.

Failures never end the session: an unknown tool, arguments that do not match the schema, an
exception, a timeout or a cancellation become an output the model can read (see
:class:`ToolFailure` and ``error_output``), logged with the call id. What happens to a running
tool when its response is interrupted (barge-in, ``response.cancel``) is each tool's
``on_interrupt`` policy: ``"finish"`` (default) lets it finish and records its output without
asking for a new response; ``"cancel"`` cancels it (for read-only or idempotent tools).

The same dispatcher answers the service's ``mcp_approval_request`` items with a policy callable
and carries the session's MCP server configuration (:class:`~realtime_anyio.events.McpTool`).
"""

from __future__ import annotations

import inspect
import logging
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

import anyio
import anyio.abc
import anyio.lowlevel
import msgspec

from ._errors import ConnectionClosed, ServerError
from .events import (
    FunctionCallItem,
    FunctionTool,
    McpApprovalRequestItem,
    McpTool,
    ResponseCreated,
    ResponseDone,
    ResponseOutputItemDone,
    Tool,
    function_call_output,
    mcp_approval_response,
)

if TYPE_CHECKING:
    from ._protocols import ConnectionLike

__all__ = [
    "FailureKind",
    "InterruptPolicy",
    "McpApprovalPolicy",
    "ToolDispatcher",
    "ToolFailure",
    "ToolFunction",
    "ToolStatistics",
    "default_error_output",
    "encode_output",
    "function_tool",
]

logger = logging.getLogger("realtime_anyio.tools")

InterruptPolicy: TypeAlias = Literal["finish", "cancel"]
"""What a running tool does when its response is interrupted: finish and record its output
(no new response is asked for), or be cancelled."""

FailureKind: TypeAlias = Literal["unknown_tool", "bad_arguments", "error", "timeout", "cancelled"]
"""Why a call produced no result."""

McpApprovalPolicy: TypeAlias = Callable[[McpApprovalRequestItem], "bool | Awaitable[bool]"]
"""Decides an MCP approval request: ``True`` approves, ``False`` declines (may be async)."""

_encoder = msgspec.json.Encoder()
_DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class ToolFailure:
    """A call that produced no result, handed to ``error_output`` to word the model's output."""

    kind: FailureKind
    name: str
    call_id: str
    message: str
    exception: BaseException | None = field(default=None, repr=False)


def default_error_output(failure: ToolFailure) -> str:
    """``{"error": kind, "message": ...}`` as JSON: the model reads it and can say or retry."""
    return _encoder.encode({"error": failure.kind, "message": failure.message}).decode()


@dataclass(frozen=True)
class ToolStatistics:
    """Counters of one dispatcher (see :meth:`ToolDispatcher.statistics`)."""

    calls: int
    succeeded: int
    failed: int
    timed_out: int
    cancelled: int
    outputs_sent: int
    responses_created: int
    responses_refused: int
    approvals: int
    ignored_calls: int


class ToolFunction:
    """A Python function the model may call, with its schema, deadline and interrupt policy.

    Build one with :func:`function_tool`. ``definition`` is the session's ``tools`` entry.
    Parameters are decoded from the call's JSON arguments with msgspec: either one parameter
    annotated with a :class:`msgspec.Struct` (the arguments are that Struct), or any number of
    typed parameters (the arguments are an object with those keys; defaults make them
    optional). Annotations must resolve at module level (``typing.get_type_hints``).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = _DEFAULT_TIMEOUT,
        on_interrupt: InterruptPolicy = "finish",
    ) -> None:
        if on_interrupt not in ("finish", "cancel"):
            raise ValueError(f"on_interrupt must be 'finish' or 'cancel', not {on_interrupt!r}")
        if timeout is not None and timeout <= 0:
            raise ValueError("timeout must be positive (or None for no deadline)")
        self.fn = fn
        self.name: str = name or getattr(fn, "__name__", "") or ""
        if not self.name:
            raise ValueError("a tool needs a name")
        doc = description if description is not None else inspect.getdoc(fn)
        self.description: str = (doc or "").strip()
        self.timeout = timeout
        self.on_interrupt: InterruptPolicy = on_interrupt
        self.is_async = inspect.iscoroutinefunction(fn)
        self._struct, self._spread = _arguments_type(fn, self.name)
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(self._struct)
        self.parameters: dict[str, Any] = _schema(self._struct)

    def __repr__(self) -> str:
        return f"<ToolFunction {self.name} timeout={self.timeout} on_interrupt={self.on_interrupt}>"

    @property
    def definition(self) -> FunctionTool:
        """The session's ``tools`` entry for this function."""
        return FunctionTool(
            name=self.name, description=self.description, parameters=self.parameters
        )

    def decode(self, arguments: str | bytes) -> dict[str, Any]:
        """The keyword arguments for the function, from the call's JSON ``arguments``.

        Raises ``msgspec.DecodeError`` / ``msgspec.ValidationError`` when they do not match.
        """
        value = self._decoder.decode(arguments or b"{}")
        if self._spread is None:
            return {name: getattr(value, name) for name in value.__struct_fields__}
        return {self._spread: value}

    async def invoke(self, arguments: str | bytes) -> str:
        """Decode ``arguments``, call the function and return its output as a string.

        A ``str`` result is returned as is; anything else is encoded as JSON. Exceptions from the
        function or the decoding propagate; there is no deadline here (the dispatcher adds it).

        Cancellation: an async tool is cancelled with the caller; a sync tool's thread runs to
        its end (threads cannot be interrupted) and the caller waits for it.
        """
        await anyio.lowlevel.checkpoint()
        kwargs = self.decode(arguments)
        if self.is_async:
            result = await self.fn(**kwargs)
        else:
            result = await anyio.to_thread.run_sync(partial(self.fn, **kwargs))
        return encode_output(result)


def encode_output(result: object) -> str:
    """A tool's return value as the ``output`` string: text as is, anything else as JSON."""
    if isinstance(result, str):
        return result
    return _encoder.encode(result).decode()


def _arguments_type(fn: Callable[..., Any], name: str) -> tuple[type[Any], str | None]:
    """The Struct the arguments decode into, and the parameter that takes it whole (if any)."""
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn, include_extras=True)
    params = [
        p
        for p in signature.parameters.values()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if len(params) == 1:
        only = hints.get(params[0].name)
        if isinstance(only, type) and issubclass(only, msgspec.Struct):
            return only, params[0].name
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for param in params:
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(f"tool {name!r}: positional-only parameter {param.name!r}")
        annotation = hints.get(param.name, Any)
        if param.default is inspect.Parameter.empty:
            fields.append((param.name, annotation))
        else:
            fields.append((param.name, annotation, param.default))
    struct = msgspec.defstruct(_struct_name(name), fields, kw_only=True)
    return struct, None


def _struct_name(name: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in name).split()
    return "".join(w[:1].upper() + w[1:] for w in words) + "Arguments"


def _schema(struct: type[Any]) -> dict[str, Any]:
    """The JSON schema of the arguments: one object, nested types under ``$defs``."""
    (top,), components = msgspec.json.schema_components([struct], ref_template="#/$defs/{name}")
    ref = top.get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    schema: dict[str, Any] = dict(components.pop(name, top))
    schema.pop("title", None)
    if components:
        schema["$defs"] = dict(components)
    return schema


@overload
def function_tool(fn: Callable[..., Any], /) -> ToolFunction: ...


@overload
def function_tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = _DEFAULT_TIMEOUT,
    on_interrupt: InterruptPolicy = "finish",
) -> Callable[[Callable[..., Any]], ToolFunction]: ...


def function_tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = _DEFAULT_TIMEOUT,
    on_interrupt: InterruptPolicy = "finish",
) -> ToolFunction | Callable[[Callable[..., Any]], ToolFunction]:
    """Declare a function as a tool: ``@function_tool`` or ``@function_tool(timeout=5)``.

    ``name`` defaults to the function's name, ``description`` to its docstring. ``timeout``
    (seconds, ``None`` for none) is the call's deadline; ``on_interrupt`` is ``"finish"`` or
    ``"cancel"`` (see the module docs).
    """

    def wrap(function: Callable[..., Any]) -> ToolFunction:
        return ToolFunction(
            function,
            name=name,
            description=description,
            timeout=timeout,
            on_interrupt=on_interrupt,
        )

    return wrap if fn is None else wrap(fn)


class _Call:
    __slots__ = ("answered", "call_id", "item", "name", "response", "scope", "tool")

    def __init__(self, item: FunctionCallItem, call_id: str, response: _Response) -> None:
        self.item = item
        self.call_id = call_id
        self.name = item.name
        self.response = response
        self.tool: ToolFunction | None = None
        self.scope = anyio.CancelScope()
        self.answered = False


class _Response:
    __slots__ = ("done", "followed_up", "id", "in_conversation", "pending", "status", "work")

    def __init__(self, response_id: str, in_conversation: bool) -> None:
        self.id = response_id
        self.in_conversation = in_conversation
        self.done = False
        self.status = "in_progress"
        self.pending: list[_Call | str] = []  # calls and approval request ids still unanswered
        self.work = 0  # calls and approval requests taken from this response
        self.followed_up = False


class _Run:
    """The state of one :meth:`ToolDispatcher.run`."""

    def __init__(self, conn: ConnectionLike, tg: anyio.abc.TaskGroup) -> None:
        self.conn = conn
        self.tg = tg
        self.responses: dict[str, _Response] = {}
        self.active: set[str] = set()  # responses writing to the conversation
        self.seen: set[str] = set()  # call ids and approval request ids already taken
        self.calls: list[_Call] = []
        self.closing = False


_WATCHED = (ResponseCreated, ResponseDone, ResponseOutputItemDone)
_CANCELLED = "the call was cancelled: its response was interrupted"


class ToolDispatcher:
    """Runs the function tools the model calls on one connection.

    Start it in your own task group, beside your event loop::

        dispatcher = ToolDispatcher([get_weather, add])
        await conn.session.update(session={"type": "realtime", "tools": dispatcher.session_tools()})
        async with anyio.create_task_group() as tg:
            await tg.start(dispatcher.run, conn)
            async for event in conn: ...

    ``error_output`` words the output of a failed call (default :func:`default_error_output`).
    ``create_response=False`` never sends ``response.create`` (the app decides). ``mcp`` are
    the session's MCP servers, passed through to :meth:`session_tools`; ``mcp_approval``
    answers their approval requests. ``reply_timeout`` bounds each wait for the server to
    acknowledge an output; ``max_buffer`` is the size of the dispatcher's event subscription.
    """

    def __init__(
        self,
        tools: Iterable[ToolFunction | Callable[..., Any]] = (),
        *,
        mcp: Iterable[McpTool] = (),
        mcp_approval: McpApprovalPolicy | None = None,
        error_output: Callable[[ToolFailure], str] = default_error_output,
        create_response: bool = True,
        reply_timeout: float = 10.0,
        max_buffer: int = 256,
    ) -> None:
        found: dict[str, ToolFunction] = {}
        for tool in tools:
            declared = tool if isinstance(tool, ToolFunction) else ToolFunction(tool)
            if declared.name in found:
                raise ValueError(f"two tools are named {declared.name!r}")
            found[declared.name] = declared
        self._tools = found
        self.mcp: list[McpTool] = list(mcp)
        self.mcp_approval = mcp_approval
        self.error_output = error_output
        self.create_response = create_response
        self.reply_timeout = reply_timeout
        self.max_buffer = max_buffer
        self._counts: dict[str, int] = dict.fromkeys(ToolStatistics.__dataclass_fields__, 0)

    def __repr__(self) -> str:
        return f"<ToolDispatcher {sorted(self._tools)}>"

    @property
    def tools(self) -> Mapping[str, ToolFunction]:
        """The function tools, by name."""
        return dict(self._tools)

    def definitions(self) -> list[FunctionTool]:
        """The function tools' session entries."""
        return [tool.definition for tool in self._tools.values()]

    def session_tools(self) -> list[Tool]:
        """Everything for the session's ``tools``: the function tools, then the MCP servers."""
        return [*self.definitions(), *self.mcp]

    def statistics(self) -> ToolStatistics:
        """A snapshot of the counters."""
        return ToolStatistics(**self._counts)

    def _count(self, name: str) -> None:
        self._counts[name] += 1

    async def run(
        self,
        conn: ConnectionLike,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve tool calls on ``conn`` until the connection closes or the task is cancelled.

        With ``await tg.start(dispatcher.run, conn)`` the subscription is in place when
        ``start`` returns, so no call made after that is missed. When the connection closes,
        calls with ``on_interrupt="cancel"`` are cancelled and the others may finish (their
        outputs can no longer be sent); ``run`` returns after them.

        Cancellation: every call still running is cancelled (sync tools' threads are waited
        for); nothing outlives ``run``. Outputs not yet sent are not sent.
        """
        async with (
            conn.subscribe(*_WATCHED, max_buffer=self.max_buffer) as events,
            anyio.create_task_group() as tg,
        ):
            state = _Run(conn, tg)
            task_status.started()
            async for event in events:
                try:
                    self._on_event(state, event)
                except Exception:  # never let one odd event stop the tools
                    logger.exception("tool dispatcher: could not handle %s", event.type)
            state.closing = True
            for call in state.calls:
                if call.tool is not None and call.tool.on_interrupt == "cancel":
                    call.scope.cancel()

    # -- events ----------------------------------------------------------------------------

    def _on_event(self, state: _Run, event: object) -> None:
        if isinstance(event, ResponseCreated):
            body = event.response
            if isinstance(body.id, str):
                in_conversation = body.conversation_id is not None
                state.responses[body.id] = _Response(body.id, in_conversation)
                if in_conversation:
                    state.active.add(body.id)
        elif isinstance(event, ResponseOutputItemDone):
            self._on_item(state, event.item, event.response_id)
        elif isinstance(event, ResponseDone):
            self._on_response_done(state, event)

    def _response(self, state: _Run, response_id: str) -> _Response:
        found = state.responses.get(response_id)
        if found is None:
            # Started after the response began: assume it writes to the conversation.
            found = state.responses[response_id] = _Response(response_id, True)
        return found

    def _on_item(self, state: _Run, item: object, response_id: str) -> None:
        if isinstance(item, FunctionCallItem):
            call_id = item.call_id
            if not isinstance(call_id, str) or call_id in state.seen:
                return
            if item.status == "incomplete":
                # Cut off mid-arguments by an interruption: there is nothing sound to run.
                state.seen.add(call_id)
                self._count("ignored_calls")
                logger.info(
                    "tool call %s (%s) was interrupted before completion", call_id, item.name
                )
                return
            response = self._response(state, response_id)
            state.seen.add(call_id)
            if not response.in_conversation:
                # Its call is not in the conversation, so no output could be attached to it.
                self._count("ignored_calls")
                logger.info("tool call %s of out-of-band response %s not run", call_id, response_id)
                return
            call = _Call(item, call_id, response)
            call.tool = self._tools.get(item.name)
            response.pending.append(call)
            response.work += 1
            state.calls.append(call)
            self._count("calls")
            state.tg.start_soon(self._serve_call, state, call, name=f"tool {item.name} {call_id}")
        elif isinstance(item, McpApprovalRequestItem):
            request_id = item.id
            if self.mcp_approval is None or not isinstance(request_id, str):
                return
            if request_id in state.seen:
                return
            state.seen.add(request_id)
            response = self._response(state, response_id)
            response.pending.append(request_id)
            response.work += 1
            self._count("approvals")
            state.tg.start_soon(self._serve_approval, state, item, request_id, response)

    def _on_response_done(self, state: _Run, event: ResponseDone) -> None:
        body = event.response
        if not isinstance(body.id, str):
            return
        state.active.discard(body.id)
        response = self._response(state, body.id)
        response.done = True
        response.status = body.status if isinstance(body.status, str) else "completed"
        if isinstance(body.output, list):
            # Calls only the summary shows (the dispatcher started late) still get answered.
            for item in body.output:
                if isinstance(item, (FunctionCallItem, McpApprovalRequestItem)):
                    self._on_item(state, item, body.id)
        if response.status == "cancelled":
            for pending in response.pending:
                if not isinstance(pending, _Call):
                    continue
                if pending.tool is not None and pending.tool.on_interrupt == "cancel":
                    pending.scope.cancel()
        self._maybe_continue(state, response)

    # -- calls -----------------------------------------------------------------------------

    async def _serve_call(self, state: _Run, call: _Call) -> None:
        output = await self._execute(state, call)
        await self._send_item(state, function_call_output(call.call_id, output), call.call_id)
        self._finish(state, call.response, call)

    async def _execute(self, state: _Run, call: _Call) -> str:
        tool = call.tool
        if tool is None:
            return self._failed(call, "unknown_tool", f"no tool named {call.name!r}")
        interrupted = call.response.status == "cancelled" or state.closing
        if call.scope.cancel_called or (interrupted and tool.on_interrupt == "cancel"):
            return self._failed(call, "cancelled", _CANCELLED)
        try:
            kwargs = tool.decode(call.item.arguments)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return self._failed(call, "bad_arguments", f"invalid arguments: {exc}", exc)
        with call.scope:
            if tool.is_async:
                return await self._run_async(call, tool, kwargs)
            return await self._run_sync(state, call, tool, kwargs)
        return self._failed(call, "cancelled", _CANCELLED)

    async def _run_async(self, call: _Call, tool: ToolFunction, kwargs: dict[str, Any]) -> str:
        with anyio.move_on_after(_deadline(tool.timeout)):
            try:
                result = await tool.fn(**kwargs)
                output = encode_output(result)
            except Exception as exc:
                return self._failed(call, "error", f"{type(exc).__name__}: {exc}", exc)
            self._count("succeeded")
            return output
        return self._failed(call, "timeout", _timeout_message(tool))

    async def _run_sync(
        self, state: _Run, call: _Call, tool: ToolFunction, kwargs: dict[str, Any]
    ) -> str:
        # A thread cannot be interrupted: the call answers at its deadline (or when cancelled)
        # while the thread runs on in the dispatcher's task group, so nothing outlives run().
        finished = anyio.Event()
        outcome: list[tuple[str, Exception | None]] = []

        async def work() -> None:
            try:
                result = await anyio.to_thread.run_sync(partial(tool.fn, **kwargs))
                outcome.append((encode_output(result), None))
            except Exception as exc:
                outcome.append(("", exc))
            finally:
                finished.set()
                if call.answered:
                    logger.info(
                        "tool call %s (%s) ended after its output was sent", call.call_id, call.name
                    )

        state.tg.start_soon(work, name=f"tool thread {call.name} {call.call_id}")
        with anyio.move_on_after(_deadline(tool.timeout)):
            await finished.wait()
        if not outcome:
            return self._failed(call, "timeout", _timeout_message(tool))
        output, error = outcome[0]
        if error is not None:
            return self._failed(call, "error", f"{type(error).__name__}: {error}", error)
        self._count("succeeded")
        return output

    def _failed(
        self, call: _Call, kind: FailureKind, message: str, exc: BaseException | None = None
    ) -> str:
        self._count({"timeout": "timed_out", "cancelled": "cancelled"}.get(kind, "failed"))
        logger.warning(
            "tool call %s (%s) %s: %s",
            call.call_id,
            call.name,
            kind,
            message,
            exc_info=exc if kind == "error" else None,
        )
        failure = ToolFailure(kind, call.name, call.call_id, message, exc)
        try:
            return self.error_output(failure)
        except Exception:
            logger.exception("error_output failed for tool call %s", call.call_id)
            return default_error_output(failure)

    # -- MCP approvals ---------------------------------------------------------------------

    async def _serve_approval(
        self, state: _Run, item: McpApprovalRequestItem, request_id: str, response: _Response
    ) -> None:
        policy = self.mcp_approval
        approve = False
        if policy is not None:
            try:
                decision = policy(item)
                if inspect.isawaitable(decision):
                    decision = await decision
                approve = bool(decision)
            except Exception:
                logger.exception("MCP approval policy failed for %s; declining", request_id)
        await self._send_item(state, mcp_approval_response(request_id, approve), request_id)
        self._finish(state, response, request_id)

    # -- sending ---------------------------------------------------------------------------

    async def _send_item(self, state: _Run, item: Any, about: str) -> None:
        conn = state.conn
        try:
            with anyio.fail_after(self.reply_timeout):
                await conn.conversation.item.create(item=item, wait=True)
            self._count("outputs_sent")
        except ServerError as exc:
            logger.warning("the server refused the answer to %s: %s", about, exc)
        except ConnectionClosed:
            logger.info("answer to %s not sent: the connection is closed", about)
        except TimeoutError:
            logger.warning("no acknowledgement of the answer to %s", about)

    def _finish(self, state: _Run, response: _Response, done: _Call | str) -> None:
        if isinstance(done, _Call):
            done.answered = True
            if done in state.calls:
                state.calls.remove(done)
        if done in response.pending:
            response.pending.remove(done)
        self._maybe_continue(state, response)

    def _maybe_continue(self, state: _Run, response: _Response) -> None:
        if response.pending or not response.done or response.followed_up:
            return
        response.followed_up = True
        state.responses.pop(response.id, None)
        if not response.work:
            return  # nothing was asked of the client: the turn is over
        if not self.create_response or state.closing or response.status != "completed":
            return
        if not response.in_conversation:
            return
        if state.active:
            logger.info("tool outputs recorded; a response is already in progress")
            return
        state.tg.start_soon(self._create_response, state)

    async def _create_response(self, state: _Run) -> None:
        try:
            with anyio.fail_after(self.reply_timeout):
                await state.conn.response.create(wait=True)
            self._count("responses_created")
        except ServerError as exc:
            self._count("responses_refused")
            if exc.code == "conversation_already_has_active_response":
                logger.info("a response started meanwhile; tool outputs are in the conversation")
            else:
                logger.warning("response.create after tool outputs refused: %s", exc)
        except ConnectionClosed:
            logger.info("no response after tool outputs: the connection is closed")
        except TimeoutError:
            logger.warning("response.create after tool outputs: no acknowledgement")


def _deadline(timeout: float | None) -> float:
    return float("inf") if timeout is None else timeout


def _timeout_message(tool: ToolFunction) -> str:
    return f"the tool did not finish within {tool.timeout} seconds"
