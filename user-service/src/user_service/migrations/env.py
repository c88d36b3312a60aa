"""Alembic environment of user-service: its tables and its settings; the kit runs it."""

from __future__ import annotations

from sqlmodel import SQLModel

from user_service import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from user_service.config import get_settings
from user_service.migrations import MIGRATIONS

MIGRATIONS.run_env(SQLModel.metadata, get_settings)
