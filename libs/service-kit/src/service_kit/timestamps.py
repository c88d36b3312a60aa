"""Timestamps: stored in UTC, sent as ``2026-11-24T01:02:03.456789Z`` (always six fraction
digits and a ``Z``, whatever the database handed back)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_z(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The type of a public model's timestamp field.
UtcTimestamp = Annotated[datetime, PlainSerializer(_utc_z, return_type=str)]
