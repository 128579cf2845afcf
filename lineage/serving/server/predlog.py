"""Request logging as TF Serving does it: a model's ``logging_config`` in the model config

    config { name: "reviews" base_path: "/serving/reviews"
             logging_config { log_collector_config { type: "tfrecord" filename_prefix: "/logs/reviews" }
                              sampling_config { sampling_rate: 0.1 } } }

makes the server log a sample of its Predict, Classify, Regress and MultiInference requests (gRPC
and REST alike) with their responses, as ``tensorflow.serving.PredictionLog`` protos, one TFRecord
file per model version at a time (``<filename_prefix>.<version>.<start>.<n>.tfrecord``, the format
TFX's BulkInferrer writes and TF Data Validation reads). A file is written as ``....tfrecord.part``
and renamed when closed: when it reaches ``max_bytes`` or ``max_seconds``, when another version's
file is not concerned, and when the server stops. Closed files are handed to ``on_closed`` (lineage
serve records each as a ``PredictionLogs`` artifact).

Writing is off the request path: a request only draws its sample and puts the request and
response on a bounded queue; a writer thread builds the PredictionLog and writes it. When the
queue is full the sample is dropped and counted (per file, and in a warning), never waited for.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import queue
import random
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import ServingError

log = logging.getLogger("lineage.serving")

__all__ = ["RequestLogger", "LogConfig", "ClosedLog", "log_config_of", "COLLECTOR_TYPES", "read_records", "scan",
           "ingest", "find_parts", "recover_part", "recover_parts"]

#: the log collector types this server writes (TF Serving finds its collector by this type name
#: among the ones its build registered: a fleet names its own)
COLLECTOR_TYPES = ("", "tfrecord")


@dataclasses.dataclass(frozen=True)
class LogConfig:
    prefix: str
    rate: float
    collector: str


@dataclasses.dataclass(frozen=True)
class ClosedLog:
    """A closed log file: what ``on_closed`` receives."""

    path: str
    model: str
    version: int
    records: int
    first_time: float
    last_time: float
    sampling_rate: float
    dropped: int          # samples dropped (queue full) while this file was open
    size_bytes: int
    input_statistics: Dict[str, dict] = dataclasses.field(default_factory=dict)  # lineage.statistics
    lost: int = 0         # recovered from a crashed server's .part file: bytes of its unreadable tail
    # a split model's head: its remote calls answered while this file was open, by module version
    remote: Dict[str, int] = dataclasses.field(default_factory=dict)


def log_config_of(entry: Any) -> Optional[LogConfig]:
    """A model config entry's logging config, or None; ServingError for one TF Serving would refuse."""
    if not entry.HasField("logging_config"):
        return None
    lc = entry.logging_config
    prefix = lc.log_collector_config.filename_prefix
    collector = lc.log_collector_config.type
    rate = lc.sampling_config.sampling_rate
    if collector not in COLLECTOR_TYPES:
        raise ServingError(f"Not found: Cannot find LogCollector::Factory for type: {collector} "
                           f"(this server writes TFRecord files: type \"tfrecord\")", "NOT_FOUND", 404)
    if not prefix:
        raise ServingError(f"model {entry.name}: logging_config needs log_collector_config.filename_prefix",
                           "INVALID_ARGUMENT", 400)
    if not 0.0 <= rate <= 1.0:
        raise ServingError(f"model {entry.name}: sampling_rate {rate} is not between 0 and 1",
                           "INVALID_ARGUMENT", 400)
    return LogConfig(prefix, rate, collector)


# TensorFlow's DataType numbers: the ones a request's features use, read without TensorFlow
_DT = {1: ("FLOAT", "float_val", "<f4"), 2: ("FLOAT", "double_val", "<f8"), 3: ("INT", "int_val", "<i4"),
       9: ("INT", "int64_val", "<i8"), 7: ("BYTES", "string_val", None), 10: ("INT", "bool_val", "?")}


