"""Turning request values into tensors' inputs and outputs back into JSON: ``{"b64": ...}``
binary values, tf.Example features of classify/regress requests, numpy results as lists."""

from __future__ import annotations

import base64
import functools
from typing import Any, Dict, Tuple

from .errors import ServingError

__all__ = ["single_input", "tensor_to_array", "is_b64", "decode", "tolist", "json_default", "to_example", "classifications",
           "typed_tensor_proto", "rest_value"]


def single_input(v: Any, sig: str, kind: str) -> str:
    """The input (``inputs``) of a classify or regress signature, which takes serialized
    tf.Examples; refused with TF Serving's wording when the signature has another form."""
    sd = v.signature_defs.get(sig)
    if sd is None or sig.startswith("__"):
        raise ServingError(f"No signature was found with the name: {sig}")
    if len(sd.inputs) != 1:
        raise ServingError("Expected one input Tensor.")
    if "inputs" not in sd.inputs:
        what = "classification" if kind == "classify" else "regression"
        raise ServingError(f"No {what} inputs found in SignatureDef: {_debug_string(sd)}")
    return "inputs"


def _debug_string(message: Any) -> str:
    from google.protobuf import text_format

    return text_format.MessageToString(message, as_one_line=True)[:500]


def tensor_to_array(TF: Any, proto: Any, limit: int, name: str) -> Any:
    """A request's TensorProto as a numpy array, refused before allocating when its shape would
    expand it past ``limit`` bytes (a proto may claim a large shape and carry one value, which
    TensorFlow repeats to fill it). The array equals ``tf.make_ndarray``'s (the common dtypes are
    read here with numpy, without TensorFlow's per-call dtype lookups; the others through it)."""
    if proto.tensor_shape.unknown_rank:
        raise ServingError(f"input {name!r}: a request tensor needs a known shape")
    shape = [d.size for d in proto.tensor_shape.dim]
    count = 1
    for size in shape:
        if size < 0:
            raise ServingError(f"input {name!r}: dimension {size} is negative")
        count *= size
    fast = _fast_dtypes()[0].get(proto.dtype)
    if fast is None or (fast[1] == "string_val" and proto.tensor_content):
        return _slow_tensor_to_array(TF, proto, limit, name, shape, count)
    np_dtype, field, size = fast
    if count * size > limit:
        raise _too_big(name, shape, count * size, limit)
    import numpy as np

    content = proto.tensor_content
    if content:
        if len(content) != count * size:
            raise ServingError(f"tensor parsing error: {name}: tensor_content holds {len(content)} "
                               f"bytes, shape {shape} of {np.dtype(np_dtype).name} needs {count * size}")
        return np.frombuffer(content, dtype=np_dtype).copy().reshape(shape)
    _check_value_count(proto, name, shape, count)
    if field == "string_val":   # as make_ndarray: np.pad cannot pad object arrays
        strings = list(proto.string_val)
        if len(strings) < count:
            strings.extend([strings[-1] if strings else ""] * (count - len(strings)))
        return np.array(strings, dtype=object).reshape(shape)
    values = _packed_floats(proto, field, np_dtype) if field in _PACKED and len(getattr(proto, field)) >= 32 else None
    if values is None:
        values = np.fromiter(getattr(proto, field), dtype=np_dtype)
    if values.size == 0:
        return np.zeros(shape, np_dtype)
    if values.size != count:   # TensorFlow's rule: the last value repeats
        values = np.pad(values, (0, count - values.size), "edge")
    return values.reshape(shape)


def _too_big(name: str, shape: Any, nbytes: int, limit: int) -> ServingError:
    return ServingError(f"input {name!r} of shape {shape} would take {nbytes} bytes, over the server's limit of "
                        f"{limit} bytes per tensor", "RESOURCE_EXHAUSTED", 413)


def _check_value_count(proto: Any, name: str, shape: Any, count: int) -> None:
    # complex values take two entries (real, imaginary) each
    given = max((len(value) // (2 if field.name in ("scomplex_val", "dcomplex_val") else 1)
                 for field, value in proto.ListFields() if field.name in _VALUE_FIELD_SET), default=0)
    if given > count:   # fewer is TensorFlow's rule (the last value repeats), more is an error
        raise ServingError(f"tensor parsing error: {name}: {given} values for shape {shape} "
                           f"({count} element{'s' if count != 1 else ''})")


