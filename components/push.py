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
from typing import Any, Optional, Set, Tuple, Union

from lineage import Input, Lineage, Output, annotate, attach_context, step
from lineage.api import current_lineage, use
from lineage.errors import LineageError
from lineage.records import Artifact
from lineage.query.taint import tainted_upstream
from lineage.recorder import current_store, record_intent
from lineage.serving.config import check_model_name, default_config_path, ensure_model
from lineage.types import Model, ModelBlessing, PushedModel
from lineage.vocab import is_blessed

__all__ = ["push", "push_saved_model", "PushRefused", "serving_root_for", "endpoint_claims"]


class PushRefused(LineageError):
    """The model was not blessed (and the push was not forced)."""


def endpoint_claims(store: Any, model_name: str) -> Tuple[Optional[str], Set[int]]:
    """``(serving root recorded with the endpoint, versions any push of it claimed)`` across the
    whole store: every machine's pushes number one sequence."""
    from lineage.query.serving import serving_history

    if not store.has_type("context", "ServingEndpoint"):
        return None, set()
    ctx = store.get_context_by_name("ServingEndpoint", model_name)
    if ctx is None:
        return None, set()
    claimed = {ev.version for ev in serving_history(store, model_name)
               if ev.action == "push" and ev.version is not None}
    return ctx.properties.get("serving_root"), claimed


def _check_endpoint(store: Any, model_name: str, root: Path, version: Optional[int], move: bool) -> int:
    """The version this push takes (the next after every recorded and local one, or ``version``),
    after refusing a push to a serving root other than the endpoint's (unless ``move``)."""
    recorded_root, claimed = endpoint_claims(store, model_name)
    here = str(root.absolute())
    if recorded_root and recorded_root != here and not move:
        raise PushRefused(
            f"{model_name} is served from {recorded_root} (recorded with its endpoint), not {here}: push where "
            f"its versions are served (LINEAGE_SERVING_ROOT={recorded_root}), or move the endpoint on purpose "
            f"with --move-endpoint (move_endpoint=True; recorded); nothing was pushed")
    base = root / model_name
    local = {int(p.name) for p in base.iterdir() if p.name.isdigit()} if base.is_dir() else set()
    taken = local | claimed
    if version is not None and (version in taken or (base / f".{version}.incoming").exists()):
        where = base if version in local else f"{store.config.redacted()} (pushed from another machine)"
        raise PushRefused(f"{model_name} version {version} already exists in {where}; it was not pushed "
                          f"(versions are immutable: pick another number, or leave it out for the next one)")
    return version if version is not None else max(taken, default=0) + 1


def serving_root_for(lin: Lineage) -> Path:
    """``<store home>/serving`` (``./.lineage/serving``); ``LINEAGE_SERVING_ROOT`` overrides."""
    return Path(os.environ.get("LINEAGE_SERVING_ROOT") or Path(lin.artifact_root).parent / "serving")


@step(type="Push", rerun=False)   # a rerun never deploys
def _push(model: Input[Model], blessing: Input[ModelBlessing], pushed: Output[PushedModel],
          model_name: str, serving_root: str, config_path: str, force: bool = False,
          version: Optional[int] = None, reason: str = "", move_endpoint: bool = False):
    annotate(model_name=model_name, forced=bool(force))
    from lineage.serving.heads import gate_checks, is_module_part

    # a split model's parts: a module's part is judged by the heads that call it (it has no
    # evaluation of its own); a head by the module version serving now on its module's endpoint
    split = gate_checks(current_store(), model_name, model)
    failed_split = [f"{n}: {detail}" for n, ok, detail in split if not ok]
    if failed_split and not force:
        raise PushRefused(f"model a{model.id} would not answer as it was evaluated ({'; '.join(failed_split)}); it was "
                          f"not pushed. Push the matching module first, or push anyway with force=True (recorded as forced)")
    judged = not is_module_part(model)   # by a blessing of its own
    if judged and blessing is None and not force:
        raise PushRefused(f"model a{model.id} has no blessing (no evaluation blessed it); it was not pushed. "
                          f"Evaluate it, or push anyway with force=True (recorded as forced)")
    if judged and blessing is not None and not is_blessed(blessing.get("blessed")) and not force:
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
    if force:   # what the force overrode, and why, on the record
        overridden = ([] if not judged or (blessing is not None and is_blessed(blessing.get("blessed")))
                      else ["blessing"]) + (["taint"] if taints else []) + [n for n, ok, _ in split if not ok]
        annotate(force_reason="; ".join(filter(None, [reason, f"overrode: {', '.join(overridden) or 'nothing'}"])))
    store = current_store()
    recorded_root, _ = endpoint_claims(store, model_name)
    version = _check_endpoint(store, model_name, Path(serving_root), version, move_endpoint)
    if recorded_root and recorded_root != serving_root:
        annotate(moved_endpoint_from=recorded_root)
    base = Path(serving_root) / model_name
    base.mkdir(parents=True, exist_ok=True)
    # the intent first: a push killed after the rename below leaves a RUNNING Push naming this
    # version under the endpoint, which `lineage doctor` completes (the files are there) or fails
    annotate(target_version=version, serving_path=str(base / str(version)), config_path=config_path)
    attach_context("ServingEndpoint", model_name, {"model_name": model_name, "serving_root": serving_root})
    record_intent()
    rival = _claimed_first(store, model_name, version)
    if rival is not None:   # another machine claimed the same number at the same moment: it keeps it
        raise PushRefused(f"{model_name} version {version} was claimed at the same moment by {rival} (another "
                          f"push); nothing was copied: push again for the next version")
    tmp = base / f".{version}.incoming"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(model.path, tmp)   # a model on object storage: its checked copy in the cache
    os.rename(tmp, base / str(version))
    pushed.uri = str(base / str(version))
    pushed.properties.update(model_name=model_name, pushed_version=version,
                             serving_path=str(base / str(version)), forced=bool(force))
    ensure_model(config_path, model_name, base)
    return {"model_name": model_name, "version": version, "forced": bool(force)}


