"""Error mapping: every ML Metadata error becomes a :class:`lineage.errors.LineageError` whose
message says what went wrong and what to do."""

from __future__ import annotations

import contextlib
from typing import Iterator

from ml_metadata import errors as mlmd_errors

from ..errors import (
    AlreadyExists,
    InvalidInput,
    LineageError,
    NotFound,
    SchemaConflict,
    StoreBusy,
    StoreError,
    StoreUnavailable,
)

__all__ = ["translated", "first_line", "mlmd_version", "mlmd_errors"]


def mlmd_version() -> str:
    from ml_metadata import __version__

    return __version__


@contextlib.contextmanager
def translated(action: str, store: str = "") -> Iterator[None]:
    """Map MLMD's errors to lineage's, with what went wrong and what to do."""
    where = f" in {store}" if store else ""
    try:
        yield
    except LineageError:
        raise
    except mlmd_errors.NotFoundError as exc:
        raise NotFound(f"{action}: not found{where} ({first_line(exc)})") from None
    except mlmd_errors.InvalidArgumentError as exc:
        raise InvalidInput(f"{action}: ML Metadata refused the request: {first_line(exc)}") from None
    except mlmd_errors.AbortedError as exc:
        raise StoreBusy(
            f"{action}: the store{where} stayed locked by another writer ({first_line(exc)}). "
            "Retry, run fewer writers at once, or use a MySQL/MariaDB store for many writers."
        ) from None
    except mlmd_errors.AlreadyExistsError as exc:
        raise AlreadyExists(f"{action}: already exists{where}: {first_line(exc)}") from None
    except mlmd_errors.FailedPreconditionError as exc:
        raise SchemaConflict(f"{action}: the store{where} refused it: {first_line(exc)}") from None
    except (mlmd_errors.UnavailableError, mlmd_errors.InternalError, mlmd_errors.UnknownError) as exc:
        hint = (". The write was probably larger than the server accepts (max_allowed_packet): record "
                "large values as files (an artifact), not as properties; the connection was renewed"
                if "gone away" in str(exc) or "packet" in str(exc) else "")
        raise StoreUnavailable(f"{action}: the store{where} failed: {first_line(exc)}{hint}") from None
    except mlmd_errors.StatusError as exc:
        raise StoreError(f"{action}{where}: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

