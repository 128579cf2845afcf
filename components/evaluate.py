"""evaluate: TensorFlow Model Analysis on the eval split, with slices and thresholds.

Metrics: example count, binary accuracy, AUC, precision, recall, calibration (mean prediction /
mean label), overall and per slice (``slice_features``, e.g. cuisine and price level). The
blessing requires ``accuracy >= min_accuracy`` and ``auc >= min_auc``; with a ``baseline``
model it also requires that accuracy does not drop by more than ``max_accuracy_drop`` (TFMA
change thresholds). Outputs:

- ``ModelEvaluation``: TFMA's output directory plus ``metrics.json`` (overall and per-slice
  metrics, for people and the explorer); headline metrics also as properties;
- ``ModelBlessing``: ``blessed`` and the ``failed_thresholds`` that kept it from being blessed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Sequence

from lineage import Input, Output, log_metrics, step
from lineage.types import Examples, Model, ModelBlessing, ModelEvaluation

from lineage.serving.server.tfenv import tf

__all__ = ["evaluate"]

_METRICS = ("ExampleCount", "BinaryAccuracy", "AUC", "Precision", "Recall", "Calibration",
            "MeanLabel", "MeanPrediction")
_NAMES = {"example_count": "example_count", "binary_accuracy": "accuracy", "auc": "auc",
          "precision": "precision", "recall": "recall", "calibration": "calibration",
          "mean_label": "mean_label", "mean_prediction": "mean_prediction"}


def _slice_name(slice_key) -> str:
    if not slice_key:
        return "overall"
    return ", ".join(f"{k}={v.decode() if isinstance(v, bytes) else v}" for k, v in slice_key)


def _value(v: Dict[str, Any]) -> Any:
    if "doubleValue" in v:
        return round(float(v["doubleValue"]), 6)
    if "boundedValue" in v:
        return round(float(v["boundedValue"].get("value", 0.0)), 6)
    return None


@step(type="Evaluate")
def evaluate(model: Input[Model], examples: Input[Examples], evaluation: Output[ModelEvaluation],
             blessing: Output[ModelBlessing], baseline: Input[Model] = None, label: str = "label",
             slice_features: Sequence[str] = ("cuisine", "price_level"), min_accuracy: float = 0.7,
             min_auc: float = 0.0, max_accuracy_drop: float = 0.02):
    """Evaluate ``model`` on the raw eval split of ``examples`` with TFMA."""
    tf()
    import tensorflow_model_analysis as tfma
    from google.protobuf import text_format

    change = ("change_threshold { direction: HIGHER_IS_BETTER absolute { value: %s } }" % -max_accuracy_drop
              if baseline is not None else "")
    # Thresholds judge the overall slice; per-slice values are reported, not gated.
    thresholds = [f"""
        metrics {{ class_name: "BinaryAccuracy"
          per_slice_thresholds {{ slicing_specs {{}} threshold {{
            value_threshold {{ lower_bound {{ value: {min_accuracy} }} }} {change} }} }} }}
        metrics {{ class_name: "AUC"
          per_slice_thresholds {{ slicing_specs {{}} threshold {{
            value_threshold {{ lower_bound {{ value: {min_auc} }} }} }} }} }}"""]
    others = "\n".join(f'metrics {{ class_name: "{m}" }}' for m in _METRICS if m not in ("BinaryAccuracy", "AUC"))
    specs = [f'model_specs {{ name: "candidate" signature_name: "serve_tf_examples" label_key: "{label}" '
             f'prediction_key: "probability" }}']
    if baseline is not None:
        specs.append(f'model_specs {{ name: "baseline" signature_name: "serve_tf_examples" '
                     f'label_key: "{label}" prediction_key: "probability" is_baseline: true }}')
    slices = "slicing_specs {}\n" + "\n".join(f'slicing_specs {{ feature_keys: "{f}" }}' for f in slice_features)
    eval_config = text_format.Parse(
        "\n".join(specs) + "\n" + slices + "\nmetrics_specs {\n" + thresholds[0] + "\n" + others + "\n}",
        tfma.EvalConfig())
    shared = [tfma.default_eval_shared_model(eval_saved_model_path=model.uri, eval_config=eval_config,
                                             model_name="candidate")]
    if baseline is not None:
        shared.append(tfma.default_eval_shared_model(eval_saved_model_path=baseline.uri,
                                                     eval_config=eval_config, model_name="baseline"))
    out = evaluation.path
    out.mkdir()
    result = tfma.run_model_analysis(
        eval_shared_model=shared if len(shared) > 1 else shared[0], eval_config=eval_config,
        data_location=str(Path(examples.uri) / "eval" / "*.tfrecord"), output_path=str(out / "tfma"))

    if hasattr(result, "get_results"):  # with a baseline: one EvalResult per model
        results = result.get_results()
        result = next((r for r in results if r.model_location == model.uri), results[0])
    slices_out: Dict[str, Dict[str, Any]] = {}
    for slice_key, metrics in result.slicing_metrics:
        by_output = metrics.get("", {}).get("", {})
        if "candidate" in metrics:  # keyed by model name when there is a baseline
            by_output = metrics["candidate"].get("", {}).get("", {}) or by_output
        values = {}
        for name, v in by_output.items():
            short = name.split("/")[-1] if "/" in name else name
            key = _NAMES.get(short)
            if key and _value(v) is not None:
                values[key] = _value(v)
        slices_out[_slice_name(slice_key)] = values
    overall = slices_out.get("overall", {})
    validation = tfma.load_validation_result(str(out / "tfma"))
    failed = []
    for per_slice in validation.metric_validations_per_slice:
        for f in per_slice.failures:
            name = _NAMES.get(f.metric_key.name, f.metric_key.name)
            value = f.metric_value.double_value.value if f.metric_value.HasField("double_value") else None
            kind = "change against the baseline" if f.metric_key.is_diff else "value"
            bound = f.metric_threshold.value_threshold.lower_bound.value \
                if f.metric_threshold.HasField("value_threshold") else \
                f.metric_threshold.change_threshold.absolute.value
            failed.append(f"{name} {kind} {round(value, 4) if value is not None else '?'} "
                          f"is below {round(bound, 4)}" + (f" ({f.message})" if f.message else ""))
    blessed = bool(validation.validation_ok)
    (out / "metrics.json").write_text(json.dumps(
        {"overall": overall, "slices": slices_out, "blessed": blessed, "failed_thresholds": failed,
         "thresholds": {"min_accuracy": min_accuracy, "min_auc": min_auc,
                        "max_accuracy_drop": max_accuracy_drop if baseline is not None else None}},
        indent=2, sort_keys=True))
    evaluation.properties.update({k: v for k, v in overall.items() if isinstance(v, (int, float))})
    # the headline metrics in the runs table too, beside training's own (eval_accuracy, eval_auc, ...)
    log_metrics({f"eval_{k}": v for k, v in overall.items()
                 if isinstance(v, (int, float)) and not isinstance(v, bool)})
    blessing.path.mkdir()
    (blessing.path / ("BLESSED" if blessed else "NOT_BLESSED")).write_text(json.dumps(failed))
    blessing.properties.update(blessed=blessed, failed_thresholds=json.dumps(failed))
    return {"blessed": blessed, "overall": overall, "failed_thresholds": failed}
