"""The local model server (``lineage serve``): it speaks TF Serving's gRPC and REST protocols and
reads its model config, so that one machine serves with no set-up while client and rollback code
talk to it exactly as to a real TF Serving fleet. It is the only part of ``lineage`` that imports
TensorFlow, when a server starts.

==================  ===========================================================================
``core``            :class:`ModelServer`: config polling and checks, background loading, routing
``savedmodel``      a SavedModel loaded and run as TF Serving does (v1 loader, one session each)
``grpc_api``        PredictionService and ModelService over gRPC
``rest``            TF Serving's REST API
``batching``        server-side batching of concurrent requests
``codec``           b64 values, tf.Examples, numpy results as JSON
``metrics``         TF Serving's monitoring config and Prometheus endpoint
``errors``          :class:`ServingError` with gRPC and HTTP statuses
``tfenv``           TensorFlow imported quietly, with legacy Keras
==================  ===========================================================================

- Config: a ``ModelServerConfig`` text proto (``model_config_list``: name, ``base_path``,
  ``model_version_policy`` latest N / all / specific, ``version_labels``). The file is polled
  (like ``--model_config_file_poll_wait_seconds``) and base paths are watched for new versions.
  ``ModelService/HandleReloadConfigRequest`` replaces the config in memory at once.
- Loading happens in a background thread. A new version is loaded completely before it is
  swapped in (one reference assignment under a lock); versions leaving the policy are unloaded
  only after that. A request holds the version it started with, so loads and unloads never fail
  requests in flight.
- gRPC (``tensorflow_serving.apis``): PredictionService Predict, Classify, Regress,
  GetModelMetadata; ModelService GetModelStatus, HandleReloadConfigRequest.
- REST (TF Serving's URLs and JSON): ``GET /v1/models/{name}[/versions/{v}|/labels/{l}][/metadata]``
  and ``POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict|:classify|:regress`` with row
  (``instances``) or columnar (``inputs``) requests and ``{"b64": ...}`` binary values; errors are
  ``{"error": "..."}`` with TF Serving's HTTP statuses.

Binds 127.0.0.1 by default; request bodies are bounded (``max_request_bytes``). Server-side
batching of concurrent predict requests (``batch_size``, ``batch_timeout_ms``) is off by default.
"""

from __future__ import annotations

from .core import ModelServer, serve_forever
from .errors import ServingError

__all__ = ["ModelServer", "ServingError", "serve_forever"]