def _tensor_values(TF: Any, tensor: Any) -> Tuple[str, List[Any]]:
    """A 0- or 1-dimensional TensorProto's values (a scalar repeated to its shape)."""
    import numpy as np

    known = _DT.get(tensor.dtype)
    if known is None:
        arr = TF.make_ndarray(tensor)
        kind = "BYTES" if arr.dtype.kind in "OSU" else "INT" if arr.dtype.kind in "iub" else "FLOAT"
        return kind, arr.reshape(-1).tolist()
    kind, field, np_type = known
    n = tensor.tensor_shape.dim[0].size if tensor.tensor_shape.dim else 1
    if tensor.tensor_content and np_type is not None:
        values = np.frombuffer(tensor.tensor_content, dtype=np_type).tolist()
    else:
        values = list(getattr(tensor, field))
        if len(values) == 1 and n > 1:
            values = values * n
    return kind, values


class InputStats:
    """The requests' input features, summarised with lineage.statistics (the code ingest uses for
    training data): scalar inputs of Predict, and tf.Example features of the other APIs."""

    def __init__(self, TF: Any) -> None:
        self.TF = TF
        self.features: Dict[str, Any] = {}

    def _feature(self, name: str, kind: str) -> Any:
        from ...statistics import FeatureStats

        acc = self.features.get(name)
        if acc is None:
            acc = self.features[name] = FeatureStats(kind)
        return acc

    def add(self, record: Any) -> None:
        try:
            kind = record.WhichOneof("log_type")
            part = getattr(record, kind)
            if kind == "predict_log":
                for name, tensor in part.request.inputs.items():
                    if len(tensor.tensor_shape.dim) > 1:
                        continue   # not a scalar feature per row
                    t, values = _tensor_values(self.TF, tensor)
                    acc = self._feature(name, t)
                    for v in values:
                        acc.add(v)
            else:
                for ex in part.request.input.example_list.examples:
                    for name, feat in ex.features.feature.items():
                        which = feat.WhichOneof("kind")
                        if which is None:
                            continue
                        values = list(getattr(feat, which).value)
                        t = {"bytes_list": "BYTES", "int64_list": "INT", "float_list": "FLOAT"}[which]
                        self._feature(name, t).add(values[0] if len(values) == 1 else None)
        except Exception:  # a feature we cannot read is left out of the statistics, not the log
            pass

    def summary(self) -> Dict[str, dict]:
        return {name: acc.summary() for name, acc in sorted(self.features.items())}


class _File:
    def __init__(self, TF: Any, cfg: LogConfig, model: str, version: int, seq: int, started: float) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(started))
        self.final = f"{cfg.prefix}.{version}.{stamp}.{os.getpid()}-{seq}.tfrecord"
        self.part = self.final + ".part"
        Path(self.part).parent.mkdir(parents=True, exist_ok=True)
        self.writer = TF.io.TFRecordWriter(self.part)
        self.model, self.version, self.rate = model, version, cfg.rate
        self.opened = started
        self.records = 0
        self.bytes = 0
        self.first = 0.0
        self.last = 0.0
        self.dropped = 0
        self.inputs = InputStats(TF)

    def write(self, data: bytes, at: float, record: Any = None) -> None:
        self.writer.write(data)
        if record is not None:
            self.inputs.add(record)
        self.records += 1
        self.bytes += len(data) + 16   # TFRecord framing: length, two CRCs
        self.first = self.first or at
        self.last = at

    def close(self) -> ClosedLog:
        self.writer.close()
        os.replace(self.part, self.final)
        return ClosedLog(self.final, self.model, self.version, self.records, self.first, self.last,
                         self.rate, self.dropped, os.path.getsize(self.final), self.inputs.summary())


