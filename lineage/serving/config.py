"""TF Serving's model config file (``ModelServerConfig`` text proto), read and written safely.

The format is TF Serving's own (``tensorflow_serving.config.model_server_config_pb2``, which does
not import TensorFlow), so the same file drives a real TF Serving fleet (``--model_config_file``)
and the local server. Writes are atomic: a temporary file in the same directory, then a rename,
so a server polling the file never reads half of it.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, ContextManager, Optional, Union

from ..errors import InvalidInput
from ..layout import versions_on_disk
from ..locks import file_lock

__all__ = ["read_config", "write_config", "write_text_atomic", "ensure_model", "default_config_path", "model_entry",
           "versions_on_disk", "check_model_name", "config_lock"]

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _pb():
    # TF Serving's config message; this module of tensorflow-serving-api does not import TensorFlow.
    from tensorflow_serving.config import model_server_config_pb2

    return model_server_config_pb2


def default_config_path(artifact_root: Union[str, Path]) -> Path:
    """``<store home>/serving/models.config`` (``./.lineage/serving/models.config``)."""
    return Path(artifact_root).parent / "serving" / "models.config"


def read_config(path: Union[str, Path]) -> Any:
    """The ``ModelServerConfig`` at ``path`` (an empty one if the file does not exist)."""
    from google.protobuf import text_format

    pb = _pb()
    config = pb.ModelServerConfig()
    p = Path(path)
    if p.exists():
        try:
            text_format.Parse(p.read_text(), config)
        except text_format.ParseError as exc:
            raise InvalidInput(f"{p} is not a valid TF Serving model config (Error parsing text-format "
                               f"tensorflow.serving.ModelServerConfig: {exc})") from None
    return config


def write_config(path: Union[str, Path], config: Any) -> None:
    """Write ``config`` to ``path`` atomically (temporary file + rename)."""
    from google.protobuf import text_format

    write_text_atomic(path, text_format.MessageToString(config))


def check_model_name(name: Any) -> str:
    """A model name TF Serving accepts and that stays inside its serving root: letters, digits,
    '.', '_' and '-', not starting with '.' (so never '.', '..', a path or empty)."""
    if not isinstance(name, str) or not _MODEL_NAME.fullmatch(name):
        raise InvalidInput(f"model name {name!r}: use letters, digits, '.', '_' and '-', starting with a "
                           f"letter or digit (it names a folder in the serving root and a TF Serving model)")
    return name


def config_lock(path: Union[str, Path], *, timeout: Optional[float] = None,
                on_wait: Optional[Callable[[str], None]] = None) -> ContextManager[None]:
    """Serialise every change of a model config between processes on this machine: push,
    rollback, promote and unpin each hold it from reading the file to the server having the new
    config (or the old one restored), so no change undoes another. Waits ``timeout`` seconds at
    most (then ``LockTimeout``), calling ``on_wait(holder)`` first when it has to wait."""
    return file_lock(path, timeout=timeout, on_wait=on_wait)


def write_text_atomic(path: Union[str, Path], text: str) -> None:
    """Replace ``path`` with ``text`` so a reader sees the old file or the new one, never half.
    The file is readable by others (0644): a TF Serving process may run as another user."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=str(p.parent))
    os.chmod(tmp, 0o644)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def model_entry(config: Any, name: str) -> Optional[Any]:
    for m in config.model_config_list.config:
        if m.name == name:
            return m
    return None


def ensure_model(path: Union[str, Path], name: str, base_path: Union[str, Path]) -> bool:
    """Add ``name`` (serving the latest version under ``base_path``) if the file lacks it.
    Returns True when the file changed. An existing entry (and its version policy) is kept."""
    check_model_name(name)
    with config_lock(path):
        config = read_config(path)
        if model_entry(config, name) is not None:
            return False
        entry = config.model_config_list.config.add()
        entry.name = name
        entry.base_path = str(Path(base_path).absolute())
        entry.model_platform = "tensorflow"
        write_config(path, config)
    return True
