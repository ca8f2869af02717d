"""The embedded database is private to its owner: hash banks are sensitive."""

from __future__ import annotations

import stat
from pathlib import Path

from rempart.config import Settings
from rempart.store import Database, upgrade


def test_sqlite_folder_and_file_are_owner_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")

    upgrade(settings)
    Database(settings).dispose()

    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data" / "rempart.db").stat().st_mode) == 0o600
