"""``RESTClient``: one httpx client, authentication, error mapping and retries for REST calls.

httpx runs on asyncio and on trio, and every wait here is an anyio one, so the REST side works
under both. httpx exceptions are mapped once, at this boundary, into the library's own:
timeouts become :class:`~realtime_anyio.APITimeoutError`, other transport failures
:class:`~realtime_anyio.APIConnectionError`, and error statuses the specific
:class:`~realtime_anyio.APIStatusError` subclass for their code. Credentials never appear in a
message: request headers are scrubbed and every text taken from a response is redacted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Union

import anyio
import httpx
import msgspec

from .._config import ClientConfig, redact
from .._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    status_error_class,
)
from ._retry import (
    backoff_delay,
    retry_after,
    status_is_retryable,
    status_proves_not_processed,
)

__all__ = ["DEFAULT_MAX_RETRY_DELAY", "RESTClient", "Timeout"]

logger = logging.getLogger("realtime_anyio.rest")

#: A timeout in seconds for every phase of a request, or an ``httpx.Timeout``.
Timeout = Union[float, httpx.Timeout]  # noqa: UP007

#: A server that asks to wait longer than this (seconds) is not retried: the error is raised.
DEFAULT_MAX_RETRY_DELAY = 60.0

_CREDENTIAL_HEADERS = ("authorization", "api-key")
_JSON_DECODER: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
# Failures that prove the request never reached the service.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class RESTClient:
    """Sends REST requests to the Realtime endpoints with a shared configuration.

    ``timeout`` applies to each phase of a request (connect, write, each read). ``max_retries``
    is how many times a failed request may be repeated (0 disables retries). With
    ``http_client`` the given ``httpx.AsyncClient`` is used as it is (its own timeout applies
    unless a call passes one) and :meth:`aclose` leaves it open; otherwise the client is created
    on first use and closed by :meth:`aclose`.
    """

    def __init__(
        self,
        config: ClientConfig,
        *,
        timeout: Timeout = 600.0,
        max_retries: int = 2,
        http_client: httpx.AsyncClient | None = None,
        max_retry_delay: float = DEFAULT_MAX_RETRY_DELAY,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.config = config
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_delay = max_retry_delay
        self._client = http_client
        self._owns_client = http_client is None
        self._closed = False

    def __repr__(self) -> str:
        return f"RESTClient(base_url={self.config.rest_base_url()!r})"

    def _http(self) -> httpx.AsyncClient:
        if self._closed:
            raise APIConnectionError("the REST client is closed")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        return self._client

    def url(self, path: str) -> str:
        """The absolute URL of an endpoint path such as ``/realtime/client_secrets``."""
        return self.config.rest_base_url() + path

    def _query(self) -> dict[str, str]:
        query: dict[str, str] = {}
        if self.config.azure_legacy and self.config.api_version is not None:
            query["api-version"] = self.config.api_version
        query.update(self.config.extra_query)
        return query

    async def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        content_type: str | None = None,
        files: Mapping[str, tuple[None, bytes, str]] | None = None,
        safe_to_retry: bool,
        headers: Mapping[str, str] | None = None,
        timeout: Timeout | None = None,  # noqa: ASYNC109 - httpx's per-phase timeout, not a deadline
        max_retries: int | None = None,
    ) -> httpx.Response:
        """Send one request, retrying transient failures; return the successful response.

        ``safe_to_retry`` says whether repeating the request can act twice (see
        ``realtime_anyio.rest._retry``). The response body is read before returning.

        Cancellation: safe; the attempt in flight is abandoned (its connection is dropped, so
        the service may or may not have acted on it) and nothing is retried.
        """
        client = self._http()
        retries = self.max_retries if max_retries is None else max_retries
        attempt = 0
        while True:
            auth = await self.config.auth_headers()
            secrets = _secrets_of(auth) + self.config.secrets()
            all_headers = {**auth, "Accept": "application/json", **(headers or {})}
            if content_type is not None:
                all_headers["Content-Type"] = content_type
            request = client.build_request(
                method,
                self.url(path),
                params=self._query(),
                content=content,
                files=files,
                headers=all_headers,
            )
            if timeout is not None:
                request.extensions["timeout"] = httpx.Timeout(timeout).as_dict()
            try:
                response = await client.send(request)
            except httpx.RequestError as exc:
                error = _transport_error(exc, secrets)
                may_retry = safe_to_retry or isinstance(exc, _NOT_SENT)
                if attempt < retries and may_retry:
                    delay = backoff_delay(attempt)
                    logger.info(
                        "%s %s failed (%s); retry %d of %d in %.2f s",
                        method,
                        path,
                        type(exc).__name__,
                        attempt + 1,
                        retries,
                        delay,
                    )
                    await anyio.sleep(delay)
                    attempt += 1
                    continue
                raise error from exc
            finally:
                _scrub(request)
            if response.is_success:
                return response
            status = response.status_code
            may_retry = status_is_retryable(status, response.headers) and (
                safe_to_retry or status_proves_not_processed(status, response.headers)
            )
            if attempt < retries and may_retry:
                asked = retry_after(response.headers, now=time.time())
                delay = backoff_delay(attempt) if asked is None else asked
                if delay <= self.max_retry_delay:
                    logger.info(
                        "%s %s answered %d (request %s); retry %d of %d in %.2f s",
                        method,
                        path,
                        status,
                        response.headers.get("x-request-id", "-"),
                        attempt + 1,
                        retries,
                        delay,
                    )
                    await anyio.sleep(delay)
                    attempt += 1
                    continue
            raise status_error(response, secrets)

    async def aclose(self) -> None:
        """Close the httpx client if this object created it; a second call does nothing.

        Cancellation: safe; the close is shielded and completes even if the caller is cancelled.
        """
        if self._closed:
            return
        self._closed = True
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            with anyio.CancelScope(shield=True):
                await client.aclose()

    async def __aenter__(self) -> RESTClient:
        """Use the client in ``async with``; it is closed on exit.

        Cancellation: safe; nothing happens on entry.
        """
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Close the client (see :meth:`aclose`).

        Cancellation: safe; the close is shielded.
        """
        await self.aclose()


