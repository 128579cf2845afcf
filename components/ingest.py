"""ingest: a CSV ``Dataset`` to split TFRecord ``Examples``, a ``Schema`` and statistics.

Rows go to ``eval`` when ``sha256(key) % 100 < eval_percent``, else ``train``: deterministic, and
a row keeps its split when others are added. Column types are inferred (all integers: INT, all
numbers: FLOAT, else BYTES); empty cells are filled with 0 / 0.0 / "" and counted as missing, so
every feature is a fixed-length scalar. The statistics (row counts per split; per feature:
missing values, min / max / mean or vocabulary size and top values) are written as
``statistics.json`` and recorded as properties of the ``ExampleStatistics`` artifact.
"""

from __future__ import annotations

import csv
import hashlib
import json
from typing import Dict, List

from lineage import Input, Output, step
from lineage.statistics import infer_type, summarize_rows
from lineage.errors import InvalidInput
from lineage.types import Dataset, Examples, ExampleStatistics, Schema

from lineage.serving.server.tfenv import tf

__all__ = ["ingest", "split_of", "SPLITS"]

SPLITS = ("train", "eval")


def split_of(key: str, eval_percent: int) -> str:
    bucket = int(hashlib.sha256(str(key).encode()).hexdigest()[:8], 16) % 100
    return "eval" if bucket < eval_percent else "train"


_infer = infer_type        # one statistics code for training data and served requests
_stats = summarize_rows   # (lineage.statistics; the model server summarises logged inputs with it)


@step(type="Ingest", cache=True)
def ingest(raw: Input[Dataset], examples: Output[Examples], schema: Output[Schema],
           statistics: Output[ExampleStatistics], key: str = "review_id", eval_percent: int = 20,
           max_rows: int = 0):
    """Split ``raw`` (a CSV with a header) into train/eval TFRecords of tf.Example."""
    TF = tf()
    from tensorflow_metadata.proto.v0 import schema_pb2
    from google.protobuf import text_format

    if not 0 < eval_percent < 100:
        raise InvalidInput("eval_percent must be between 1 and 99")
    with open(raw.path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or key not in reader.fieldnames:
            raise InvalidInput(f"{raw.uri}: the key column {key!r} is not in the header "
                               f"({', '.join(reader.fieldnames or [])})")
        rows = list(reader)
    if max_rows:
        rows = rows[:max_rows]
    if not rows:
        raise InvalidInput(f"{raw.uri} has no data rows")
    columns = [c for c in reader.fieldnames if c != key]
    types = {c: _infer([r[c] for r in rows]) for c in columns}

    split_rows: Dict[str, List[Dict[str, str]]] = {s: [] for s in SPLITS}
    for r in rows:
        split_rows[split_of(r[key], eval_percent)].append(r)
    examples.path.mkdir()
    for split, part in split_rows.items():
        (examples.path / split).mkdir()
        with TF.io.TFRecordWriter(str(examples.path / split / "data.tfrecord")) as writer:
            for r in part:
                feats = {}
                for c, kind in types.items():
                    v = r[c]
                    if kind == "INT":
                        feats[c] = TF.train.Feature(int64_list=TF.train.Int64List(value=[int(v or 0)]))
                    elif kind == "FLOAT":
                        feats[c] = TF.train.Feature(float_list=TF.train.FloatList(value=[float(v or 0.0)]))
                    else:
                        feats[c] = TF.train.Feature(bytes_list=TF.train.BytesList(value=[v.encode()]))
                writer.write(TF.train.Example(features=TF.train.Features(feature=feats)).SerializeToString())

    proto = schema_pb2.Schema()
    for c, kind in types.items():
        feature = proto.feature.add(name=c, type=getattr(schema_pb2, kind))
        feature.presence.min_fraction = 1.0
        feature.shape.SetInParent()  # a scalar: FixedLenFeature([])
    schema.path.mkdir()
    (schema.path / "schema.pbtxt").write_text(text_format.MessageToString(proto))

    per_split = {s: _stats(part, types) for s, part in split_rows.items() if part}
    summary = {"rows": {s: len(p) for s, p in split_rows.items()}, "features": _stats(rows, types),
               "splits": per_split}
    statistics.path.mkdir()
    (statistics.path / "statistics.json").write_text(json.dumps(summary, indent=2, sort_keys=True))

    examples.properties.update(split_names=json.dumps(list(SPLITS)), row_count=len(rows))
    statistics.properties.update(
        split_names=json.dumps(list(SPLITS)), row_count=len(rows),
        **{f"rows_{s}": len(p) for s, p in split_rows.items()},
        features={c: {k: v for k, v in st.items() if k not in ("top_values", "histogram")}
                  for c, st in summary["features"].items()})
    return {"rows": summary["rows"], "features": types}
