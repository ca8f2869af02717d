"""Persistence: banks, cases, signals, evidence, audit log (SQLite by default, PostgreSQL)."""

from rempart.store.db import Database
from rempart.store.migrate import is_current, upgrade

__all__ = ["Database", "is_current", "upgrade"]
