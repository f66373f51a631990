"""Endpoint and credential resolution (pure logic, no I/O besides key providers)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from realtime_anyio import AuthenticationError, LocalProtocolError
from realtime_anyio._config import USER_AGENT, ClientConfig, redact


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_defaults_come_from_the_environment() -> None:
    config = ClientConfig.from_options(
        environ={"OPENAI_API_KEY": "sk-env", "OPENAI_BASE_URL": "https://proxy.test/v1/"}
    )
    assert config.api_key == "sk-env"
    assert config.base_url == "https://proxy.test/v1"
    assert config.websocket_url(model="gpt-realtime") == (
        "wss://proxy.test/v1/realtime?model=gpt-realtime"
    )


def test_arguments_win_over_the_environment() -> None:
    config = ClientConfig.from_options(
        api_key="sk-arg", base_url="http://127.0.0.1:9/v1", environ={"OPENAI_API_KEY": "sk-env"}
    )
    assert config.api_key == "sk-arg"
    assert config.websocket_url(model="m") == "ws://127.0.0.1:9/v1/realtime?model=m"


def test_websocket_base_url_call_id_and_extra_query() -> None:
    config = ClientConfig.from_options(
        websocket_base_url="ws://127.0.0.1:5/v1/",
        extra_query={"intent": "x"},
        environ={},
    )
    url = config.websocket_url(call_id="rtc_123")
    assert url.startswith("ws://127.0.0.1:5/v1/realtime?")
    assert query(url) == {"call_id": ["rtc_123"], "intent": ["x"]}


async def test_openai_headers() -> None:
    config = ClientConfig.from_options(
        api_key="sk-secret",
        organization="org_1",
        project="proj_1",
        extra_headers={"X-Test": "1"},
        environ={},
    )
    headers = await config.auth_headers()
    assert headers == {
        "User-Agent": USER_AGENT,
        "Authorization": "Bearer sk-secret",
        "OpenAI-Organization": "org_1",
        "OpenAI-Project": "proj_1",
        "X-Test": "1",
    }
    assert "sk-secret" not in repr(config)


async def test_key_providers_sync_and_async_are_called_each_time() -> None:
    calls: list[int] = []

    def sync_key() -> str:
        calls.append(1)
        return f"sk-{len(calls)}"

    async def async_key() -> str:
        calls.append(2)
        return "sk-async"

    config = ClientConfig.from_options(api_key=sync_key, environ={})
    assert (await config.auth_headers())["Authorization"] == "Bearer sk-1"
    assert (await config.auth_headers())["Authorization"] == "Bearer sk-2"
    config = ClientConfig.from_options(api_key=async_key, environ={})
    assert (await config.auth_headers())["Authorization"] == "Bearer sk-async"
    assert calls == [1, 1, 2]


async def test_empty_key_from_provider_is_an_authentication_error() -> None:
    config = ClientConfig.from_options(api_key=lambda: "", environ={})
    with pytest.raises(AuthenticationError):
        await config.auth_headers()


async def test_azure_deployment_url_and_api_key_header() -> None:
    config = ClientConfig.from_options(
        environ={
            "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.test/",
            "AZURE_OPENAI_API_KEY": "az-key",
            "OPENAI_API_VERSION": "2025-04-01-preview",
        },
        azure_deployment="my-realtime",
    )
    url = config.websocket_url()
    assert url.startswith("wss://res.openai.azure.test/openai/realtime?")
    assert query(url) == {"api-version": ["2025-04-01-preview"], "deployment": ["my-realtime"]}
    headers = await config.auth_headers()
    assert headers["api-key"] == "az-key"
    assert "Authorization" not in headers
    assert config.rest_base_url() == "https://res.openai.azure.test/openai"


async def test_azure_v1_and_entra_token() -> None:
    async def token() -> str:
        return "entra-token"

    config = ClientConfig.from_options(
        azure_endpoint="https://res.openai.azure.test",
        azure_ad_token_provider=token,
        environ={},
    )
    assert config.rest_base_url() == "https://res.openai.azure.test/openai/v1"
    url = config.websocket_url(model="gpt-realtime")
    assert url == "wss://res.openai.azure.test/openai/v1/realtime?model=gpt-realtime"
    headers = await config.auth_headers()
    assert headers["Authorization"] == "Bearer entra-token"


def test_azure_needs_a_deployment() -> None:
    config = ClientConfig.from_options(
        azure_endpoint="https://res.openai.azure.test", api_key="k", environ={}
    )
    with pytest.raises(LocalProtocolError, match="deployment"):
        config.websocket_url()


def test_redact() -> None:
    assert redact("key sk-abc leaked sk-abc", ("sk-abc",)) == "key <redacted> leaked <redacted>"