class RequestLogger:
    """Samples requests, queues them, writes them (see the module docstring)."""

    def __init__(self, TF: Any, *, queue_size: int = 10_000, max_bytes: int = 64 << 20,
                 max_seconds: float = 300.0, on_closed: Optional[Callable[[ClosedLog], None]] = None) -> None:
        self.TF = TF
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.on_closed = on_closed
        self._configs: Dict[str, LogConfig] = {}
        self._queue: "queue.Queue[Any]" = queue.Queue(maxsize=queue_size)
        self._files: Dict[Tuple[str, int], _File] = {}
        self._dropped: Dict[str, int] = {}
        self.dropped_total = 0
        self.written_total = 0
        self._seq = 0
        self._random = random.Random()
        self._warned = 0.0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------- request path

    def configure(self, configs: Dict[str, LogConfig]) -> None:
        """The models that log now (a config reload); others stop logging."""
        self._configs = dict(configs)

    def prefixes(self) -> Dict[str, str]:
        """``{filename_prefix: model}`` of the models that log now."""
        return {cfg.prefix: model for model, cfg in self._configs.items()}

    def wants(self, model: str) -> Optional[LogConfig]:
        """This model's config when this request is sampled, else None (the request path's only cost)."""
        cfg = self._configs.get(model)
        if cfg is None or cfg.rate <= 0.0:
            return None
        return cfg if cfg.rate >= 1.0 or self._random.random() < cfg.rate else None

    def offer(self, model: str, version: int, kind: str, build: Callable[[], Tuple[Any, Any]]) -> None:
        """Queue one sampled request: ``build()`` (called on the writer thread) returns its
        request and response protos; ``kind`` names the PredictionLog field (``predict_log``...)."""
        try:
            self._queue.put_nowait((model, version, kind, build, time.time()))
        except queue.Full:
            with self._lock:
                self._dropped[model] = self._dropped.get(model, 0) + 1
                self.dropped_total += 1
                now = time.monotonic()
                if now - self._warned > 10:
                    self._warned = now
                    log.warning("prediction log queue full: dropped %d sampled requests so far (counted per "
                                "log file)", self.dropped_total)

    # ---------------------------------------------------------------- writer

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=1.0)
            except queue.Empty:
                self._rotate(time.time())
                continue
            batch = [first]
            if first is not None and not isinstance(first, threading.Event):
                # not woken per request: a short wait lets samples gather, so the writer takes the
                # interpreter in bursts instead of between every two requests (the p50 budget);
                # a small queue (under 1,000) is drained at once rather than risk filling it
                if self._queue.maxsize >= 1000:
                    time.sleep(0.02)
                while len(batch) < 10_000:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
            for item in batch:
                try:
                    if item is None:
                        self._close_all()
                        return
                    if isinstance(item, threading.Event):   # flush(): close what is open, then say so
                        self._close_all()
                        item.set()
                        continue
                    try:
                        self._write(*item)
                    except Exception as exc:  # one bad record never stops logging
                        log.warning("could not log a request to %s: %s", item[0], exc)
                finally:
                    self._queue.task_done()
            for f in self._files.values():   # each burst reaches the disk: a crash loses at most the next one
                f.writer.flush()

    def _write(self, model: str, version: int, kind: str, build: Callable[[], Tuple[Any, Any]], at: float) -> None:
        from tensorflow_serving.apis import prediction_log_pb2

        cfg = self._configs.get(model)
        if cfg is None:
            return
        request, response = build()
        record = prediction_log_pb2.PredictionLog()
        md = record.log_metadata
        md.model_spec.name = model
        md.model_spec.version.value = version
        sig = getattr(getattr(request, "model_spec", None), "signature_name", "")
        if sig:
            md.model_spec.signature_name = sig
        md.sampling_config.sampling_rate = cfg.rate
        md.saved_model_tags.append("serve")
        md.timestamp_secs = int(at)
        part = getattr(record, kind)
        part.request.CopyFrom(request)
        part.response.CopyFrom(response)
        key = (model, version)
        f = self._files.get(key)
        if f is not None and (f.bytes >= self.max_bytes or at - f.opened >= self.max_seconds):
            self._close(key)
            f = None
        if f is None:
            self._seq += 1
            f = self._files[key] = _File(self.TF, cfg, model, version, self._seq, at)
        with self._lock:
            f.dropped += self._dropped.pop(model, 0)
        f.write(record.SerializeToString(), at, record)
        self.written_total += 1

    def _rotate(self, now: float) -> None:
        for key, f in list(self._files.items()):
            if now - f.opened >= self.max_seconds:
                self._close(key)

    def _close(self, key: Tuple[str, int]) -> None:
        f = self._files.pop(key)
        closed = f.close()
        log.info("prediction log closed: %s (%d requests)", closed.path, closed.records)
        if self.on_closed is not None:
            try:
                self.on_closed(closed)
            except Exception as exc:  # recording it must not stop the logging
                log.warning("prediction log %s written but not recorded: %s", closed.path, exc)

    def _close_all(self) -> None:
        for key in list(self._files):
            self._close(key)

    # ------------------------------------------------------------------ control

    def flush(self, timeout: float = 30.0) -> None:
        """Write every sample queued so far and close the open files (they become ``on_closed``
        calls); returns when done."""
        done = threading.Event()
        self._queue.put(done, timeout=timeout)   # behind every sample queued before it
        done.wait(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, close every file, end the writer thread."""
        self._queue.put(None)
        self._thread.join(timeout)


# ------------------------------------------------------------------ reading the files back


def _masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC32C of ``data``."""
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path: str, limit: Optional[int] = None, *, sizes: Optional[List[int]] = None) -> Any:
    """The PredictionLog protos of a TFRecord file, in order (at most ``limit``). TFRecord
    framing is read and checked here (length, its CRC, data, its CRC); a truncated or corrupt
    record raises ValueError naming the file and how many records were intact before it. With
    ``sizes``, each intact record's byte length (framing included) is appended to it."""
    from google.protobuf.message import DecodeError
    from tensorflow_serving.apis import prediction_log_pb2

    n = 0
    total = os.path.getsize(path)
    at = 0
    with open(path, "rb") as fh:
        while limit is None or n < limit:
            head = fh.read(12)
            if not head:
                return
            if len(head) < 12:
                raise ValueError(f"{path}: truncated TFRecord header after {n} records")
            length = int.from_bytes(head[:8], "little")
            if int.from_bytes(head[8:], "little") != _masked_crc(head[:8]):
                raise ValueError(f"{path}: corrupt TFRecord length after {n} records (CRC mismatch)")
            if at + 16 + length > total:
                raise ValueError(f"{path}: truncated TFRecord after {n} records")
            data = fh.read(length)
            crc = fh.read(4)
            if len(data) < length or len(crc) < 4:
                raise ValueError(f"{path}: truncated TFRecord after {n} records")
            if int.from_bytes(crc, "little") != _masked_crc(data):
                raise ValueError(f"{path}: corrupt TFRecord after {n} records (CRC mismatch)")
            record = prediction_log_pb2.PredictionLog()
            try:
                record.ParseFromString(data)
            except DecodeError:
                raise ValueError(f"{path}: record {n + 1} is not a PredictionLog") from None
            n += 1
            at += 16 + length
            if sizes is not None:
                sizes.append(16 + length)
            yield record


