"""Public timestamps: always UTC, six fraction digits and a Z (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel

from service_kit.timestamps import UtcTimestamp, utc_now

pytestmark = pytest.mark.unit


class _Public(BaseModel):
    at: UtcTimestamp


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 11, 24, 1, 2, 3, 456789),  # naive: taken as UTC
        datetime(2026, 11, 24, 1, 2, 3, 456789, tzinfo=UTC),
        datetime(2026, 11, 24, 2, 2, 3, 456789, tzinfo=timezone(timedelta(hours=1))),
    ],
)
def test_a_timestamp_is_sent_in_utc_with_z(at: datetime) -> None:
    assert _Public(at=at).model_dump(mode="json") == {"at": "2026-11-24T01:02:03.456789Z"}
    assert _Public(at=at).model_dump_json() == '{"at":"2026-11-24T01:02:03.456789Z"}'


def test_a_whole_second_keeps_six_fraction_digits() -> None:
    assert _Public(at=datetime(2026, 1, 1)).model_dump()["at"] == "2026-01-01T00:00:00.000000Z"


def test_now_is_aware_and_utc() -> None:
    assert utc_now().utcoffset() == timedelta(0)
