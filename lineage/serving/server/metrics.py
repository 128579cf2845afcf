"""TF Serving's monitoring: a ``MonitoringConfig`` file (``prometheus_config { enable: true path:
"/monitoring/prometheus/metrics" }``) turns on a Prometheus text endpoint on the REST port with
request counts and latencies per model and API, and the versions each model has available."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

__all__ = ["Metrics", "read_monitoring_config"]

_MESSAGE: Any = None


def _monitoring_message() -> Any:
    """TF Serving's ``MonitoringConfig`` message (tensorflow_serving/config/monitoring_config.proto),
    declared here: tensorflow-serving-api does not ship it."""
    global _MESSAGE
    if _MESSAGE is None:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

        f = descriptor_pb2.FileDescriptorProto(name="lineage_monitoring_config.proto",
                                               package="tensorflow.serving", syntax="proto3")
        prom = f.message_type.add(name="PrometheusConfig")
        prom.field.add(name="enable", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
                       label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
        prom.field.add(name="path", number=2, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                       label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
        mon = f.message_type.add(name="MonitoringConfig")
        mon.field.add(name="prometheus_config", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                      type_name=".tensorflow.serving.PrometheusConfig",
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
        pool = descriptor_pool.DescriptorPool()
        pool.Add(f)
        _MESSAGE = message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))
    return _MESSAGE


def read_monitoring_config(path: str) -> Optional[str]:
    """The Prometheus path a monitoring config file enables (None when it does not)."""
    from google.protobuf import text_format

    from ...errors import InvalidInput

    config = _monitoring_message()()
    try:
        text_format.Parse(Path(path).read_text(), config)
    except (OSError, text_format.ParseError) as exc:
        raise InvalidInput(f"{path} is not a TF Serving monitoring config: {exc}") from None
    prom = config.prometheus_config
    return (prom.path or "/monitoring/prometheus/metrics") if prom.enable else None


class Metrics:
    """Request counters and latency sums per (model, API, status), thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count: Dict[Tuple[str, str, str], int] = defaultdict(int)
        self._seconds: Dict[Tuple[str, str], float] = defaultdict(float)

    def observe(self, model: str, api: str, status: str, started: float) -> None:
        with self._lock:
            self._count[(model, api, status)] += 1
            self._seconds[(model, api)] += time.perf_counter() - started

    def total(self) -> int:
        """Requests answered so far (every status)."""
        with self._lock:
            return sum(self._count.values())

    def prometheus(self, available: Dict[str, int]) -> str:
        """The Prometheus text exposition, with TF Serving's metric names."""
        with self._lock:
            count, seconds = dict(self._count), dict(self._seconds)
        lines = ["# HELP :tensorflow:serving:request_count The total number of requests.",
                 "# TYPE :tensorflow:serving:request_count counter"]
        lines += [f':tensorflow:serving:request_count{{model_name="{m}",api="{a}",status="{s}"}} {n}'
                  for (m, a, s), n in sorted(count.items())]
        lines += ["# HELP :tensorflow:serving:request_latency_seconds_sum Total time spent answering requests.",
                  "# TYPE :tensorflow:serving:request_latency_seconds_sum counter"]
        lines += [f':tensorflow:serving:request_latency_seconds_sum{{model_name="{m}",api="{a}"}} {t:.6f}'
                  for (m, a), t in sorted(seconds.items())]
        lines += ["# HELP :tensorflow:serving:model_versions_available Versions of a model available now.",
                  "# TYPE :tensorflow:serving:model_versions_available gauge"]
        lines += [f':tensorflow:serving:model_versions_available{{model_name="{m}"}} {n}'
                  for m, n in sorted(available.items())]
        return "\n".join(lines) + "\n"
