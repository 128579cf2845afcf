"""Requests the model server refuses, with TF Serving's gRPC status and HTTP status."""

from __future__ import annotations

__all__ = ["ServingError", "not_found"]


class ServingError(Exception):
    """A request the server refuses; ``code`` is a gRPC status name, ``http`` the REST status."""

    def __init__(self, message: str, code: str = "INVALID_ARGUMENT", http: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.http = http


def not_found(msg: str) -> ServingError:
    return ServingError(msg, "NOT_FOUND", 404)

