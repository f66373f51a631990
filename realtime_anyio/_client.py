"""``Realtime``: one configuration shared by WebSocket connections and the REST endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._config import ApiKey, ClientConfig, TokenProvider

if TYPE_CHECKING:
    import httpx

    from ._connection import RealtimeConnection
    from .rest import Calls, ClientSecrets, RESTClient

__all__ = ["Realtime"]


class Realtime:
    """Holds endpoint and credential settings once, like the official SDK's ``client.realtime``.

    ``rt.connect(model=...)`` opens a WebSocket connection with these settings (it takes the same
    connection options as :func:`open_realtime`); ``rt.client_secrets`` and ``rt.calls`` reach
    the REST endpoints. Use ``async with Realtime(...) as rt`` (or call :meth:`aclose`) to release
    the HTTP client it creates for REST calls.
    """

    def __init__(
        self,
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
        timeout: float = 600.0,
        max_retries: int = 2,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config = ClientConfig.from_options(
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
        self.timeout = timeout
        self.max_retries = max_retries
        self._http_client = http_client

    def __repr__(self) -> str:
        return f"Realtime(base_url={self.config.rest_base_url()!r})"

    def connect(self, **options: Any) -> AbstractAsyncContextManager[RealtimeConnection]:
        """Open a WebSocket connection with this configuration; see :func:`open_realtime`."""
        from ._open import open_realtime

        return open_realtime(config=self.config, **options)

    @cached_property
    def _rest(self) -> RESTClient:
        from .rest import RESTClient

        return RESTClient(
            self.config,
            timeout=self.timeout,
            max_retries=self.max_retries,
            http_client=self._http_client,
        )

    @cached_property
    def client_secrets(self) -> ClientSecrets:
        """Short-lived client secrets for browsers and mobile apps."""
        from .rest import ClientSecrets

        return ClientSecrets(self._rest)

    @cached_property
    def calls(self) -> Calls:
        """WebRTC call creation and SIP call control."""
        from .rest import Calls

        return Calls(self._rest)

    async def aclose(self) -> None:
        """Close the HTTP client this object created (a user-supplied one is left open).

        Cancellation: safe; the client is closed even if the wait is cancelled.
        """
        if "_rest" in self.__dict__:
            await self._rest.aclose()

    async def __aenter__(self) -> Realtime:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
