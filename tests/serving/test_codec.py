"""The server reads request tensors and writes answer tensors itself for the common dtypes (numpy,
no TensorFlow per call). Its arrays and protos must be exactly TensorFlow's: ``tf.make_ndarray``
of every value form a client may send (typed values, fewer values than the shape repeating the
last, none at all, packed ``tensor_content``) and ``tf.make_tensor_proto`` moved to the typed field."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lineage.serving.server.codec import tensor_to_array, typed_tensor_proto
from lineage.serving.server.errors import ServingError
from lineage.serving.server.tfenv import tf

TF = tf()
DTYPES = [np.float32, np.float64, np.int32, np.uint8, np.int16, np.int8, np.int64, np.bool_, np.uint16,
          np.uint32, np.uint64, np.float16, np.complex64]
SHAPES = [(), (1,), (3,), (2, 3), (0,), (2, 0, 4), (64, 33)]   # the last: many values, read and written packed


def _values(dtype, n):
    if dtype is np.bool_:
        return np.arange(n) % 2 == 0
    if dtype is np.complex64:
        return (np.arange(n) + 1j).astype(dtype)
    return (np.arange(n) * 7 % 100).astype(dtype)


def _same(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tolist() == b.tolist()


@pytest.mark.parametrize("dtype,shape", list(itertools.product(DTYPES, SHAPES)))
def test_request_tensors_read_as_tensorflow_reads_them(dtype, shape):
    count = int(np.prod(shape))
    full = _values(dtype, count).reshape(shape)
    packed = TF.make_tensor_proto(full)              # tensor_content for numbers
    typed = typed_tensor_proto(TF, full)             # the typed field, as TF Serving's clients send
    forms = [packed, typed]
    if count > 1:   # fewer values than the shape: the last repeats; none: zeros
        for given in (1, count - 1, 0):
            short = type(typed)()
            short.CopyFrom(typed)
            field = [f for f, _ in short.ListFields() if f.name.endswith("_val")]
            if field:
                values = list(getattr(short, field[0].name))
                per = len(values) // count
                short.ClearField(field[0].name)
                getattr(short, field[0].name).extend(values[:given * per])
            forms.append(short)
    for proto in forms:
        _same(tensor_to_array(TF, proto, 1 << 20, "x"), np.asarray(TF.make_ndarray(proto)))


@pytest.mark.parametrize("values", [[b"a", b"bc"], [b"\xff\x00", b""], ["caf\u00e9", "x"]])
@pytest.mark.parametrize("shape", [(2,), (2, 1)])
def test_strings_read_and_written_as_tensorflow_does(values, shape):
    arr = np.array(values, dtype=object).reshape(shape)
    proto = typed_tensor_proto(TF, arr)
    assert proto == TF.make_tensor_proto(arr)
    _same(tensor_to_array(TF, proto, 1 << 20, "s"), np.asarray(TF.make_ndarray(proto)))
    one = type(proto)()
    one.CopyFrom(proto)
    del one.string_val[1:]   # one value for two elements: it repeats
    _same(tensor_to_array(TF, one, 1 << 20, "s"), np.asarray(TF.make_ndarray(one)))


@pytest.mark.parametrize("dtype,shape", list(itertools.product(DTYPES, SHAPES)))
def test_answer_tensors_written_as_tensorflow_would(dtype, shape):
    arr = _values(dtype, int(np.prod(shape))).reshape(shape)
    expected = TF.make_tensor_proto(arr)
    if expected.tensor_content and dtype not in (np.float16, np.complex64):
        values = TF.make_ndarray(expected).ravel().tolist()
        expected.ClearField("tensor_content")
        field = {np.float32: "float_val", np.float64: "double_val", np.int64: "int64_val", np.bool_: "bool_val",
                 np.uint32: "uint32_val", np.uint64: "uint64_val"}.get(dtype, "int_val")
        getattr(expected, field).extend(values)
    assert typed_tensor_proto(TF, arr) == expected
    assert typed_tensor_proto(TF, arr).tensor_content == b"" or dtype in (np.float16, np.complex64)


def test_bad_request_tensors_are_refused_by_name():
    proto = TF.make_tensor_proto(np.zeros((2, 3), np.float32))
    proto.tensor_content = proto.tensor_content[:-4]
    with pytest.raises(ServingError, match="'?x'?.*tensor_content holds 20 bytes, shape \\[2, 3\\] of float32 needs 24"):
        tensor_to_array(TF, proto, 1 << 20, "x")
    many = typed_tensor_proto(TF, np.zeros(3, np.int64))
    many.tensor_shape.dim[0].size = 2
    with pytest.raises(ServingError, match="x: 3 values for shape \\[2\\] \\(2 elements\\)"):
        tensor_to_array(TF, many, 1 << 20, "x")
    huge = typed_tensor_proto(TF, np.zeros(1, np.float32))
    huge.tensor_shape.dim[0].size = 1 << 30
    with pytest.raises(ServingError, match="'x' of shape \\[1073741824\\] would take 4294967296 bytes") as err:
        tensor_to_array(TF, huge, 1 << 20, "x")
    assert err.value.code == "RESOURCE_EXHAUSTED"
    neg = typed_tensor_proto(TF, np.zeros(1, np.float32))
    neg.tensor_shape.dim[0].size = -1
    with pytest.raises(ServingError, match="dimension -1 is negative"):
        tensor_to_array(TF, neg, 1 << 20, "x")