def _slow_tensor_to_array(TF: Any, proto: Any, limit: int, name: str, shape: Any, count: int) -> Any:
    """The other dtypes (half, complex, quantized...) and string tensor_content: TensorFlow reads them."""
    import numpy as np

    try:
        dtype = TF.dtypes.as_dtype(proto.dtype)
    except (TypeError, ValueError, KeyError):
        raise ServingError(f"tensor parsing error: {name}: unknown dtype {proto.dtype}") from None
    try:
        size = max(dtype.size, 1)
    except (TypeError, ValueError):  # a dtype with no fixed size (strings)
        size = 1
    if count * size > limit:
        raise _too_big(name, shape, count * size, limit)
    if proto.tensor_content:
        if len(proto.tensor_content) != count * size:
            raise ServingError(f"tensor parsing error: {name}: tensor_content holds {len(proto.tensor_content)} "
                               f"bytes, shape {shape} of {dtype.name} needs {count * size}")
    else:
        _check_value_count(proto, name, shape, count)
    try:
        return np.asarray(TF.make_ndarray(proto))
    except Exception as exc:   # whatever TensorFlow makes of a proto it cannot read: the request's fault
        raise ServingError(f"tensor parsing error: {name}: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from None


@functools.lru_cache(maxsize=None)
def _fast_dtypes() -> Tuple[Dict[int, Any], Dict[Any, Any]]:
    """The dtypes read and written here without TensorFlow (tensorflow/core/framework/types.proto):
    DataType enum -> (numpy dtype, TensorProto's value field, bytes per value), and numpy dtype ->
    (DataType enum, value field)."""
    import numpy as np

    by_enum: Dict[int, Any] = {}
    by_numpy: Dict[Any, Any] = {}
    for enum, np_dtype, field in ((1, np.float32, "float_val"), (2, np.float64, "double_val"),
                                  (3, np.int32, "int_val"), (4, np.uint8, "int_val"), (5, np.int16, "int_val"),
                                  (6, np.int8, "int_val"), (7, object, "string_val"), (9, np.int64, "int64_val"),
                                  (10, np.bool_, "bool_val"), (17, np.uint16, "int_val"),
                                  (22, np.uint32, "uint32_val"), (23, np.uint64, "uint64_val")):
        by_numpy[np.dtype(np_dtype)] = (enum, field)
        by_enum[enum] = (np_dtype, field, 1 if np_dtype is object else np.dtype(np_dtype).itemsize)
    return by_enum, by_numpy


_VALUE_FIELDS = ("half_val", "float_val", "double_val", "int_val", "string_val", "scomplex_val", "int64_val",
                 "bool_val", "dcomplex_val", "uint32_val", "uint64_val", "resource_handle_val", "variant_val")
_VALUE_FIELD_SET = frozenset(_VALUE_FIELDS)


def is_b64(x: Any) -> bool:
    return isinstance(x, dict) and set(x) == {"b64"}


def decode(x: Any) -> Any:
    if is_b64(x):
        try:
            return base64.b64decode(x["b64"], validate=True)
        except (ValueError, TypeError):
            raise ServingError("Invalid base64 value in {\"b64\": ...}") from None
    if isinstance(x, list):
        return [decode(i) for i in x]
    return x


def tolist(a: Any) -> Any:
    if hasattr(a, "tolist"):
        a = a.tolist()
    if isinstance(a, bytes):
        try:
            return a.decode()
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(a).decode()}
    if isinstance(a, list):
        return [tolist(i) for i in a]
    return a


def json_default(o: Any) -> Any:
    return tolist(o)


def to_example(TF, feats: Dict[str, Any]):
    out = {}
    for k, v in feats.items():
        vals = v if isinstance(v, list) else [v]
        if all(isinstance(x, bool) or isinstance(x, int) for x in vals):
            out[k] = TF.train.Feature(int64_list=TF.train.Int64List(value=[int(x) for x in vals]))
        elif all(isinstance(x, (int, float)) for x in vals):
            out[k] = TF.train.Feature(float_list=TF.train.FloatList(value=[float(x) for x in vals]))
        else:
            out[k] = TF.train.Feature(bytes_list=TF.train.BytesList(
                value=[decode(x) if is_b64(x) else str(x).encode() for x in vals]))
    return TF.train.Example(features=TF.train.Features(feature=out))


def classifications(out: Dict[str, Any]) -> list:
    """``[[(label, score), ...] per example]`` from a classify signature's outputs. A signature
    with only ``scores`` gives empty labels, one with only ``classes`` scores of 0, as TF Serving
    does."""
    classes, scores = out.get("classes"), out.get("scores")
    if classes is None and scores is None:
        raise ServingError("Expected classification signature outputs 'classes' and/or 'scores'")
    rows = len(classes) if classes is not None else len(scores)
    result = []
    for i in range(rows):
        labels = list(classes[i]) if classes is not None else [b""] * len(scores[i])
        values = list(scores[i]) if scores is not None else [0.0] * len(labels)
        result.append([(c.decode() if isinstance(c, bytes) else str(c), float(v)) for c, v in zip(labels, values)])
    return result


