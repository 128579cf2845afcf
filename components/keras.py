"""A Keras callback that logs training metrics into the step running ``fit``.

    from lineage.components.keras import metrics_callback

    @step(type="Train")
    def train(..., model: Output[Model]):
        net.fit(train_ds, validation_data=eval_ds, epochs=5, callbacks=[metrics_callback()])

Every epoch's ``logs`` (``loss``, ``accuracy``, ``val_loss``, ...) are logged with
:func:`lineage.log_metrics` at step = the epoch number (1, 2, ...), as Keras prints them; with
``every_batches=N`` also every N-th batch's, as ``batch_<name>`` at step = batches seen. They
become the step's ``Metrics`` output, and the last values land on its ``Model`` output.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from lineage.errors import InvalidInput

from lineage.serving.server.tfenv import tf

__all__ = ["metrics_callback"]

_CLASS: Optional[type] = None


def _numbers(logs: Optional[Dict[str, Any]], prefix: str = "") -> Dict[str, float]:
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[prefix + k] = float(v)
        except (TypeError, ValueError):
            continue  # a learning-rate schedule object, say: not a number to plot
    return out


def _callback_class() -> type:
    global _CLASS
    if _CLASS is None:
        TF = tf()

        class LineageMetrics(TF.keras.callbacks.Callback):
            """Logs Keras metrics with log_metrics (see the module docstring)."""

            def __init__(self, recording: Any, every_batches: int = 0) -> None:
                super().__init__()
                self._metrics = recording.metrics
                self.every_batches = every_batches
                self._batches = 0

            def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
                for name, value in _numbers(logs).items():
                    self._metrics.add(name, value, epoch + 1)

            def on_train_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
                self._batches += 1
                if self.every_batches and self._batches % self.every_batches == 0:
                    for name, value in _numbers(logs, "batch_").items():
                        self._metrics.add(name, value, self._batches)

        _CLASS = LineageMetrics
    return _CLASS


def metrics_callback(every_batches: int = 0) -> Any:
    """A ``tf.keras`` callback logging epoch metrics (and every ``every_batches``-th batch's)
    into the @step whose body creates it."""
    from lineage.recorder.recording import active_recording

    if not isinstance(every_batches, int) or every_batches < 0:
        raise InvalidInput(f"every_batches is a whole number >= 0 (0: epochs only), not {every_batches!r}")
    try:
        recording = active_recording("metrics_callback")
    except InvalidInput:
        raise InvalidInput("metrics_callback() logs into the step that trains: create it inside the "
                           "@step body that calls fit()") from None
    return _callback_class()(recording, every_batches)
