"""TensorFlow pipeline steps, each an ordinary ``@step`` written with lineage's public API.

    from lineage.components import ingest, transform, publish_module, resolve_module, train, evaluate, push

Importing this package does not import TensorFlow; each step imports it when it runs (with
``TF_USE_LEGACY_KERAS=1``, see :mod:`lineage.serving.server.tfenv`).
"""

from __future__ import annotations

from lineage.serving.server import tfenv  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)
from .evaluate import evaluate
from .hub import build_text_embedding, publish_module, resolve_module
from .ingest import ingest
from .push import PushRefused, push, push_saved_model
from .split import export_module, split_model
from .web import model_to_web, module_to_web
from .train import train
from .transform import transform

__all__ = ["ingest", "transform", "build_text_embedding", "publish_module", "resolve_module",
           "train", "evaluate", "push", "push_saved_model", "PushRefused", "export_module", "split_model",
           "module_to_web", "model_to_web"]
