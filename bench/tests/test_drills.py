from __future__ import annotations

import pytest

from bench.drills import allowed_failures

pytestmark = pytest.mark.unit


def test_allowed_failures_covers_chance_but_not_a_broken_retry() -> None:
    # 400 orders, 4 attempts at 20% 503s: 0.64 failures expected.
    allowed = allowed_failures(400, 0.2**4)
    assert 3 <= allowed <= 6
    # Without retries (one attempt) 80 failures are expected: far above the bound.
    assert allowed < 400 * 0.2 / 10


def test_allowed_failures_is_zero_when_faults_cannot_fail_an_order() -> None:
    assert allowed_failures(400, 0.0) == 0
