"""push: a blessed model into TF Serving's layout, recorded under the model's ServingEndpoint.

The model is copied to ``<serving_root>/<model_name>/<version>/`` (the next integer; written to a
temporary directory and renamed, so a server watching the base path never loads half a model).
The ``PushedModel`` artifact (model name, version, serving path, fingerprint) and the ``Push``
execution are attributed to the ``ServingEndpoint`` context named after the model, and the model
is added to the serving config file (``<store home>/serving/models.config``) if it is new there.
An unblessed model is refused unless ``force=True``; a forced push is recorded as such.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional, Union

from lineage import Input, Lineage, Output, annotate, attach_context, step
from lineage.api import current_lineage, use
from lineage.errors import LineageError
from lineage.query.taint import tainted_upstream
from lineage.recorder import current_store, record_intent
from lineage.serving.config import check_model_name, default_config_path, ensure_model
from lineage.types import Model, ModelBlessing, PushedModel
from lineage.vocab import is_blessed

__all__ = ["push", "PushRefused", "serving_root_for"]


class PushRefused(LineageError):
    """The model was not blessed (and the push was not forced)."""


def serving_root_for(lin: Lineage) -> Path:
    """``<store home>/serving`` (``./.lineage/serving``); ``LINEAGE_SERVING_ROOT`` overrides."""
    return Path(os.environ.get("LINEAGE_SERVING_ROOT") or Path(lin.artifact_root).parent / "serving")


@step(type="Push")
def _push(model: Input[Model], blessing: Input[ModelBlessing], pushed: Output[PushedModel],
          model_name: str, serving_root: str, config_path: str, force: bool = False):
    annotate(model_name=model_name, forced=bool(force))
    if not is_blessed(blessing.get("blessed")) and not force:
        failed = blessing.get("failed_thresholds") or "[]"
        raise PushRefused(
            f"model a{model.id} is not blessed (failed thresholds: {failed}); it was not pushed. "
            f"Fix the model, or push anyway with force=True (recorded as forced)")
    # the same gate as rollback, promote and unpin: nothing made from tainted data serves unforced
    taints = tainted_upstream(current_store(), model.id)
    if taints and not force:
        raise PushRefused(
            f"model a{model.id} was made from tainted data ("
            + "; ".join(f"a{t.artifact_id}: {t.reason}" for t in taints)
            + "); it was not pushed. Retrain without it, or push anyway with force=True (recorded as forced)")
    base = Path(serving_root) / model_name
    base.mkdir(parents=True, exist_ok=True)
    versions = [int(p.name) for p in base.iterdir() if p.name.isdigit()]
    version = max(versions, default=0) + 1
    # the intent first: a push killed after the rename below leaves a RUNNING Push naming this
    # version under the endpoint, which `lineage doctor` completes (the files are there) or fails
    annotate(target_version=version, serving_path=str(base / str(version)), config_path=config_path)
    attach_context("ServingEndpoint", model_name, {"model_name": model_name})
    record_intent()
    tmp = base / f".{version}.incoming"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model.uri, tmp)
    os.rename(tmp, base / str(version))
    pushed.uri = str(base / str(version))
    pushed.properties.update(model_name=model_name, pushed_version=version,
                             serving_path=str(base / str(version)), forced=bool(force))
    ensure_model(config_path, model_name, base)
    return {"model_name": model_name, "version": version, "forced": bool(force)}


def push(model, blessing, *, model_name: str, force: bool = False,
         serving_root: Union[str, Path, None] = None, config_path: Union[str, Path, None] = None,
         store: Optional[Lineage] = None):
    """Push ``model`` (blessed by ``blessing``) as the next version of ``model_name``."""
    check_model_name(model_name)  # before anything is copied or recorded
    lin = store or current_lineage()
    root = Path(serving_root) if serving_root else serving_root_for(lin)
    config = Path(config_path) if config_path else default_config_path(lin.artifact_root)
    with use(lin):
        return _push(model, blessing, model_name=model_name, serving_root=str(root.absolute()),
                     config_path=str(config.absolute()), force=force)
