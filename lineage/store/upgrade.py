"""Migrating a store written by an older ML Metadata, explicitly: on a copy, or in place after
a backup."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import time
from pathlib import Path
from typing import Dict, Optional

from ..errors import InvalidInput, StoreNotFound
from ..uris import StoreConfig
from .connect import connect

__all__ = ["upgrade_store", "sqlite_copy"]


def sqlite_copy(src: Path, dest: Path) -> None:
    """A consistent copy of a SQLite store, what its -wal file still holds included (SQLite's
    backup API; copying the main file alone loses it)."""
    with contextlib.closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True)) as source, \
            contextlib.closing(sqlite3.connect(str(dest))) as copy:
        source.backup(copy)


def upgrade_store(config: StoreConfig, *, copy_to: Optional[Path] = None,
                  backup: bool = False) -> Dict[str, str]:
    """Migrate an older MLMD schema, explicitly: on a copy, or in place after a backup.

    Returns what was done (``upgraded``, and ``backup`` where one was made). MySQL stores are
    migrated in place only; back them up with ``mysqldump`` first and pass ``backup=True`` to
    confirm it was done.
    """
    done: Dict[str, str] = {}
    if config.backend == "sqlite":
        src = config.path
        if not src.exists():
            raise StoreNotFound(f"no store at {src}")
        if copy_to is not None:
            copy_to = Path(copy_to).absolute()
            if copy_to.exists():
                raise InvalidInput(f"{copy_to} already exists: choose a new file for the copy")
            copy_to.parent.mkdir(parents=True, exist_ok=True)
            sqlite_copy(src, copy_to)
            target = copy_to
        elif backup:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            bak = src.with_name(f"{src.name}.bak-{stamp}")
            sqlite_copy(src, bak)
            done["backup"] = str(bak)
            target = src
        else:
            raise InvalidInput(
                "an upgrade rewrites the store: pass copy_to=NEW (--copy-to NEW) to upgrade a "
                "copy, or backup=True (--backup) to upgrade in place after a backup"
            )
        config = dataclasses.replace(config, path=target)
    elif config.backend in ("mysql", "postgresql"):
        if not backup:
            tool = "mysqldump" if config.backend == "mysql" else "pg_dump"
            raise InvalidInput(
                f"back the database up first ({tool}), then confirm with --backup"
            )
    else:
        raise InvalidInput("an in-memory store never needs an upgrade")
    connect(config, upgrade=True)
    done["upgraded"] = config.redacted()
    return done