#: TensorProto's typed value field by DataType enum (tensorflow/core/framework/types.proto)
_TYPED_FIELD = {1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val", 6: "int_val",
                7: "string_val", 9: "int64_val", 10: "bool_val", 17: "int_val", 22: "uint32_val", 23: "uint64_val"}


def typed_tensor_proto(TF: Any, array: Any) -> Any:
    """``array`` as a TensorProto with its values in the typed field (``float_val``...), as TF
    Serving answers and its example clients read, not packed into ``tensor_content``. The common
    dtypes are written here; the others (and values numpy holds as ``str``) by TensorFlow."""
    fast = _fast_dtypes()[1].get(getattr(array, "dtype", None))
    if fast is not None:
        from tensorflow.core.framework import tensor_pb2

        proto = tensor_pb2.TensorProto(dtype=fast[0])
        proto.tensor_shape.SetInParent()   # a scalar's empty shape is written, as TensorFlow does
        dims = proto.tensor_shape.dim
        for size in array.shape:
            dims.add(size=size)
        try:
            if fast[1] in _PACKED and array.size >= 32:
                # many floats: their packed wire form, parsed by protobuf in C (extending the
                # repeated field from a list converts each value in Python, ~0.15 us each)
                proto.MergeFromString(_packed_wire(fast[1], array))
            else:
                getattr(proto, fast[1]).extend(array.ravel().tolist())
            return proto
        except (TypeError, ValueError):   # e.g. an object array holding str or None: TensorFlow decides
            pass
    proto = TF.make_tensor_proto(array)
    field = _TYPED_FIELD.get(proto.dtype)
    if field is None or not proto.tensor_content:
        return proto
    values = TF.make_ndarray(proto).ravel().tolist()
    proto.ClearField("tensor_content")
    getattr(proto, field).extend(values)
    return proto


#: float_val and double_val: (field number, little-endian numpy dtype) in tensor.proto
_PACKED = {"float_val": (5, "<f4"), "double_val": (6, "<f8")}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        bits, value = value & 0x7F, value >> 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _packed_wire(field: str, array: Any) -> bytes:
    """``array``'s values as TensorProto's packed ``field`` on the wire (tag, length, values)."""
    import numpy as np

    number, dtype = _PACKED[field]
    data = np.ascontiguousarray(array, dtype=dtype).tobytes()
    return _varint((number << 3) | 2) + _varint(len(data)) + data


def _packed_floats(proto: Any, field: str, np_dtype: Any) -> Any:
    """The values of ``proto``'s ``field`` (float_val or double_val) read from its packed wire form
    with numpy; None when they are not packed on the wire (then they are read one by one)."""
    import numpy as np

    number, dtype = _PACKED[field]
    raw = proto.SerializeToString()
    chunks, i, end = [], 0, len(raw)
    while i < end:
        key, i = _read_varint(raw, i)
        kind = key & 7
        if kind == 2:
            length, i = _read_varint(raw, i)
            if key >> 3 == number:
                chunks.append(raw[i:i + length])
            i += length
        elif kind == 0:
            _, i = _read_varint(raw, i)
        elif kind in (1, 5) and key >> 3 != number:
            i += 8 if kind == 1 else 4
        else:   # the field unpacked, or a wire form not expected here
            return None
    return np.frombuffer(b"".join(chunks), dtype=dtype).astype(np_dtype)


def _read_varint(raw: bytes, i: int) -> Any:
    value = shift = 0
    while True:
        byte = raw[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def rest_value(name: str, array: Any) -> Any:
    """An output as TF Serving's REST API writes it: float32 at float32 precision (``2.05``, not
    ``2.049999952316284``), outputs named ``*_bytes`` as ``{"b64": ...}``."""
    if name.endswith("_bytes"):
        return _b64_all(tolist(array) if not isinstance(array, bytes) else array, raw=array)
    if getattr(array, "dtype", None) is not None and str(array.dtype) == "float32":
        return _float32_list(array.tolist() if array.ndim else float(array), array)
    return tolist(array)


def _float32_list(value: Any, array: Any) -> Any:
    """TF Serving's float printing (json_tensor.cc WriteDecimal): six significant digits when
    they read back as the same float32, else nine (max_digits10). The JSON number written is
    the same value TF Serving's text denotes."""
    import math

    import numpy as np

    if isinstance(value, list):
        return [_float32_list(v, None) for v in value]
    f = np.float32(value)
    if not math.isfinite(f):
        return float(f)
    text = "%g" % float(f)
    if np.float32(text) != f:
        text = "%.9g" % float(f)
    return float(text)


def _b64_all(value: Any, raw: Any = None) -> Any:
    if hasattr(raw, "tolist"):
        value = raw.tolist()
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, str):
        return {"b64": base64.b64encode(value.encode()).decode()}
    if isinstance(value, list):
        return [_b64_all(v) for v in value]
    return value
