"""Endpoints and credentials: where to connect and how to authenticate.

``ClientConfig`` is resolved once from keyword arguments and the environment, the way the official
SDK reads them (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID``, ``OPENAI_PROJECT_ID``;
for Azure ``AZURE_OPENAI_API_KEY``, ``AZURE_OPENAI_ENDPOINT``, ``OPENAI_API_VERSION``). It builds
the WebSocket URL, the REST base URL and the authentication headers. API keys are kept out of
``repr`` and out of every message this module produces.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TypeAlias
from urllib.parse import urlencode, urlsplit, urlunsplit

from ._errors import AuthenticationError, LocalProtocolError

__all__ = ["ApiKey", "ClientConfig", "TokenProvider", "USER_AGENT"]

#: An API key: a string, or a sync or async callable returning one (called on every connect).
ApiKey: TypeAlias = str | Callable[[], str] | Callable[[], Awaitable[str]]
#: A provider of Microsoft Entra ID bearer tokens for Azure, sync or async.
TokenProvider: TypeAlias = Callable[[], str] | Callable[[], Awaitable[str]]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def _package_version() -> str:
    try:
        return version("realtime-anyio")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


USER_AGENT = f"realtime-anyio/{_package_version()}"


async def _resolve(source: ApiKey | TokenProvider) -> str:
    if isinstance(source, str):
        return _well_formed(source)
    value = source()
    if inspect.isawaitable(value):
        value = await value
    return _checked_key(value)


def _checked_key(value: object) -> str:
    # Providers are user code: check what they really return, whatever their annotation says.
    if not isinstance(value, str) or not value:
        raise AuthenticationError("the API key provider returned no key")
    return _well_formed(value)


def _well_formed(key: str) -> str:
    # A key read from a file often ends in a newline; the HTTP layer would refuse it with the
    # whole key in its message. Refuse it here, never showing the key.
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise LocalProtocolError(
            "the API key contains white space or a control character (a line break at the end "
            "of a key read from a file?); strip it"
        )
    return key


def _check_header(name: str, value: str) -> None:
    # The HTTP layer would refuse such a value with the whole value in its message.
    if (
        any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value)
        or value != value.strip()
    ):
        raise LocalProtocolError(
            f"the {name!r} header value has leading/trailing whitespace or a control character "
            "(a line break at the end of a key read from a file?); strip it"
        )
    if any(ord(c) > 0xFF for c in value):
        raise LocalProtocolError(f"the {name!r} header value has non-Latin-1 characters")


def _http_to_ws(url: str) -> str:
    scheme, rest = url.split("://", 1) if "://" in url else ("https", url)
    scheme = {"https": "wss", "http": "ws"}.get(scheme.lower(), scheme.lower())
    return f"{scheme}://{rest}"


@dataclass(frozen=True)
class ClientConfig:
    """Resolved connection settings shared by the WebSocket and the REST sides.

    Build it with :meth:`from_options`; every argument there is optional and falls back to the
    environment. The dataclass is frozen and safe to share between connections.
    """

    api_key: ApiKey | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    websocket_base_url: str | None = None
    organization: str | None = None
    project: str | None = None
    extra_headers: Mapping[str, str] = field(default_factory=lambda: {})
    extra_query: Mapping[str, str] = field(default_factory=lambda: {})
    azure_endpoint: str | None = None
    azure_deployment: str | None = None
    api_version: str | None = None
    azure_ad_token_provider: TokenProvider | None = field(default=None, repr=False)

    @classmethod
    def from_options(
        cls,
        *,
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
        environ: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Resolve settings from the arguments, then the environment, then the defaults."""
        env = os.environ if environ is None else environ
        azure_endpoint = azure_endpoint or env.get("AZURE_OPENAI_ENDPOINT") or None
        if azure_endpoint is not None:
            api_version = api_version or env.get("OPENAI_API_VERSION") or None
            if api_key is None and azure_ad_token_provider is None:
                api_key = env.get("AZURE_OPENAI_API_KEY") or None
        elif api_key is None:
            api_key = env.get("OPENAI_API_KEY") or None
        return cls(
            api_key=api_key,
            base_url=(base_url or env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            websocket_base_url=websocket_base_url.rstrip("/") if websocket_base_url else None,
            organization=organization or env.get("OPENAI_ORG_ID") or None,
            project=project or env.get("OPENAI_PROJECT_ID") or None,
            extra_headers=dict(extra_headers or {}),
            extra_query=dict(extra_query or {}),
            azure_endpoint=azure_endpoint.rstrip("/") if azure_endpoint else None,
            azure_deployment=azure_deployment,
            api_version=api_version,
            azure_ad_token_provider=azure_ad_token_provider,
        )

    @property
    def is_azure(self) -> bool:
        """Whether requests go to an Azure OpenAI resource."""
        return self.azure_endpoint is not None

    @property
    def azure_legacy(self) -> bool:
        """Azure's deployment-scoped API (``/openai/realtime?api-version=…&deployment=…``).

        With an ``azure_endpoint`` and no ``api_version`` (or ``api_version="v1"``), Azure's v1 API
        is used instead: ``{endpoint}/openai/v1`` as the base URL with OpenAI-style paths.
        """
        return self.is_azure and self.api_version not in (None, "v1")

    def rest_base_url(self) -> str:
        """The base URL for REST calls (``/realtime/...`` paths are appended to it)."""
        if self.azure_endpoint is not None:
            return f"{self.azure_endpoint}/openai" + ("" if self.azure_legacy else "/v1")
        return self.base_url

    def websocket_url(self, *, model: str | None = None, call_id: str | None = None) -> str:
        """The full ``ws(s)://…/realtime?…`` URL for one connection."""
        query: dict[str, str] = {}
        if self.is_azure:
            deployment = self.azure_deployment or model
            if not deployment and not call_id:
                raise LocalProtocolError(
                    "Azure needs a deployment: pass azure_deployment= or model="
                )
            if self.azure_legacy:
                assert self.api_version is not None
                query["api-version"] = self.api_version
                if deployment:
                    query["deployment"] = deployment
            elif deployment:
                query["model"] = deployment
        elif model is not None:
            query["model"] = model
        if call_id is not None:
            query["call_id"] = call_id
        query.update(self.extra_query)
        base = urlsplit(self.websocket_base_url or _http_to_ws(self.rest_base_url()))
        # A base URL may carry its own query (a proxy's routing key): keep it, after the path.
        path = base.path.rstrip("/") + "/realtime"
        merged = "&".join(p for p in (base.query, urlencode(query)) if p)
        return urlunsplit((base.scheme, base.netloc, path, merged, base.fragment))

    async def auth_headers(self) -> dict[str, str]:
        """Headers for one connection or request; key providers are called here, each time."""
        headers: dict[str, str] = {"User-Agent": USER_AGENT}
        if self.is_azure:
            if self.api_key is not None:
                headers["api-key"] = await _resolve(self.api_key)
            elif self.azure_ad_token_provider is not None:
                token = await _resolve(self.azure_ad_token_provider)
                headers["Authorization"] = f"Bearer {token}"
        elif self.api_key is not None:
            headers["Authorization"] = f"Bearer {await _resolve(self.api_key)}"
        if self.organization:
            headers["OpenAI-Organization"] = self.organization
        if self.project:
            headers["OpenAI-Project"] = self.project
        headers.update(self.extra_headers)
        for name, value in headers.items():
            _check_header(name, value)
        return headers

    def secrets(self) -> tuple[str, ...]:
        """The literal secrets this configuration holds, for scrubbing from messages."""
        return tuple(s for s in (self.api_key,) if isinstance(s, str) and s)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every occurrence of each secret in ``text`` with a short marker."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text