def _secrets_of(headers: Mapping[str, str]) -> tuple[str, ...]:
    found: list[str] = []
    for name, value in headers.items():
        if name.lower() in _CREDENTIAL_HEADERS and value:
            found.append(value)
            scheme, _, token = value.partition(" ")
            if token and scheme.lower() in ("bearer", "basic"):
                found.append(token.strip())
    # Longest first, so a whole header value is replaced before the token inside it.
    return tuple(sorted(set(found), key=len, reverse=True))


def _scrub(request: httpx.Request) -> None:
    """Replace credentials in a sent request, which outlives the call via responses and errors."""
    for name in _CREDENTIAL_HEADERS:
        if name in request.headers:
            request.headers[name] = "<redacted>"


def _transport_error(
    exc: httpx.RequestError, secrets: tuple[str, ...]
) -> APIConnectionError | APITimeoutError:
    detail = redact(str(exc), secrets) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"request timed out ({type(exc).__name__}): {detail}")
    return APIConnectionError(f"connection failed ({type(exc).__name__}): {detail}")


def status_error(response: httpx.Response, secrets: tuple[str, ...] = ()) -> APIStatusError:
    """The exception for an error response, with the fields of an OpenAI-shaped error body."""
    text = redact(response.content.decode("utf-8", "replace"), secrets)
    body: object = text or None
    error = _ErrorObject()
    if text:
        try:
            body = _JSON_DECODER.decode(text)
        except msgspec.DecodeError:
            body = text
        else:
            try:
                envelope = _ERROR_DECODER.decode(text)
            except msgspec.DecodeError:
                envelope = _ErrorEnvelope()
            if isinstance(envelope.error, _ErrorObject):
                error = envelope.error
            elif isinstance(envelope.error, str):
                error = _ErrorObject(message=envelope.error)
    message = error.message
    error_type = error.type
    error_code = None if error.code is None else str(error.code)
    param = error.param
    if message is None:
        reason = response.reason_phrase or "error"
        snippet = text[:200] if isinstance(body, str) else ""
        message = f"{response.status_code} {reason}" + (f": {snippet}" if snippet else "")
    exc_class = status_error_class(status_code=response.status_code)
    return exc_class(
        message,
        status_code=response.status_code,
        error_type=error_type,
        error_code=error_code,
        param=param,
        request_id=response.headers.get("x-request-id"),
        body=body,
        headers={name: redact(value, secrets) for name, value in response.headers.items()},
    )


class _ErrorObject(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    code: str | int | None = None
    param: str | None = None


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorObject | str | None = None


_ERROR_DECODER: msgspec.json.Decoder[_ErrorEnvelope] = msgspec.json.Decoder(_ErrorEnvelope)
