"""Plain HTTP requests and responses as the fake server's REST side sees them."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["HTTPRequest", "HTTPResponse"]


@dataclass(frozen=True)
class HTTPRequest:
    """One parsed HTTP/1.1 request. Header names are lower-case; ``path`` has no query string."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=lambda: {})
    headers: dict[str, str] = field(default_factory=lambda: {})
    body: bytes = b""


@dataclass(frozen=True)
class HTTPResponse:
    """One HTTP response to write back; ``Content-Length`` is added by the server."""

    status: int
    headers: dict[str, str] = field(default_factory=lambda: {})
    body: bytes = b""
