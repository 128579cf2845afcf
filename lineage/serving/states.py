"""The states of a model version, as TF Serving reports them (``ModelVersionStatus.State`` in
``tensorflow_serving/apis/get_model_status.proto``). The server and the client share this one
enum."""

from __future__ import annotations

import enum

__all__ = ["ModelVersionState", "state_name"]


class ModelVersionState(enum.IntEnum):
    UNKNOWN = 0
    START = 10
    LOADING = 20
    AVAILABLE = 30
    UNLOADING = 40
    END = 50


def state_name(value: int) -> str:
    """The state's name, or the number as text for a value this enum does not know."""
    try:
        return ModelVersionState(value).name
    except ValueError:
        return str(value)
