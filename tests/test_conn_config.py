"""What open_realtime asks the transport for: URL and headers for OpenAI and Azure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from realtime_anyio import AuthenticationError, LocalProtocolError, Realtime, open_realtime
from realtime_anyio.transport import ConnectRequest, memory_transport_pair

HELLO = json.dumps({"type": "session.created", "session": {"type": "realtime"}})


async def capture(**options: Any) -> ConnectRequest:
    """Open a connection with ``options`` and return the request the transport saw."""
    seen: list[ConnectRequest] = []
    client, peer = memory_transport_pair()
    await peer.send_text(HELLO)

    async def factory(request: ConnectRequest) -> Any:
        seen.append(request)
        return client

    connect = options.pop("connect", None)
    with anyio.fail_after(5):
        try:
            if connect is not None:
                async with connect(transport=factory, **options):
                    pass
            else:
                async with open_realtime(transport=factory, **options):
                    pass
        finally:
            await peer.aclose()
            await client.abort()
    return seen[0]


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT",
        "OPENAI_API_VERSION",
    ):
        monkeypatch.delenv(name, raising=False)


async def test_openai_url_and_headers() -> None:
    request = await capture(model="gpt-realtime", api_key="sk-abc")
    assert request.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert request.headers["Authorization"] == "Bearer sk-abc"
    assert request.headers["User-Agent"].startswith("realtime-anyio/")
    assert "OpenAI-Beta" not in request.headers
    assert "sk-abc" not in repr(request)


async def test_base_url_becomes_wss_and_websocket_base_url_wins() -> None:
    request = await capture(model="m", api_key="k", base_url="http://localhost:8080/v1/")
    assert request.url == "ws://localhost:8080/v1/realtime?model=m"
    request = await capture(
        model="m", api_key="k", base_url="https://x/v1", websocket_base_url="wss://ws.example/v1"
    )
    assert request.url == "wss://ws.example/v1/realtime?model=m"


async def test_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://proxy.example/v1")
    request = await capture(model="m")
    assert request.headers["Authorization"] == "Bearer sk-env"
    assert request.url.startswith("wss://proxy.example/v1/realtime?")


async def test_call_id_extra_query_extra_headers_org_project() -> None:
    request = await capture(
        call_id="rtc_123",
        api_key="k",
        extra_query={"intent": "x"},
        extra_headers={"X-Trace": "t1"},
        organization="org_1",
        project="proj_1",
    )
    assert query(request.url) == {"call_id": ["rtc_123"], "intent": ["x"]}
    assert request.headers["X-Trace"] == "t1"
    assert request.headers["OpenAI-Organization"] == "org_1"
    assert request.headers["OpenAI-Project"] == "proj_1"


async def test_key_providers_sync_and_async_are_called_on_every_connect() -> None:
    calls: list[str] = []

    def sync_key() -> str:
        calls.append("sync")
        return f"sk-{len(calls)}"

    async def async_key() -> str:
        await anyio.lowlevel.checkpoint()
        calls.append("async")
        return "sk-async"

    assert (await capture(model="m", api_key=sync_key)).headers["Authorization"] == "Bearer sk-1"
    assert (await capture(model="m", api_key=sync_key)).headers["Authorization"] == "Bearer sk-2"
    request = await capture(model="m", api_key=async_key)
    assert request.headers["Authorization"] == "Bearer sk-async"
    assert calls == ["sync", "sync", "async"]


async def test_a_provider_returning_nothing_is_an_authentication_error() -> None:
    with pytest.raises(AuthenticationError):
        await capture(model="m", api_key=lambda: "")


async def test_azure_legacy_deployment_url_with_api_key() -> None:
    request = await capture(
        azure_endpoint="https://res.openai.azure.com/",
        azure_deployment="my-realtime",
        api_version="2025-04-01-preview",
        api_key="azure-key",
    )
    parts = urlsplit(request.url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "wss",
        "res.openai.azure.com",
        "/openai/realtime",
    )
    assert query(request.url) == {
        "api-version": ["2025-04-01-preview"],
        "deployment": ["my-realtime"],
    }
    assert request.headers["api-key"] == "azure-key"
    assert "Authorization" not in request.headers


async def test_azure_model_names_the_deployment() -> None:
    request = await capture(
        azure_endpoint="https://res.openai.azure.com",
        api_version="2025-04-01-preview",
        model="dep2",
        api_key="azure-key",
    )
    assert query(request.url)["deployment"] == ["dep2"]


async def test_azure_v1_endpoint() -> None:
    request = await capture(
        azure_endpoint="https://res.openai.azure.com", model="gpt-realtime", api_key="azure-key"
    )
    assert request.url == "wss://res.openai.azure.com/openai/v1/realtime?model=gpt-realtime"
    assert request.headers["api-key"] == "azure-key"


async def test_azure_entra_token_provider() -> None:
    async def token() -> str:
        return "entra-token"

    request = await capture(
        azure_endpoint="https://res.openai.azure.com",
        api_version="2025-04-01-preview",
        azure_deployment="d",
        azure_ad_token_provider=token,
    )
    assert request.headers["Authorization"] == "Bearer entra-token"
    assert "api-key" not in request.headers


async def test_azure_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://env.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "env-azure-key")
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-04-01-preview")
    request = await capture(model="d")
    assert request.url.startswith("wss://env.openai.azure.com/openai/realtime?")
    assert request.headers["api-key"] == "env-azure-key"


async def test_azure_without_a_deployment_is_a_clear_error() -> None:
    with pytest.raises(LocalProtocolError, match="deployment"):
        await capture(azure_endpoint="https://res.openai.azure.com", api_key="k")


async def test_timeouts_and_limits_reach_the_transport() -> None:
    request = await capture(
        model="m",
        api_key="k",
        connect_timeout=3.0,
        close_timeout=1.5,
        max_message_size=1234,
        compression=True,
    )
    assert (request.connect_timeout, request.close_timeout) == (3.0, 1.5)
    assert request.max_message_size == 1234
    assert request.compression


async def test_realtime_connect_uses_its_configuration() -> None:
    async with Realtime(api_key="sk-rt", base_url="https://gw.example/v1") as rt:
        request = await capture(connect=rt.connect, model="gpt-realtime")
        assert request.url == "wss://gw.example/v1/realtime?model=gpt-realtime"
        assert request.headers["Authorization"] == "Bearer sk-rt"
        # per-connection options override the shared configuration
        request = await capture(
            connect=rt.connect, model="m", extra_headers={"X-A": "1"}, api_key="sk-other"
        )
        assert request.headers["Authorization"] == "Bearer sk-other"
        assert request.headers["X-A"] == "1"


def test_connect_request_repr_hides_headers() -> None:
    request = ConnectRequest(url="wss://x/v1/realtime", headers={"Authorization": "Bearer s"})
    assert "Bearer" not in repr(request)
    assert isinstance(request.headers, Mapping)