PART_NAME = re.compile(r"\.(?P<version>\d+)\.\d{8}T\d{6}\.(?P<pid>\d+)-\d+\.tfrecord\.part$")


def find_parts(prefixes: Dict[str, str], *, include_live: bool = False) -> List[Tuple[str, str]]:
    """``[(path, model)]``: the ``.part`` request log files under ``prefixes`` (``{prefix:
    model}``) whose writing process is gone (its pid no longer runs on this machine; every one
    with ``include_live``)."""
    import glob

    out = []
    for prefix, model in sorted(prefixes.items()):
        for path in sorted(glob.glob(glob.escape(prefix) + ".*.tfrecord.part")):
            m = PART_NAME.search(path[len(prefix):])
            if m is None:
                continue
            if not include_live and os.path.exists(f"/proc/{m['pid']}") and int(m["pid"]) != os.getpid():
                continue   # still being written by a live server
            out.append((path, model))
    return out


def recover_part(path: str, model: str, TF: Any = None) -> ClosedLog:
    """Close a ``.part`` file a crashed server left: its intact records are kept (the file is cut
    after the last one and renamed without ``.part``); the unreadable tail's bytes are counted in
    ``lost``, never silently dropped."""
    sizes: List[int] = []
    try:
        for _ in read_records(path, sizes=sizes):
            pass
    except ValueError:
        pass   # the tail after the intact records
    good = sum(sizes)
    lost = os.path.getsize(path) - good
    final = path[:-len(".part")]
    if lost:
        os.truncate(path, good)
    os.replace(path, final)
    counts, first, last, rate, names, stats = scan(final, TF) if good else ({}, 0.0, 0.0, 0.0, set(), {})
    m = PART_NAME.search(path)
    version = next(iter(counts)) if len(counts) == 1 else int(m["version"]) if m else 0
    log.warning("recovered %s: %d intact records, %d bytes of a truncated tail lost", final,
                sum(counts.values()), lost)
    return ClosedLog(final, next(iter(names)) if len(names) == 1 else model, version, sum(counts.values()), first,
                     last, rate, 0, good, stats, lost)


