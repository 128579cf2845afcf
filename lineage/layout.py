"""TF Serving's model directory layout: ``<base_path>/<version>/saved_model.pb``, version folders
named by number (TF Serving also reads zero-padded names such as ``00000123``)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Union

__all__ = ["versions_on_disk", "version_path"]


def versions_on_disk(base_path: Union[str, Path], saved_model_only: bool = True) -> List[int]:
    """The version directories under a model's base path, ascending: those that hold a SavedModel,
    or (``saved_model_only=False``, what TF Serving's file-system source sees) every numbered one."""
    try:
        return sorted(int(p.name) for p in Path(base_path).iterdir()
                      if p.name.isdigit() and (not saved_model_only or (p / "saved_model.pb").exists()
                                               or (p / "saved_model.pbtxt").exists()))
    except OSError:
        return []


def version_path(base_path: Union[str, Path], version: int) -> Path:
    """The folder of ``version`` under a base path: ``123``, or a zero-padded ``00000123``."""
    base = Path(base_path)
    plain = base / str(version)
    if plain.exists():
        return plain
    try:
        for p in base.iterdir():
            if p.name.isdigit() and int(p.name) == version:
                return p
    except OSError:
        pass
    return plain