def _claimed_first(store: Any, model_name: str, version: int) -> Optional[str]:
    """Another push of ``version`` recorded before this one's intent (not failed), if any."""
    from lineage.recorder import current_execution_id
    from lineage.query.serving import serving_history

    me = current_execution_id()
    for ev in serving_history(store, model_name):
        if ev.action == "push" and ev.version == version and ev.execution.id != me and ev.state != "FAILED" \
                and (me is None or ev.execution.id < me):
            return ev.execution.ref
    return None


def push(model, blessing, *, model_name: str, force: bool = False,
         serving_root: Union[str, Path, None] = None, config_path: Union[str, Path, None] = None,
         store: Optional[Lineage] = None, version: Optional[int] = None, reason: str = "",
         move_endpoint: bool = False):
    """Push ``model`` (blessed by ``blessing``; None: none, which only ``force`` lets through) as
    the next version of ``model_name`` (or as ``version``, which must be new). A forced push
    records what it overrode and ``reason``. Versions are numbered by the store's endpoint (every
    machine's pushes, one sequence); a push to a serving root other than the one recorded with the
    endpoint is refused unless ``move_endpoint`` (recorded)."""
    check_model_name(model_name)  # before anything is copied or recorded
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or not 0 < version < 2**31):
        raise PushRefused(f"version {version!r} is not a version number (1 to {2**31 - 1}); nothing was pushed")
    lin = store or current_lineage()
    root = Path(serving_root) if serving_root else serving_root_for(lin)
    config = Path(config_path) if config_path else default_config_path(lin.artifact_root)
    _check_endpoint(lin.store, model_name, root, version, move_endpoint)   # before anything is recorded
    with use(lin):
        return _push(model, blessing, model_name=model_name, serving_root=str(root.absolute()),
                     config_path=str(config.absolute()), force=force, version=version, reason=reason,
                     move_endpoint=move_endpoint)


def push_saved_model(lin: Lineage, model_dir: Union[str, Path], *, model_name: str,
                     blessing: Optional[str] = None, version: Optional[int] = None, force: bool = False,
                     reason: str = "", serving_root: Union[str, Path, None] = None,
                     config_path: Union[str, Path, None] = None, move_endpoint: bool = False):
    """``lineage push``: a SavedModel folder a user trained themselves, recorded as a ``Model``
    (fingerprinted; the same bytes reuse the recorded artifact), checked by the same gate as a
    rollback (its blessing: ``blessing`` (a ref), else the newest blessing an evaluation of it
    made; taint), copied atomically into the serving root and recorded as a ``PushedModel``.
    Everything is checked before anything is recorded or copied."""
    check_model_name(model_name)
    path = Path(model_dir)
    if not path.is_dir():
        raise PushRefused(f"{model_dir} is not a directory: give the SavedModel folder (it holds saved_model.pb)")
    if not (path / "saved_model.pb").exists() and not (path / "saved_model.pbtxt").exists():
        raise PushRefused(f"{model_dir} is not a SavedModel (no saved_model.pb or saved_model.pbtxt in it): "
                          f"export it with tf.saved_model.save or model.export")
    bless = lin.node(blessing) if blessing is not None else None
    if bless is not None and bless.type != "ModelBlessing":
        raise PushRefused(f"{blessing} is a {bless.type}, not a ModelBlessing: name the blessing an evaluation made")
    model = lookup_or_new(lin, path)
    from lineage.serving.heads import is_module_part

    judged = not (model.id is not None and is_module_part(model))   # a module's part: by its heads (in push)
    if bless is None and model.id is not None:
        bless = _newest_blessing(lin, model.id)
    if judged and bless is None and not force:
        raise PushRefused(f"{model_dir} has no blessing: evaluate it (or name one with --blessing aN), or push "
                          f"anyway with --force (recorded as forced); nothing was pushed")
    if judged and bless is not None and not is_blessed(bless.get("blessed")) and not force:
        raise PushRefused(f"{model_dir} is not blessed ({bless.ref}: failed thresholds "
                          f"{bless.get('failed_thresholds') or '[]'}): push anyway with --force (recorded); "
                          f"nothing was pushed")
    taints = tainted_upstream(lin.store, model.id) if model.id is not None else []
    if taints and not force:
        raise PushRefused(f"{model_dir} was made from tainted data ("
                          + "; ".join(f"a{t.artifact_id}: {t.reason}" for t in taints)
                          + "): push anyway with --force (recorded); nothing was pushed")
    root = Path(serving_root) if serving_root else serving_root_for(lin)
    _check_endpoint(lin.store, model_name, root, version, move_endpoint)
    return push(model, bless, model_name=model_name, force=force, serving_root=root,
                config_path=config_path, store=lin, version=version, reason=reason, move_endpoint=move_endpoint)


def lookup_or_new(lin: Lineage, path: Path) -> Artifact:
    """The recorded Model with ``path``'s bytes at ``path``, else ``Model.at(path)`` (recorded on use)."""
    from lineage.fingerprint import fingerprint
    from lineage.uris import to_uri

    found = lin.store.find_artifact("Model", to_uri(path), fingerprint(path).digest)
    return found if found is not None else Model.at(path)


def _newest_blessing(lin: Lineage, model_id: int) -> Optional[Artifact]:
    blessings = [a for e in lin.consumers(f"a{model_id}") for a in lin.outputs(e).get("blessing", [])
                 if a.type == "ModelBlessing"]
    return max(blessings, key=lambda a: a.id) if blessings else None