def recover_parts(prefixes: Dict[str, str], TF: Any = None) -> List[ClosedLog]:
    """Recover every abandoned ``.part`` file under ``prefixes`` (see :func:`recover_part`)."""
    out = []
    for path, model in find_parts(prefixes):
        try:
            out.append(recover_part(path, model, TF))
        except OSError as exc:
            log.warning("could not recover %s: %s", path, exc)
    return out


def scan(path: str, TF: Any = None) -> Tuple[Dict[int, int], float, float, float, set, Dict[str, dict]]:
    """What a log file holds: ``({version: records}, first time, last time, sampling rate,
    {model names}, input statistics)``."""
    if TF is None:
        from .tfenv import tf
        TF = tf()
    inputs = InputStats(TF)
    counts: Dict[int, int] = {}
    first = last = 0.0
    rate = 0.0
    names = set()
    for rec in read_records(path):
        md = rec.log_metadata
        names.add(md.model_spec.name)
        counts[md.model_spec.version.value] = counts.get(md.model_spec.version.value, 0) + 1
        t = float(md.timestamp_secs)
        first = t if not first or t < first else first
        last = max(last, t)
        rate = rate or md.sampling_config.sampling_rate
        inputs.add(rec)
    return counts, first, last, rate, names, inputs.summary()


def ingest(store: Any, model_name: str, directory: str) -> List[Tuple[str, str]]:
    """Record the closed log files (``*.tfrecord``) of ``directory`` written for ``model_name``
    (by a TF Serving fleet with the same logging_config, or by lineage serve without a store):
    ``[(path, what happened)]``. A file recorded before (same path and content) is skipped; one
    holding another model's requests is refused, and said so."""
    import glob

    from ...errors import InvalidInput
    from ..predictions import already_recorded, record_prediction_log

    if not os.path.isdir(directory):
        raise InvalidInput(f"{directory} is not a directory (give the directory the log files are in)")
    out: List[Tuple[str, str]] = []
    for path in sorted(glob.glob(os.path.join(directory, "**", "*.tfrecord"), recursive=True)):
        if already_recorded(store, path) is not None:
            out.append((path, "already recorded"))
            continue
        try:
            counts, first, last, rate, names, stats = scan(path)
        except (ValueError, OverflowError, OSError) as exc:   # one bad file is reported; the others go on
            out.append((path, f"skipped, not recorded: {exc}"))
            continue
        if not counts:
            out.append((path, "empty"))
            continue
        if names != {model_name}:
            out.append((path, f"not recorded: it logs {', '.join(sorted(names))}, not {model_name}"))
            continue
        record_prediction_log(store, model_name, path, counts, first=first, last=last, sampling_rate=rate,
                              server="ingested", input_statistics=stats)
        out.append((path, f"recorded: {sum(counts.values())} requests of version(s) "
                          f"{', '.join(str(v) for v in sorted(counts))}"))
    return out
