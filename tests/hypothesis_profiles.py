"""Hypothesis example counts: each property test's own count locally, a capped one in CI.

``.ci/run`` sets ``HYPOTHESIS_PROFILE=ci``; ``tests/conftest.py`` loads the profile named there.
A test that sets its own ``max_examples`` writes ``max_examples=examples(250)`` so that the CI cap
applies to it too (an explicit ``@settings`` value would otherwise win over any profile).
"""

from __future__ import annotations

import os

from hypothesis import settings

#: Examples per property test in CI.
CI_MAX_EXAMPLES = 30

settings.register_profile("ci", max_examples=CI_MAX_EXAMPLES, print_blob=True)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "default")
settings.load_profile(PROFILE)


def examples(count: int) -> int:
    """``count`` locally; at most ``CI_MAX_EXAMPLES`` under the ``ci`` profile."""
    return min(count, CI_MAX_EXAMPLES) if PROFILE == "ci" else count
