"""conv3d against a direct loop convolution written here, on odd shapes (strides with odd sizes,
every border mode, dilation, groups, batch 1 and 0, one channel, non-cubic kernels, both
filter_flip values, float32 and non-contiguous inputs); its gradient ops by finite differences,
first and second order; static shapes and errors."""

import itertools

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError, TypeMismatch
from symdl.tensor.nnet import Conv3d, Conv3dGradInputs, Conv3dGradWeights, conv3d
from symdl.tensor.nnet.conv_nd import conv3d_grad_wrt_inputs, conv3d_grad_wrt_weights
from symdl.testing import verify_grad


def loop_pads(border_mode, k, dilation):
    """(before, after) per axis for a border mode, computed independently of symdl."""
    pads = []
    for axis in range(3):
        dk = (k[axis] - 1) * dilation[axis] + 1
        if border_mode == "valid":
            pads.append((0, 0))
        elif border_mode == "full":
            pads.append((dk - 1, dk - 1))
        elif border_mode == "half":
            pads.append((dk // 2, dk // 2))
        elif border_mode == "same":
            pads.append(((dk - 1) // 2, dk - 1 - (dk - 1) // 2))
        elif isinstance(border_mode, int):
            pads.append((border_mode, border_mode))
        else:
            pads.append((border_mode[axis], border_mode[axis]))
    return pads


def triple(v):
    return (v, v, v) if isinstance(v, int) else tuple(v)


def loop_conv3d(x, w, border_mode="valid", subsample=1, filter_flip=True, filter_dilation=1, num_groups=1):
    """The textbook definition, one output element at a time."""
    stride, dil = triple(subsample), triple(filter_dilation)
    n, c = x.shape[:2]
    o, cg, *k = w.shape
    if filter_flip:
        w = w[:, :, ::-1, ::-1, ::-1]
    pads = loop_pads(border_mode, k, dil)
    xp = np.zeros((n, c) + tuple(s + a + b for s, (a, b) in zip(x.shape[2:], pads)))
    xp[(slice(None), slice(None), *(slice(a, a + s) for s, (a, _) in zip(x.shape[2:], pads)))] = x
    out_size = [(xp.shape[2 + a] - ((k[a] - 1) * dil[a] + 1)) // stride[a] + 1 for a in range(3)]
    out = np.zeros((n, o, *out_size))
    per_group = o // num_groups
    for i, f in itertools.product(range(n), range(o)):
        g = f // per_group
        for pos in itertools.product(*(range(s) for s in out_size)):
            total = 0.0
            for ch in range(cg):
                for tap in itertools.product(*(range(kk) for kk in k)):
                    where = tuple(p * s + t * d for p, s, t, d in zip(pos, stride, tap, dil))
                    total += xp[(i, g * cg + ch, *where)] * w[(f, ch, *tap)]
            out[(i, f, *pos)] = total
    return out


# (input shape, filter shape, keyword arguments)
CASES = [
    ((2, 3, 5, 6, 4), (4, 3, 3, 2, 2), dict()),
    ((2, 2, 7, 5, 6), (3, 2, 3, 3, 3), dict(subsample=(2, 1, 2))),
    ((1, 1, 3, 4, 3), (1, 1, 2, 3, 2), dict(border_mode="full")),
    ((2, 2, 5, 4, 5), (2, 2, 3, 2, 3), dict(border_mode="half", subsample=2)),
    ((1, 2, 4, 5, 4), (2, 2, 2, 2, 3), dict(border_mode="same")),
    ((1, 2, 5, 4, 4), (3, 2, 3, 1, 2), dict(border_mode=(1, 0, 2), subsample=(2, 1, 1))),
    ((2, 1, 4, 4, 5), (2, 1, 2, 3, 2), dict(border_mode=1, filter_flip=False)),
    ((1, 2, 7, 6, 5), (2, 2, 2, 2, 2), dict(filter_dilation=(2, 3, 1))),
    ((2, 4, 4, 5, 4), (6, 2, 2, 3, 2), dict(num_groups=2, border_mode=1)),
    ((1, 1, 1, 1, 1), (1, 1, 1, 1, 1), dict()),
    ((0, 2, 4, 4, 4), (3, 2, 2, 2, 2), dict(border_mode="half")),
]


def case_id(case):
    return f"{case[0]}*{case[1]}:{','.join(f'{k}={v}' for k, v in case[2].items()) or 'valid'}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conv3d_matches_loop_reference_with_static_shape(backend, case):
    xs, ws, kw = case
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    expected = loop_conv3d(x, w, **kw)
    X, W = T.dtensor5("x"), T.dtensor5("w")
    got = symdl.function([X, W], conv3d(X, W, **kw), mode=backend)(x, w)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    static = conv3d(T.dtensor5(shape=xs), T.dtensor5(shape=ws), **kw)
    assert static.type.shape == expected.shape


def test_conv3d_float32_and_non_contiguous_inputs(backend):
    rng = np.random.default_rng(1)
    # The volume is a transposed view and the filters every other entry of a larger array.
    x = rng.normal(size=(5, 6, 4, 3, 2)).astype("float32").transpose(4, 3, 2, 1, 0)
    w = rng.normal(size=(4, 3, 4, 3, 4)).astype("float32")[::2, :, ::2, :, ::2]
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    X, W = T.ftensor5("x"), T.ftensor5("w")
    got = symdl.function([X, W], conv3d(X, W, border_mode="half"), mode=backend)(x, w)
    assert got.dtype == np.float32
    expected = loop_conv3d(x.astype("float64"), w.astype("float64"), border_mode="half")
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES[1:9:2] + [CASES[8]], ids=case_id)
def test_conv3d_gradient(backend, case):
    xs, ws, kw = case
    rng = np.random.default_rng(2)
    verify_grad(lambda x, w: conv3d(x, w, **kw), [rng.normal(size=xs), rng.normal(size=ws)], mode=backend, n_tests=1)


@pytest.mark.parametrize("case", [CASES[1], CASES[5], CASES[8]], ids=case_id)
def test_conv3d_gradient_ops_have_gradients(case):
    xs, ws, kw = case
    rng = np.random.default_rng(3)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    gy = rng.normal(size=loop_conv3d(x, w, **kw).shape)
    size_x = T.constant(np.array(xs[2:], dtype="int64"))
    size_w = T.constant(np.array(ws[2:], dtype="int64"))
    verify_grad(lambda w_, g_: Conv3dGradInputs(**kw)(w_, g_, size_x), [w, gy], mode="py", n_tests=1)
    verify_grad(lambda x_, g_: Conv3dGradWeights(**kw)(x_, g_, size_w), [x, gy], mode="py", n_tests=1)


def test_gradient_functions_agree_with_grad_and_keep_float32(backend):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 5, 6, 5)).astype("float32")
    w = rng.normal(size=(4, 3, 3, 3, 2)).astype("float32")
    X, Wv = T.tensor5("x", shape=x.shape), T.tensor5("w", shape=w.shape)
    y = conv3d(X, Wv, border_mode="half", subsample=2)
    gy = T.tensor5("gy")
    gx_direct = conv3d_grad_wrt_inputs(gy, Wv, x.shape, border_mode="half", subsample=2)
    gw_direct = conv3d_grad_wrt_weights(X, gy, w.shape, border_mode="half", subsample=2)
    assert gx_direct.type.shape == x.shape and gw_direct.type.shape == w.shape
    assert gx_direct.dtype == gw_direct.dtype == "float32"
    grads = symdl.grad((y * gy).sum(), [X, Wv])
    f = symdl.function([X, Wv, gy], [*grads, gx_direct, gw_direct], mode=backend)
    gval = rng.normal(size=(2, 4, 3, 3, 3)).astype("float32")
    gx, gw, gx2, gw2 = f(x, w, gval)
    np.testing.assert_allclose(gx, gx2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gw, gw2, rtol=1e-5, atol=1e-5)
    # The adjoint identity <conv(x, w), gy> = <x, gx>, checked in float64.
    lhs = np.sum(loop_conv3d(x.astype("float64"), w.astype("float64"), border_mode="half", subsample=2) * gval)
    assert np.sum(x * gx) == pytest.approx(lhs, rel=1e-4)


def test_transposed_convolution_takes_a_symbolic_size_and_checks_it(backend):
    rng = np.random.default_rng(5)
    w = rng.normal(size=(2, 3, 2, 3, 3))
    g = rng.normal(size=(1, 2, 3, 3, 4))
    Wv, G, size = T.dtensor5("w"), T.dtensor5("g"), T.lvector("size")
    f = symdl.function([Wv, G, size], Conv3dGradInputs(subsample=2)(Wv, G, size), mode=backend)
    # With a stride, both sizes give a 3x3x4 output: the size input decides.
    assert f(w, g, np.array([6, 7, 9])).shape == (1, 3, 6, 7, 9)
    assert f(w, g, np.array([7, 8, 10])).shape == (1, 3, 7, 8, 10)
    with pytest.raises(ShapeError, match="gives outputs of size"):
        f(w, g, np.array([9, 7, 9]))


def test_conv3d_static_shapes_with_unknown_dimensions():
    x = T.tensor5("x", shape=(None, 3, None, 16, 16))
    w = T.tensor5("w", shape=(8, 3, 3, 5, 5))
    assert conv3d(x, w).type.shape == (None, 8, None, 12, 12)
    assert conv3d(x, w, border_mode="full", subsample=(1, 2, 2)).type.shape == (None, 8, None, 10, 10)
    assert conv3d(x, T.tensor5()).type.shape == (None, None, None, None, None)
    hinted = conv3d(T.tensor5(), T.tensor5(), input_shape=(None, 1, 8, 8, 8), filter_shape=(4, 1, 3, 3, 3))
    assert hinted.type.shape == (None, 4, 6, 6, 6)
    assert isinstance(conv3d(x, w).owner.op, Conv3d)


def test_conv3d_build_and_runtime_errors_name_the_numbers():
    with pytest.raises(ShapeError, match=r"3 channels.*expect 4"):
        conv3d(T.tensor5(shape=(None, 3, 8, 8, 8)), T.tensor5(shape=(5, 4, 3, 3, 3)))
    with pytest.raises(ShapeError, match="larger than the padded input"):
        conv3d(T.tensor5(shape=(None, 1, 2, 8, 8)), T.tensor5(shape=(2, 1, 3, 3, 3)))
    with pytest.raises(ShapeError, match="do not split into 2 groups"):
        conv3d(T.tensor5(shape=(None, 4, 8, 8, 8)), T.tensor5(shape=(5, 2, 3, 3, 3)), num_groups=2)
    with pytest.raises(ValueError, match="border_mode"):
        conv3d(T.tensor5(), T.tensor5(), border_mode="wide")
    with pytest.raises(ValueError, match="subsample must be an int or 3 ints"):
        conv3d(T.tensor5(), T.tensor5(), subsample=(1, 2))
    with pytest.raises(TypeMismatch, match="5-d"):
        conv3d(T.tensor4(), T.tensor5())
    with pytest.raises(ShapeError, match=r"conv3d: input_shape \(None, 2, 8, 8, 8\) disagrees"):
        conv3d(T.tensor5(shape=(None, 1, 8, 8, 8)), T.tensor5(), input_shape=(None, 2, 8, 8, 8))
    X, Wv = T.dtensor5(), T.dtensor5()
    f = symdl.function([X, Wv], conv3d(X, Wv), mode="py")
    with pytest.raises(ShapeError, match=r"3 channels.*expect 2"):
        f(np.ones((1, 3, 4, 4, 4)), np.ones((1, 2, 3, 3, 3)))


def test_conv3d_ops_compare_by_parameters():
    assert Conv3d("valid") == Conv3d((0, 0, 0)) and hash(Conv3d(0)) == hash(Conv3d("valid"))
    assert Conv3d(subsample=2) == Conv3d(subsample=(2, 2, 2))
    assert Conv3d("half") != Conv3d("same")
    assert str(Conv3d(border_mode="half", filter_flip=False)) == "Conv3d{border_mode=half, no flip}"


def test_columns_built_a_few_samples_at_a_time_give_the_same_results(monkeypatch):
    from symdl.tensor.nnet import conv_nd as module

    rng = np.random.default_rng(6)
    x, w = rng.normal(size=(3, 4, 4, 5, 4)), rng.normal(size=(6, 2, 2, 3, 2))
    X, Wv = T.dtensor5("x"), T.dtensor5("w")
    y = conv3d(X, Wv, border_mode=1, subsample=(2, 1, 1), num_groups=2)
    outputs = [y, *symdl.grad((y**2).sum(), [X, Wv])]
    whole = symdl.function([X, Wv], outputs, mode="py")(x, w)
    monkeypatch.setattr(module, "COLUMN_BYTES", 1)  # one sample per product
    for got, want in zip(symdl.function([X, Wv], outputs, mode="py")(x, w), whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conv3d_and_its_gradients_run_in_c_as_their_performs(case, dtype):
    xs, ws, kw = case
    rng = np.random.default_rng(6)
    x, w = rng.normal(size=xs).astype(dtype), rng.normal(size=ws).astype(dtype)
    X, Wv = T.tensor5("x", dtype=dtype), T.tensor5("w", dtype=dtype)
    y = conv3d(X, Wv, **kw)
    outputs = [y, *symdl.grad((y * y).sum(), [X, Wv])]
    f = symdl.function([X, Wv], outputs, mode="c")
    got = f(x, w)
    ops = [(op, backend) for op, backend, _, _ in f.profile().rows if op.startswith("Conv3d")]
    assert len(ops) == 3 and all(backend == "c" for _, backend in ops), f.profile()
    want = symdl.function([X, Wv], outputs, mode="py")(x, w)
    tol = 1e-4 if dtype == "float32" else 1e-10
    for g, e in zip(got, want):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=tol, atol=tol * max(1.0, float(np.abs(e).max(initial=0))))


def test_conv3d_errors_at_run_time_are_raised_in_c_with_the_perform_messages():
    X, Wv = T.dtensor5("x"), T.dtensor5("w")
    f = symdl.function([X, Wv], conv3d(X, Wv, border_mode=(0, 1, 0)), mode="c")
    assert "A->conv3d(" in f.source()
    with pytest.raises(ShapeError, match=r"^Conv3d\{.*\} \(output .*\): conv3d: the input has 3 channels but the filters "
                       r"\(1, 2, 3, 3, 3\) expect 2 \(2 per group x 1 groups\)$"):  # fmt: skip
        f(np.ones((1, 3, 4, 4, 4)), np.ones((1, 2, 3, 3, 3)))
    with pytest.raises(ShapeError, match=r"conv3d: the filter \(3, 3, 3\) \(\(3, 3, 3\) dilated\) is larger than the "
                       r"padded input \(2, 6, 4\) \(from \(2, 4, 4\)\)"):  # fmt: skip
        f(np.ones((1, 2, 2, 4, 4)), np.ones((1, 2, 3, 3, 3)))
    G, size = T.dtensor5("g"), T.lvector("size")
    g = symdl.function([Wv, G, size], Conv3dGradInputs(subsample=2)(Wv, G, size), mode="c")
    with pytest.raises(ShapeError, match=r"conv3d_grad_inputs: an input of spatial size \(9, 7, 9\) gives outputs of "
                       r"size \(4, 3, 4\), but the output gradient has shape \(1, 2, 3, 3, 4\)"):  # fmt: skip
        g(np.ones((2, 3, 2, 3, 3)), np.ones((1, 2, 3, 3, 4)), np.array([9, 7, 9]))
