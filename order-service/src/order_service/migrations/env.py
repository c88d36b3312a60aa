"""Alembic environment of order-service: its tables and its settings; the kit runs it."""

from __future__ import annotations

from sqlmodel import SQLModel

from order_service import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from order_service.config import get_settings
from order_service.migrations import MIGRATIONS

MIGRATIONS.run_env(SQLModel.metadata, get_settings)
