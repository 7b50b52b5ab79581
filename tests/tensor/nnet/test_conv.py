"""conv2d against a direct loop convolution written here, on odd shapes (stride 2 with odd sizes,
padding, dilation, groups, batch 1, one channel, non-square kernels, both filter_flip values);
its gradient ops by finite differences, first and second order; static shapes and build-time errors."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError
from symdl.tensor.nnet import Conv2d, Conv2dGradInputs, Conv2dGradWeights, conv2d
from symdl.tensor.nnet.conv import conv2d_grad_wrt_inputs, conv2d_grad_wrt_weights
from symdl.testing import verify_grad


def loop_pads(border_mode, k, dilation):
    """((top, bottom), (left, right)) for a border mode, computed independently of symdl."""
    pads = []
    for axis in range(2):
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


def loop_conv2d(x, w, border_mode="valid", subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1), num_groups=1):
    """The textbook definition, one output element at a time."""
    subsample = (subsample, subsample) if isinstance(subsample, int) else subsample
    filter_dilation = (filter_dilation, filter_dilation) if isinstance(filter_dilation, int) else filter_dilation
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if filter_flip:
        w = w[:, :, ::-1, ::-1]
    (t, b), (left, right) = loop_pads(border_mode, (kh, kw), filter_dilation)
    xp = np.zeros((n, c, h + t + b, wd + left + right))
    xp[:, :, t : t + h, left : left + wd] = x
    sh, sw = subsample
    dh, dw = filter_dilation
    ho = (xp.shape[2] - ((kh - 1) * dh + 1)) // sh + 1
    wo = (xp.shape[3] - ((kw - 1) * dw + 1)) // sw + 1
    out = np.zeros((n, o, ho, wo))
    per_group = o // num_groups
    for i in range(n):
        for f in range(o):
            g = f // per_group
            for r in range(ho):
                for col in range(wo):
                    total = 0.0
                    for ch in range(cg):
                        for a in range(kh):
                            for bb in range(kw):
                                total += xp[i, g * cg + ch, r * sh + a * dh, col * sw + bb * dw] * w[f, ch, a, bb]
                    out[i, f, r, col] = total
    return out


# (input shape, filter shape, keyword arguments)
CASES = [
    ((2, 3, 7, 6), (4, 3, 3, 2), dict()),
    ((2, 3, 9, 7), (4, 3, 3, 3), dict(subsample=(2, 2))),
    ((1, 1, 5, 5), (1, 1, 2, 3), dict(border_mode="full")),
    ((2, 2, 7, 6), (3, 2, 3, 3), dict(border_mode="half", subsample=2)),
    ((2, 2, 6, 7), (2, 2, 2, 2), dict(border_mode="half")),
    ((2, 2, 6, 7), (2, 2, 2, 3), dict(border_mode="same")),
    ((1, 2, 6, 5), (3, 2, 3, 1), dict(border_mode=(1, 2), subsample=(2, 1))),
    ((2, 1, 6, 7), (2, 1, 3, 2), dict(border_mode=1, filter_flip=False)),
    ((1, 2, 9, 8), (2, 2, 3, 2), dict(filter_dilation=(2, 3))),
    ((2, 4, 6, 5), (6, 2, 2, 3), dict(num_groups=2, border_mode=1)),
    ((1, 6, 7, 7), (3, 2, 3, 3), dict(num_groups=3, subsample=2, filter_dilation=2, border_mode="half")),
    ((1, 3, 5, 5), (2, 3, 5, 5), dict(filter_flip=False)),
]


def case_id(case):
    return f"{case[0]}*{case[1]}:{','.join(f'{k}={v}' for k, v in case[2].items()) or 'valid'}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conv2d_matches_loop_reference_with_static_shape(backend, case):
    xs, ws, kw = case
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    expected = loop_conv2d(x, w, **kw)
    X, W = T.dtensor4("x"), T.dtensor4("w")
    got = symdl.function([X, W], conv2d(X, W, **kw), mode=backend)(x, w)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    static = conv2d(T.dtensor4(shape=xs), T.dtensor4(shape=ws), **kw)
    assert static.type.shape == expected.shape


@pytest.mark.parametrize("case", CASES[::2] + [CASES[9]], ids=case_id)
def test_conv2d_gradient(backend, case):
    xs, ws, kw = case
    rng = np.random.default_rng(1)
    verify_grad(lambda x, w: conv2d(x, w, **kw), [rng.normal(size=xs), rng.normal(size=ws)], mode=backend, n_tests=1)


@pytest.mark.parametrize("case", [CASES[1], CASES[6], CASES[9]], ids=case_id)
def test_conv2d_gradient_ops_have_gradients(backend, case):
    xs, ws, kw = case
    rng = np.random.default_rng(2)
    x, w = rng.normal(size=xs), rng.normal(size=ws)
    gy = rng.normal(size=loop_conv2d(x, w, **kw).shape)
    hw_x = T.constant(np.array(xs[2:], dtype="int64"))
    hw_w = T.constant(np.array(ws[2:], dtype="int64"))
    verify_grad(lambda w_, g_: Conv2dGradInputs(**kw)(w_, g_, hw_x), [w, gy], mode=backend, n_tests=1)
    verify_grad(lambda x_, g_: Conv2dGradWeights(**kw)(x_, g_, hw_w), [x, gy], mode=backend, n_tests=1)


def test_gradient_ops_agree_with_grad_and_keep_float32(backend):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 7, 7)).astype("float32")
    w = rng.normal(size=(4, 3, 3, 3)).astype("float32")
    X, Wv = T.tensor4("x", shape=(2, 3, 7, 7)), T.tensor4("w", shape=(4, 3, 3, 3))
    y = conv2d(X, Wv, border_mode="half", subsample=2)
    gy = T.tensor4("gy")
    cost = (y * gy).sum()
    gx_direct = conv2d_grad_wrt_inputs(gy, Wv, (2, 3, 7, 7), border_mode="half", subsample=2)
    gw_direct = conv2d_grad_wrt_weights(X, gy, (4, 3, 3, 3), border_mode="half", subsample=2)
    assert gx_direct.type.shape == (2, 3, 7, 7) and gw_direct.type.shape == (4, 3, 3, 3)
    assert gx_direct.dtype == gw_direct.dtype == "float32"
    f = symdl.function([X, Wv, gy], [*symdl.grad(cost, [X, Wv]), gx_direct, gw_direct], mode=backend)
    gval = rng.normal(size=(2, 4, 4, 4)).astype("float32")
    gx, gw, gx2, gw2 = f(x, w, gval)
    np.testing.assert_allclose(gx, gx2, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gw, gw2, rtol=1e-5, atol=1e-5)
    # The adjoint identity <conv(x, w), gy> = <x, gx>, checked in float64.
    lhs = np.sum(loop_conv2d(x.astype("float64"), w.astype("float64"), border_mode="half", subsample=(2, 2)) * gval)
    assert np.sum(x * gx) == pytest.approx(lhs, rel=1e-4)


def test_conv2d_static_shapes_with_unknown_dimensions():
    x = T.tensor4("x", shape=(None, 3, None, 28))
    w = T.tensor4("w", shape=(8, 3, 5, 5))
    assert conv2d(x, w).type.shape == (None, 8, None, 24)
    assert conv2d(x, w, border_mode="full").type.shape == (None, 8, None, 32)
    assert conv2d(x, T.tensor4()).type.shape == (None, None, None, None)
    hinted = conv2d(T.tensor4(), T.tensor4(), input_shape=(None, 1, 28, 28), filter_shape=(32, 1, 5, 5))
    assert hinted.type.shape == (None, 32, 24, 24)
    assert isinstance(conv2d(x, w).owner.op, Conv2d)


def test_shape_hint_is_checked_when_the_function_runs(backend):
    X, Wv = T.dtensor4(), T.dtensor4()
    f = symdl.function([X, Wv], conv2d(X, Wv, input_shape=(None, 1, 6, 6)), mode=backend)
    assert f(np.ones((1, 1, 6, 6)), np.ones((1, 1, 3, 3))).shape == (1, 1, 4, 4)
    with pytest.raises(ShapeError, match="declared shape"):
        f(np.ones((1, 1, 5, 6)), np.ones((1, 1, 3, 3)))


def test_conv2d_build_errors_name_the_numbers():
    with pytest.raises(ShapeError, match=r"3 channels.*expect 4"):
        conv2d(T.tensor4(shape=(None, 3, 8, 8)), T.tensor4(shape=(5, 4, 3, 3)))
    with pytest.raises(ShapeError, match=r"4 channels.*expect 6 \(3 per group x 2 groups\)"):
        conv2d(T.tensor4(shape=(None, 4, 8, 8)), T.tensor4(shape=(6, 3, 3, 3)), num_groups=2)
    with pytest.raises(ShapeError, match="larger than the padded input"):
        conv2d(T.tensor4(shape=(None, 1, 4, 8)), T.tensor4(shape=(2, 1, 5, 3)))
    with pytest.raises(ShapeError, match="larger than the padded input"):
        conv2d(T.tensor4(shape=(None, 1, 4, 8)), T.tensor4(shape=(2, 1, 3, 3)), filter_dilation=2)
    with pytest.raises(ShapeError, match="do not split into 2 groups"):
        conv2d(T.tensor4(shape=(None, 4, 8, 8)), T.tensor4(shape=(5, 2, 3, 3)), num_groups=2)
    with pytest.raises(ValueError, match="border_mode"):
        conv2d(T.tensor4(), T.tensor4(), border_mode="wide")
    with pytest.raises(symdl.errors.TypeMismatch, match="4-d"):
        conv2d(T.matrix(), T.tensor4())


def test_conv2d_runtime_errors_when_shapes_are_unknown(backend):
    X, Wv = T.dtensor4(), T.dtensor4()
    f = symdl.function([X, Wv], conv2d(X, Wv), mode=backend)
    with pytest.raises(ShapeError, match=r"3 channels.*expect 2"):
        f(np.ones((1, 3, 5, 5)), np.ones((1, 2, 3, 3)))
    with pytest.raises(ShapeError, match="larger than the padded input"):
        f(np.ones((1, 1, 2, 5)), np.ones((1, 1, 3, 3)))


def test_conv_ops_compare_by_parameters():
    assert Conv2d("valid") == Conv2d((0, 0)) and hash(Conv2d(0)) == hash(Conv2d("valid"))
    assert Conv2d("half") != Conv2d("same")
    assert Conv2d(subsample=2) == Conv2d(subsample=(2, 2))


def test_conv_and_pool_run_as_c_code_that_agrees_with_python():
    if "c" not in symdl.backend.available():
        pytest.skip("no C backend here")
    from symdl.tensor.nnet import pool_2d

    rng = np.random.default_rng(4)
    x, w = T.tensor4("x"), T.tensor4("w")
    y = pool_2d(T.nnet.relu(conv2d(x, w, border_mode=1, subsample=(2, 1), num_groups=2)), (2, 2), mode="max")
    cost = (y * y).sum()
    outputs = [y, *symdl.grad(cost, [x, w])]
    # DEBUG mode runs every C node and compares it with the op's Python perform.
    f = symdl.function([x, w], outputs, mode="DEBUG")
    ops = {type(node.op).__name__: backend for node, backend in zip(f.graph.toposort(), _node_backends(f))}
    assert {ops[name] for name in ("Conv2d", "Conv2dGradInputs", "Conv2dGradWeights", "Pool2d", "Pool2dGrad")} == {"c"}
    f(rng.normal(size=(3, 4, 9, 8)).astype("float32"), rng.normal(size=(6, 2, 3, 3)).astype("float32"))


@pytest.mark.parametrize("shapes", [((64, 1, 28, 28), (32, 1, 5, 5)), ((16, 32, 12, 12), (64, 32, 5, 5))])
def test_float32_convolutions_of_network_sizes_agree_between_c_and_python(shapes):
    # the sizes of the CNN benchmark's layers: every product shape the C kernels' GEMMs see there
    if "c" not in symdl.backend.available():
        pytest.skip("no C backend here")
    xs, ws = shapes
    rng = np.random.default_rng(8)
    x, w = rng.normal(size=xs).astype("float32"), rng.normal(size=ws).astype("float32")
    X, Wv = T.ftensor4("x"), T.ftensor4("w")
    y = conv2d(X, Wv, filter_flip=False)
    outputs = [y, *symdl.grad((y * y).sum() / 100, [X, Wv])]
    got = symdl.function([X, Wv], outputs, mode="c")(x, w)
    want = symdl.function([X, Wv], outputs, mode="py")(x, w)
    for g, r in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, r, rtol=2e-4, atol=2e-3 * float(np.abs(r).max()))


def _node_backends(f):
    return [row[1] for row in f.profile().rows]


@pytest.mark.parametrize(
    "kw", [dict(), dict(border_mode="same"), dict(border_mode=2, subsample=2), dict(filter_dilation=2, num_groups=2)]
)
def test_conv1d_is_conv2d_over_a_height_of_one(backend, kw):
    from symdl.tensor.nnet import conv1d

    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(2, 4, 11)), rng.normal(size=(6, 4 // kw.get("num_groups", 1), 4))
    pad = kw.get("border_mode", "valid")
    args2d = dict(kw, border_mode=pad if isinstance(pad, str) else (0, pad))
    args2d["subsample"] = (1, kw.get("subsample", 1))
    args2d["filter_dilation"] = (1, kw.get("filter_dilation", 1))
    expected = loop_conv2d(x[:, :, None], w[:, :, None], **args2d)[:, :, 0]
    X, Wv = T.dtensor3("x"), T.dtensor3("w")
    got = symdl.function([X, Wv], conv1d(X, Wv, **kw), mode=backend)(x, w)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    verify_grad(lambda a, b: conv1d(a, b, **kw), [x[:1, :, :7], w], mode=backend, n_tests=1)
