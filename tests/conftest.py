"""Shared test configuration: every async test runs on asyncio and on trio.

``anyio_mode = "auto"`` (pyproject) hands every ``async def`` test to anyio's plugin; this
fixture parametrizes them over both backends.
"""

from __future__ import annotations

from typing import Any

# Loads the Hypothesis profile named by HYPOTHESIS_PROFILE (.ci/run sets "ci").
import hypothesis_profiles  # noqa: F401  # pyright: ignore[reportUnusedImport]
import pytest

# tests/test_docs.py runs the pytest examples of the docs in-process.
pytest_plugins = ["pytester"]


@pytest.fixture(
    params=[
        pytest.param(("asyncio", {}), id="asyncio"),
        pytest.param(("trio", {}), id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param
