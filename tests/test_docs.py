"""Every ```python block in README.md and docs/**/*.md runs here, offline, against the bundled
fake server, so no example in the documentation can rot.

A new page under docs/ is collected without any change to this file. Each block becomes one test
(``test_block[docs/page.md:LINE-backend]``), run in one of three ways depending on what it is:

1. **A pytest module** (it defines ``test_*`` functions): written to a temporary directory and run
   by pytest with this project's plugin and a ``conftest.py`` that runs every async test on
   asyncio and on trio.
2. **A program** (it calls ``anyio.run``, ``trio.run`` or ``asyncio.run``): executed as
   ``__main__`` with ``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` set to a running
   ``FakeRealtimeServer`` (the same variables a reader sets for ``realtime-anyio serve``; see
   docs/getting-started.md). ``anyio.run(...)`` is run once per backend (its ``backend=`` is
   replaced); ``trio.run`` / ``asyncio.run`` programs run on their own loop.
3. **A fragment** (anything else): executed with top-level ``await`` / ``async with`` allowed,
   once per backend, with the same environment and these names already defined (the pages say
   so where they use them): ``conn`` (an open connection to the fake server), ``rt`` (a
   ``Realtime`` client for it), ``server`` (the ``FakeRealtimeServer``), the modules ``anyio``,
   ``json``, ``os`` and ``pytest``, and every public name of ``realtime_anyio``,
   ``realtime_anyio.events``, ``realtime_anyio.testing``, ``realtime_anyio.audio``,
   ``realtime_anyio.conversation`` and ``realtime_anyio.tools``. A fragment must still define
   everything else it uses.

Markers: HTML comment lines right above a block's opening fence (invisible on the rendered page,
visible to anyone editing it), one per line:

* ``<!-- docs-test: given NAME, NAME -->``: the fragment uses values the surrounding text says come
  from elsewhere (your microphone, the call id a webhook delivered). The test supplies a stand-in
  for each from ``GIVEN`` below (``offer_sdp``, ``call_id``, ``microphone``, ``speaker``, ``pcm``,
  ``source``, ``sink``, ``play``, ``event``, ``call``, ``log``, ``token_provider``); add one
  there when a page needs a new one.
* ``<!-- docs-test: backend trio -->``: the block runs on that backend only (a trio-only API).
* ``<!-- docs-test: serve URL -->``: the block names a remote endpoint (an Azure resource); the
  test replaces that URL with the fake server's (``http://127.0.0.1:PORT``), which answers on
  any path that ends in ``/realtime``.
* ``<!-- docs-test: skip: REASON -->``: the opt-out, for a block that truly cannot run offline (a
  cloud account, a package that is not installed here). The reason is required. Such a block
  is not run (and not reported as a skipped test); ``test_opt_outs_are_few_and_explained``
  lists them and fails when there are more than ``MAX_OPT_OUTS``. Prefer making a block
  runnable.
"""

from __future__ import annotations

import ast
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest

import realtime_anyio
import realtime_anyio.audio
import realtime_anyio.conversation
import realtime_anyio.events
import realtime_anyio.testing
import realtime_anyio.tools
from realtime_anyio import Realtime, open_realtime
from realtime_anyio.testing import FakeRealtimeServer

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
MARKER = re.compile(
    r"^\s*<!--\s*docs-test:\s*(?:skip:\s*(?P<reason>\S.*?)|given\s+(?P<given>[\w, ]+?)"
    r"|backend\s+(?P<backend>trio|asyncio)|serve\s+(?P<serve>\S+))\s*-->\s*$"
)
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<info>[^`]*)$")
BACKENDS = ("asyncio", "trio")
API_KEY = "sk-docs-test"
#: Seconds any one block may take.
BLOCK_TIMEOUT = 20


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    code: str
    skip_reason: str | None = None
    given: tuple[str, ...] = ()
    backends: tuple[str, ...] = BACKENDS
    serve: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def kind(self) -> str:
        tree = ast.parse(self.code) if self.parses_as_module() else None
        if tree is not None and any(
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name.startswith("test_")
            for node in tree.body
        ):
            return "pytest"
        if tree is not None and any(_runner(node) is not None for node in ast.walk(tree)):
            return "program"
        return "fragment"

    def parses_as_module(self) -> bool:
        try:
            ast.parse(self.code)
        except SyntaxError:
            return False
        return True


def _runner(node: ast.AST) -> str | None:
    """``"anyio"``, ``"trio"`` or ``"asyncio"`` for a call ``<that>.run(...)``, else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "run"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in ("anyio", "trio", "asyncio")
    ):
        return node.func.value.id
    return None


def _blocks(page: Path) -> Iterator[Block]:
    lines = page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        info = fence["info"].strip().split()
        start = index
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][len(fence["indent"]) :])
            index += 1
        index += 1
        if not info or info[0] != "python":
            continue
        reason: str | None = None
        given: list[str] = []
        serve: list[str] = []
        backends = BACKENDS
        above = start - 1
        while above >= 0 and (marker := MARKER.match(lines[above])):
            if marker["reason"]:
                reason = marker["reason"]
            elif marker["given"]:
                given += [name.strip() for name in marker["given"].split(",") if name.strip()]
            elif marker["serve"]:
                serve.append(marker["serve"])
            else:
                backends = (marker["backend"],)
            above -= 1
        code = "\n".join(body) + "\n"
        yield Block(page, start + 1, code, reason, tuple(given), backends, tuple(serve))


def _cases() -> Iterator[Any]:
    for page in PAGES:
        for block in _blocks(page):
            if block.skip_reason:
                continue
            marks: list[pytest.MarkDecorator] = []
            if block.kind == "pytest" or (
                block.kind == "program" and "anyio" not in _runners(block)
            ):
                yield pytest.param(block, None, id=block.name, marks=marks)
            else:
                for backend in block.backends:
                    yield pytest.param(block, backend, id=f"{block.name}-{backend}", marks=marks)


def _runners(block: Block) -> set[str]:
    return {r for node in ast.walk(ast.parse(block.code)) if (r := _runner(node)) is not None}


CASES = list(_cases())


#: Blocks that may opt out of running, at most: each one is a page that can rot.
MAX_OPT_OUTS = 3


def test_opt_outs_are_few_and_explained() -> None:
    opted_out = [b for page in PAGES for b in _blocks(page) if b.skip_reason]
    assert len(opted_out) <= MAX_OPT_OUTS, [f"{b.name}: {b.skip_reason}" for b in opted_out]
    assert all(len(b.skip_reason or "") >= 10 for b in opted_out)


def test_every_page_is_collected() -> None:
    """The collector sees the pages it should, and every opt-out gives a reason."""
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "docs/getting-started.md", "docs/testing.md"} <= names
    assert sum(1 for _ in CASES) > 20
    for page in PAGES:
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if "docs-test:" in line:
                marker = MARKER.match(line)
                assert marker, f"{page.name}:{number}: malformed marker {line!r}"
                for name in (marker["given"] or "").split(","):
                    assert not name.strip() or name.strip() in GIVEN, f"no stand-in for {name}"


def _point_at(server: FakeRealtimeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the variables a reader sets to use ``realtime-anyio serve`` (getting-started.md)."""
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.http_url)
    for name in ("AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    # What docs/azure.md reads its key from; the fake server takes any key.
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-docs-test-key")


@pytest.mark.parametrize(("block", "backend"), CASES)
def test_block(
    block: Block, backend: str | None, monkeypatch: pytest.MonkeyPatch, pytester: pytest.Pytester
) -> None:
    if block.kind == "fragment":
        assert backend is not None
        anyio.run(_run_fragment, block, monkeypatch, backend=backend)
        return
    # Programs start their own event loop, so the server gets one of its own, on a thread.
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(FakeRealtimeServer()) as server,
    ):
        _point_at(server, monkeypatch)
        if block.kind == "pytest":
            _run_pytest_module(block, pytester)
        else:
            given = {name: portal.call(GIVEN[name], server) for name in block.given}
            _run_program(block, backend, given)


def _run_program(block: Block, backend: str | None, given: dict[str, Any]) -> None:
    tree = ast.parse(block.code, filename=block.name)
    if backend is not None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _runner(node) == "anyio":
                node.keywords = [k for k in node.keywords if k.arg != "backend"]
                node.keywords.append(ast.keyword("backend", ast.Constant(backend)))
        ast.fix_missing_locations(tree)
    code = compile(tree, block.name, "exec")
    namespace: dict[str, Any] = {"__name__": "__main__", **given}
    exec(code, namespace)


async def _run_fragment(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    namespace: dict[str, Any] = {"__name__": "__docs__", "anyio": anyio, "os": os, "pytest": pytest}
    namespace["json"] = __import__("json")
    for module in (
        realtime_anyio,
        realtime_anyio.events,
        realtime_anyio.testing,
        realtime_anyio.audio,
        realtime_anyio.conversation,
        realtime_anyio.tools,
    ):
        namespace.update({name: getattr(module, name) for name in module.__all__})
    with anyio.fail_after(BLOCK_TIMEOUT):
        async with FakeRealtimeServer() as server:
            _point_at(server, monkeypatch)
            source = _served(block, server)
            code = compile(source, block.name, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            await _run_with_context(code, namespace, block, server)


def _served(block: Block, server: FakeRealtimeServer) -> str:
    """The block's code with each ``serve`` URL pointed at the fake server."""
    code = block.code
    for url in block.serve:
        assert url in code, f"{block.name}: {url} is not in the block"
        code = code.replace(url, server.http_url.removesuffix("/v1"))
    return code


async def _run_with_context(
    code: Any, namespace: dict[str, Any], block: Block, server: FakeRealtimeServer
) -> None:
    async with (
        Realtime() as rt,
        open_realtime(model="gpt-realtime") as conn,
    ):
        namespace.update(conn=conn, rt=rt, server=server)
        for name in block.given:
            namespace[name] = await GIVEN[name](server)
        result = eval(code, namespace)
        if result is not None:
            await result


# -- stand-ins for ``given`` names ------------------------------------------------------------

SDP_OFFER = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


class _Speaker:
    """Takes audio and drops it, as a sound card would play it."""

    def __init__(self) -> None:
        self.played = 0

    async def write(self, pcm: bytes) -> None:
        await anyio.lowlevel.checkpoint()
        self.played += len(pcm)


class _Microphone:
    """A short spoken phrase then silence, in 20 ms chunks, enough for the server's VAD; then
    nothing more, as a microphone does not run out (an iterator, not an async generator, so
    that one abandoned mid-way leaves nothing to finalize)."""

    def __init__(self) -> None:
        pcm = realtime_anyio.testing.speech("Hello there") + realtime_anyio.testing.silence(1.0)
        self._chunks = iter([pcm[start : start + 960] for start in range(0, len(pcm), 960)])

    def __aiter__(self) -> _Microphone:
        return self

    async def __anext__(self) -> bytes:
        await anyio.lowlevel.checkpoint()
        for chunk in self._chunks:
            return chunk
        await anyio.sleep_forever()
        raise StopAsyncIteration


async def _value(value: Any) -> Any:
    await anyio.lowlevel.checkpoint()
    return value


async def _call_id(server: FakeRealtimeServer) -> str:
    return await server.rest.simulate_incoming_call()


GIVEN: dict[str, Callable[[FakeRealtimeServer], Awaitable[Any]]] = {
    "offer_sdp": lambda _: _value(SDP_OFFER),
    "call_id": _call_id,
    "microphone": lambda _: _value(_Microphone),
    "source": lambda _: _value(realtime_anyio.audio.tone(440, 0.2)),
    "sink": lambda _: _value(realtime_anyio.audio.VirtualSpeaker()),
    "speaker": lambda _: _value(_Speaker()),
    "pcm": lambda _: _value(bytes(48000)),  # one second of 24 kHz PCM16 silence
    "play": lambda _: _value(lambda chunk: None),
    "event": lambda _: _value(
        realtime_anyio.events.decode_server_event(
            b'{"type":"response.done","event_id":"event_1","response":'
            b'{"id":"resp_1","object":"realtime.response","status":"completed","output":[]}}'
        )
    ),
    "call": lambda _: _value(
        realtime_anyio.events.FunctionCallItem(
            name="get_weather", arguments='{"city": "Paris"}', call_id="call_1"
        )
    ),
    "log": lambda _: _value(logging.getLogger("docs")),
    "token_provider": lambda _: _value(lambda: "entra-token-from-azure-identity"),
}


CONFTEST = """
import pytest

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param
"""


def _run_pytest_module(block: Block, pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_docs_block=block.code)
    result = pytester.runpytest_inprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str()
    assert outcomes.get("passed", 0) >= 2 and not outcomes.get("skipped"), outcomes
