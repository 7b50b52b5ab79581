"""The values users pass to a compiled function (Python numbers, NumPy scalars, lists, arrays of
another dtype, byte order or alignment) are converted by the C runtime exactly as the Python path
(Function._filter) converts them, or refused with the same error."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import InputError

DTYPES = ["bool", "int8", "uint8", "int32", "int64", "uint64", "float32", "float64"]
SCALARS = [
    1.5,
    -2.0,
    1e300,
    3,
    -1,
    300,
    2**40,
    2**63,
    -(2**63),
    True,
    False,
    np.float32(2.5),
    np.float64(-1e-3),
    np.int8(-3),
    np.uint8(200),
    np.int64(-5),
    np.int64(2**40),
    np.uint64(2**63),
    np.uint32(7),
    np.bool_(True),
    np.float16(1.5),
    np.longlong(9),
    1 + 2j,
    "3",
    None,
    [1.0],
    np.array(4, dtype=">i8"),
    np.array(2.5, dtype=">f8"),
]
VECTORS = [
    [1, 2, 3],
    [1.5, -2.5],
    (True, False),
    [],
    [2**40, 1],
    [-1, 255],
    [[1, 2]],
    [1, [2]],
    np.arange(4, dtype=">f4"),
    np.arange(4, dtype=">i2"),
    np.arange(6, dtype="int64")[::2],
    np.arange(3, dtype="uint64"),
    np.array([1.0, np.nan]),
]


def outcome(f, value):
    try:
        with np.errstate(over="ignore"):  # NumPy warns where it casts 1e300 to float32 (inf); C does not
            result = f(value)
    except InputError as exc:
        return ("refused", type(exc))
    except (ValueError, TypeError, OverflowError) as exc:
        return ("error", type(exc))
    if isinstance(result, list):  # the thunk's list of outputs
        (result,) = result
    return ("value", result.dtype, result.shape, result.tolist())


def same(a, b):
    if a[0] != "value" or b[0] != "value":
        return a == b
    return a[:3] == b[:3] and np.array_equal(np.array(a[3]), np.array(b[3]), equal_nan=True)


def check(fc, fpy, value, what):
    """The function, and the runtime on its own (the fast path, without Function's Python path),
    agree with the Python path; what the runtime refuses, Function's Python path refuses too."""
    want = outcome(fpy, value)
    got = outcome(fc, value)
    assert same(got, want), f"{value!r} into {what}: c {got}, py {want}"
    alone = outcome(lambda v: fc.thunk([v]), value)
    if want[0] == "value":
        assert same(alone, want), f"{value!r} into {what}: the runtime gives {alone}, py {want}"
    else:
        assert alone == ("refused", InputError), f"{value!r} into {what}: the runtime gives {alone}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_scalars_convert_as_the_python_path_converts_them(dtype):
    x = T.scalar("x", dtype=dtype)
    fc, fpy = symdl.function([x], x, mode="c"), symdl.function([x], x, mode="py")
    for value in SCALARS:
        check(fc, fpy, value, f"a {dtype} scalar")


@pytest.mark.parametrize("dtype", DTYPES)
def test_lists_and_arrays_convert_as_the_python_path_converts_them(dtype):
    x = T.vector("x", dtype=dtype)
    fc, fpy = symdl.function([x], x, mode="c"), symdl.function([x], x, mode="py")
    for value in VECTORS:
        check(fc, fpy, value, f"a {dtype} vector")


def test_byte_swapped_input_is_read_in_native_order():
    x = T.fvector("x")
    f = symdl.function([x], x * 2, mode="c")
    np.testing.assert_array_equal(f(np.array([1, 2, 3], dtype=">f4")), np.array([2, 4, 6], "float32"))


def test_byte_swapped_and_misaligned_arrays_are_read_in_native_order():
    rng = np.random.default_rng(3)
    data = rng.standard_normal((5, 4))
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = symdl.function([a, b], T.dot(a, b.T) + a.sum(), mode="c")
    swapped = data.astype(">f8")[:, ::-1]  # byte-swapped and not contiguous
    raw = np.zeros(data.nbytes + 1, dtype=np.uint8)[1:]  # misaligned by one byte
    misaligned = raw.view("<f8").reshape(5, 4)
    misaligned[...] = data
    assert not misaligned.flags.aligned
    want = data[:, ::-1] @ data.T + data[:, ::-1].sum()
    np.testing.assert_allclose(f(swapped, misaligned), want, rtol=1e-12)
    assert f(swapped, misaligned).dtype == np.float64


def test_a_scalar_input_array_is_never_seen_by_the_caller():
    x = T.dscalar("x")
    f = symdl.function([x], [x, x * 2], mode="c")
    first = f(1.0)
    second = f(2.0)
    assert [float(v) for v in first] == [1.0, 2.0]
    assert [float(v) for v in second] == [2.0, 4.0]
    assert first[0] is not second[0]
