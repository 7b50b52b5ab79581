"""The CUDA backend's generated kernels and executor, run on the host emulation (see conftest):
every result is compared with the NumPy reference backend."""

from __future__ import annotations

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError
from symdl.tensor import elemwise as ew
from symdl.tensor.composite import Composite


def run_both(inputs, outputs, values, updates=None, **kw):
    """Outputs of the CUDA function (emulated) and of the py backend on the same values.

    The py backend runs first: after a CUDA call, shared variables hold device arrays."""
    cuda = symdl.function(inputs, outputs, updates=updates, mode="cuda", on_unused_input="ignore", **kw)
    py = symdl.function(inputs, outputs, updates=updates, mode="py", on_unused_input="ignore", **kw)
    expected = py(*values)
    return cuda, cuda(*values), expected


def assert_same(got, expected, rtol=None, name=""):
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{name}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{name}: dtype {got.dtype} != {expected.dtype}"
    if got.dtype.kind in "fc":
        tol = rtol if rtol is not None else {2: 1e-3, 4: 2e-6, 8: 1e-13}[got.dtype.itemsize]
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol, err_msg=name)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=name)


# ---------------------------------------------------------------- elementwise
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "int64", "int8", "uint8", "bool"])
def test_every_scalar_op_matches_numpy_on_special_values(emulated, graphs, dtype):
    inputs, outputs, names, values = graphs.scalar_op_graph(dtype)
    with np.errstate(all="ignore"):
        _, got, expected = run_both(inputs, outputs, values, optimizer="none")
    for name, g, e in zip(names, got, expected):
        if (
            name.startswith("cast_")
            and dtype.startswith("float")
            and name[5:] not in ("bool", "float16", "float32", "float64")
        ):
            # NumPy leaves NaN, inf and out-of-range float-to-int casts to the C compiler;
            # compare where the value fits.
            fits = np.isfinite(values[0]) & (np.abs(values[0]) < 100)
            g, e = g[fits], e[fits]
        assert_same(g, e, name=f"{name}({dtype})")


def test_fused_composite_broadcasts_strided_inputs_scalars_and_constants(emulated, rng):
    x = T.tensor3("x")  # used transposed: a strided view
    b = T.vector("b")
    s = T.scalar("s")  # 0-d input: passed to the kernel by value
    w = symdl.shared(np.float32(0.25), name="w")  # 0-d shared variable: a device array read at [0]
    program = ((ew.s_mul, (0, 1)), (ew.s_add, (4, 2)), (ew.s_tanh, (5,)), (ew.s_mul, (6, 3)), (ew.s_exp, (0,)))
    op = Composite(program, (7, 8))
    xt = x.dimshuffle(2, 0, 1)
    out1, out2 = op(xt, b.dimshuffle("x", "x", 0), s, w)
    xv = rng.normal(size=(3, 4, 5)).astype("float32")
    bv = rng.normal(size=4).astype("float32")
    fn, got, expected = run_both([x, b, s], [out1, out2, out1 * 2 + 1], [xv, bv, np.float32(1.5)])
    for g, e in zip(got, expected):
        assert_same(g, e)
    kinds = [s.kinds for s in fn.thunk.program.steps if type(s).__name__ == "ElemwiseStep"]
    assert ["array", "array", "scalar", "bcast"] in kinds


def test_mixed_dtypes_and_integer_broadcasting(emulated, rng):
    a = T.tensor("int16", shape=(None, 1), name="a")
    b = T.tensor("uint8", shape=(None,), name="b")
    c = T.matrix("c")
    outs = [a + b, a // (b + 1), a % 3, (a * b) > c, T.cast(c, "int32") + a, T.where(c > 0, a, b) * 2.5]
    values = [rng.integers(-50, 50, size=(4, 1)).astype("int16"), np.arange(6, dtype="uint8"), rng.normal(size=(4, 6))]
    values[2] = values[2].astype("float32")
    _, got, expected = run_both([a, b, c], outs, values)
    for g, e in zip(got, expected):
        assert_same(g, e)


def test_large_arrays_use_the_contiguous_and_strided_paths(emulated, rng):
    x, y = T.matrix("x"), T.matrix("y")
    xv, yv = rng.normal(size=(300, 200)).astype("float32"), rng.normal(size=(200, 300)).astype("float32")
    _, got, expected = run_both([x, y], [x * 2 + 1, x + y.T, T.exp(y.T) - x], [xv, yv])
    for g, e in zip(got, expected):
        assert_same(g, e)


def test_broadcast_mismatch_at_run_time_raises_shape_error(emulated):
    x, y = T.vector("x"), T.vector("y")
    fn = symdl.function([x, y], x + y, mode="cuda")
    with pytest.raises(ShapeError, match="cannot broadcast"):
        fn(np.ones(3, "float32"), np.ones(4, "float32"))


# ---------------------------------------------------------------- reductions
REDUCTIONS = [
    (kind, axis)
    for kind in ("sum", "prod", "max", "min", "all", "any", "argmax", "argmin", "mean")
    for axis in (None, 0, -1, (0, 2), (1, 2))
    if not (kind.startswith("arg") and isinstance(axis, tuple))  # argmax/argmin take one axis or None
]


@pytest.mark.parametrize(("kind", "axis"), REDUCTIONS)
def test_every_reduction_over_several_axes(emulated, rng, kind, axis):
    x = T.tensor3("x")
    xv = rng.normal(size=(4, 5, 6)).astype("float32")
    xv[1, 2, 3] = xv[0, 0, 0]  # a tie
    if kind in ("all", "any"):
        xv = (xv > 0.5).astype("float32")
    fn = getattr(T, kind)
    xt = x.dimshuffle(2, 0, 1)
    outs = [fn(x, axis=axis), fn(xt, axis=axis), fn(x, axis=axis, keepdims=True), fn(xt, axis=axis, keepdims=True)]
    _, got, expected = run_both([x], outs, [xv])
    for g, e in zip(got, expected):
        assert_same(g, e, rtol=1e-5)


@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool", "float64", "float16"])
def test_reductions_keep_numpys_dtypes(emulated, rng, dtype):
    x = T.tensor(dtype, shape=(None, None), name="x")
    xv = rng.integers(0, 3, size=(7, 9)).astype(dtype)
    outs = [T.sum(x), T.sum(x, axis=0), T.max(x, axis=1), T.prod(x, axis=1), T.argmax(x, axis=0), T.any(x, axis=1)]
    _, got, expected = run_both([x], outs, [xv])
    for g, e in zip(got, expected):
        assert_same(g, e, rtol=2e-3)


def test_long_reductions_split_across_blocks(emulated, rng):
    x = T.vector("x")
    xv = rng.normal(size=30000).astype("float32")
    xv[12345] = 50.0
    fn, got, expected = run_both([x], [T.sum(x), T.max(x), T.argmax(x), T.mean(x)], [xv])
    for g, e in zip(got, expected):
        assert_same(g, e, rtol=1e-4)
    assert any(name.endswith("_finish") for name in emulated.launches)


def test_wide_column_sums_use_one_thread_per_output(emulated, rng):
    x = T.matrix("x")
    xv = rng.normal(size=(8, 4096)).astype("float32")
    _, got, expected = run_both([x], [T.sum(x, axis=0)], [xv])
    assert_same(got[0], expected[0], rtol=1e-5)
    assert any(name.endswith("_thread") for name in emulated.launches)


def test_argmax_picks_the_first_nan_and_the_first_tie(emulated):
    x = T.matrix("x")
    xv = np.array([[1.0, 3.0, 3.0, 0.0], [np.nan, 2.0, np.nan, 9.0], [-np.inf, -np.inf, -np.inf, -np.inf]], "float32")
    _, got, expected = run_both([x], [T.argmax(x, axis=1), T.argmin(x, axis=1), T.max(x, axis=1)], [xv])
    for g, e in zip(got, expected):
        assert_same(g, e)


def test_empty_reductions(emulated):
    x = T.matrix("x")
    xv = np.zeros((0, 3), "float32")
    _, got, expected = run_both([x], [T.sum(x, axis=0), T.prod(x, axis=0), T.sum(x, axis=1)], [xv])
    for g, e in zip(got, expected):
        assert_same(g, e)
    with pytest.raises(ShapeError, match="empty"):
        symdl.function([x], T.max(x, axis=0), mode="cuda")(xv)


# ---------------------------------------------------------------- softmax family
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_and_log_softmax_along_any_axis_are_stable(emulated, rng, dtype):
    x = T.tensor(dtype, shape=(None, None), name="x")
    xv = (rng.normal(size=(6, 40)) * 30).astype(dtype)
    xv[2] = 1e4
    xv[3, :5] = -np.inf
    outs = [T.nnet.softmax(x), T.nnet.log_softmax(x), T.nnet.softmax(x, axis=0), T.nnet.softmax(x.T)]
    _, got, expected = run_both([x], outs, [xv])
    for g, e in zip(got, expected):
        assert_same(g, e, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("labels_dtype", ["int32", "int64"])
def test_softmax_crossentropy_with_labels_and_probabilities(emulated, rng, labels_dtype):
    x = T.matrix("x")
    y = T.tensor(labels_dtype, shape=(None,), name="y")
    t = T.matrix("t")
    xv = (rng.normal(size=(9, 10)) * 5).astype("float32")
    xv[0, 0] = 1e4
    yv = rng.integers(0, 10, size=9).astype(labels_dtype)
    tv = rng.dirichlet(np.ones(10), size=9).astype("float32")
    tv[1, :3] = 0
    sce = T.nnet.softmax_crossentropy_with_logits
    outs = [sce(x, y), sce(x, t), sce(x.T.T * 2, y), symdl.grad(sce(x, y).mean(), x)]
    fn, got, expected = run_both([x, y, t], outs, [xv, yv, tv])
    for g, e in zip(got, expected):
        assert_same(g, e, rtol=1e-5)
    assert {type(s).__name__ for s in fn.thunk.program.steps} >= {"SceStep", "SoftmaxStep"}


def test_gradient_only_functions_check_the_forward_shapes(emulated):
    x, y = T.matrix("x"), T.matrix("y")
    f = symdl.function([x, y], symdl.grad(T.dot(x, y).sum(), x), mode="cuda")
    got = f(np.ones((3, 4), "float32"), np.ones((4, 6), "float32"))
    np.testing.assert_allclose(np.asarray(got), np.full((3, 4), 6.0))
    with pytest.raises(ShapeError, match=r"dot.*\(3, 4\).*\(5, 6\)"):
        f(np.ones((3, 4), "float32"), np.ones((5, 6), "float32"))


@pytest.mark.parametrize("bad", [10, -1])
def test_labels_out_of_range_raise_in_the_forward_and_in_a_gradient_only_step(emulated, rng, bad):
    x, y = T.matrix("x"), T.ivector("y")
    xv = rng.normal(size=(3, 10)).astype("float32")
    yv = np.array([0, bad, 2], dtype="int32")
    sce = T.nnet.softmax_crossentropy_with_logits
    for out in (sce(x, y), symdl.grad(sce(x, y).mean(), x), T.one_hot(y, 10)):
        fn = symdl.function([x, y], out, mode="cuda", on_unused_input="ignore")
        fn(xv, np.array([0, 9, 2], dtype="int32"))
        with pytest.raises(IndexError, match=f"label {bad} .*out of range for 10 classes"):
            fn(xv, yv)


# ---------------------------------------------------------------- dot, views, alloc
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dot_through_cublas_for_every_layout(emulated, rng, dtype):
    a = T.tensor(dtype, shape=(None, None), name="a")
    b = T.tensor(dtype, shape=(None, None), name="b")
    v = T.tensor(dtype, shape=(None,), name="v")
    av = rng.normal(size=(5, 7)).astype(dtype)
    bv = rng.normal(size=(7, 3)).astype(dtype)
    vv = rng.normal(size=7).astype(dtype)
    outs = [
        T.dot(a, b),
        T.dot(b.T, a.T),
        T.dot(a, v),
        T.dot(v, b),
        T.dot(v, v),
        T.dot(a[:, :3].T, a[:, 2:5]),  # column slices: neither layout, copied first
        T.dot(a.T, a),
        T.dot(b.dimshuffle(1, 0), v),
    ]
    _, got, expected = run_both([a, b, v], outs, [av, bv, vv])
    for g, e in zip(got, expected):
        assert_same(g, e, rtol=1e-5 if dtype == "float32" else 1e-12)


def test_dot_with_empty_inner_dimension_is_zero(emulated):
    a, b = T.matrix("a"), T.matrix("b")
    _, got, expected = run_both([a, b], [T.dot(a, b)], [np.zeros((3, 0), "float32"), np.zeros((0, 4), "float32")])
    assert_same(got[0], expected[0])


def test_views_reshape_and_alloc(emulated, rng):
    x = T.tensor3("x")
    xv = rng.normal(size=(2, 3, 4)).astype("float32")
    outs = [
        T.reshape(x.dimshuffle(2, 1, 0), (4, 6)),  # reshape of a transpose copies
        T.reshape(x, (6, -1)),
        x.dimshuffle("x", 0, 1, 2, "x") + 1,
        T.zeros_like(x) + x.sum(),
        T.alloc(x[0, 0], 5, 3, 4),
        T.flatten(x, 2),
    ]
    _, got, expected = run_both([x], outs, [xv])
    for g, e in zip(got, expected):
        assert_same(g, e)


# ---------------------------------------------------------------- whole training steps
def test_mlp_training_step_matches_the_numpy_backend_and_keeps_parameters_on_the_device(emulated, graphs):
    inputs, loss, updates, params, values = graphs.mlp_step(batch=32)
    start = [p.get_value() for p in params]
    cuda = symdl.function(inputs, loss, updates=updates, mode="cuda")
    losses_cuda = [float(cuda(*values)) for _ in range(3)]
    assert type(params[0].container[0]).__name__ == "EmulatedArray", "updates must stay on the device"
    after_cuda = [p.get_value() for p in params]
    for p, v in zip(params, start):
        p.set_value(v)
    for var, _ in updates:
        if var not in params:
            var.set_value(np.zeros_like(var.get_value()))
    py = symdl.function(inputs, loss, updates=updates, mode="py")
    losses_py = [float(py(*values)) for _ in range(3)]
    np.testing.assert_allclose(losses_cuda, losses_py, rtol=1e-5)
    assert losses_cuda[-1] < losses_cuda[0]
    for a, b in zip(after_cuda, [p.get_value() for p in params]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    host_steps = [s for s in cuda.thunk.program.steps if s.describe() == "host+xfer"]
    assert host_steps == [], f"ops left on the host: {[s.label for s in host_steps]}"


def test_updated_shared_variables_stay_on_the_device_and_only_results_come_back(emulated, monkeypatch):
    w = symdl.shared(np.arange(4, dtype="float32"), name="w")
    v = symdl.shared(np.zeros(4, dtype="float32"), name="v")
    x = T.vector("x")
    fn = symdl.function([x], (w * x).sum(), updates=[(v, 0.9 * v + x), (w, w - v)], mode="cuda")
    fn(np.ones(4, "float32"))  # the first call uploads the shared variables
    copied = []
    original = emulated.to_host
    monkeypatch.setattr(emulated, "to_host", lambda value: copied.append(value.shape) or original(value))
    for _ in range(3):
        fn(np.ones(4, "float32"))
    assert copied == [()] * 3  # the result, never an update
    assert type(w.container[0]).__name__ == type(v.container[0]).__name__ == "EmulatedArray"
    np.testing.assert_allclose(v.get_value(), [3.439] * 4, rtol=1e-5)


def test_an_update_read_by_the_next_call_has_its_new_value(emulated):
    w = symdl.shared(np.arange(4, dtype="float32"), name="w")
    x = T.vector("x")
    fn = symdl.function([x], (w * x).sum(), updates=[(w, w * 2)], mode="cuda")
    assert float(fn(np.ones(4, "float32"))) == 6.0
    assert float(fn(np.ones(4, "float32"))) == 12.0
    np.testing.assert_array_equal(w.get_value(), np.arange(4, dtype="float32") * 4)


def test_cnn_training_step_matches_the_numpy_backend(emulated, graphs):
    inputs, loss, updates, params, values = graphs.cnn_step(batch=4)
    start = [p.get_value() for p in params]
    cuda = symdl.function(inputs, loss, updates=updates, mode="cuda")
    losses_cuda = [float(cuda(*values)) for _ in range(2)]
    for p, v in zip(params, start):
        p.set_value(v)
    for var, _ in updates:
        if var not in params:
            var.set_value(np.zeros_like(var.get_value()))
    py = symdl.function(inputs, loss, updates=updates, mode="py")
    losses_py = [float(py(*values)) for _ in range(2)]
    np.testing.assert_allclose(losses_cuda, losses_py, rtol=1e-4)
    host_steps = [s.label for s in cuda.thunk.program.steps if s.describe() == "host+xfer"]
    assert host_steps == [], f"ops left on the host: {host_steps}"


# ---------------------------------------------------------------- fallback, source, profile
def test_ops_without_cuda_code_run_on_the_host_and_show_in_the_profile(emulated, rng):
    a, b = T.imatrix("a"), T.imatrix("b")
    av, bv = rng.integers(-5, 5, size=(3, 4)).astype("int32"), rng.integers(-5, 5, size=(4, 2)).astype("int32")
    fn, got, expected = run_both([a, b], [T.dot(a, b) + 1], [av, bv])
    assert_same(got[0], expected[0])
    report = str(fn.profile())
    assert "host+xfer" in report and "transfer for dot" in report


def test_source_is_self_contained_cuda_with_the_schedule(emulated):
    x = T.matrix("x")
    fn = symdl.function([x], T.nnet.softmax(T.exp(x) + 1).sum(axis=0), mode="cuda")
    source = fn.source()
    assert "#include" not in source
    assert "// schedule:" in source and 'extern "C" __global__ void softmax0(' in source
    fn(np.ones((2, 3), "float32"))
    fn(np.ones((2, 3), "float32"))
    report = fn.profile()
    assert report.calls == 2 and "softmax" in str(report) and "inputs to device" in str(report)


def test_launches_over_the_32_bit_index_limit_are_split(emulated, rng, monkeypatch):
    from symdl.backend.cuda import runtime

    monkeypatch.setattr(runtime, "LIMIT", 7)  # as if 7 elements were 2**31
    x, y = T.tensor3("x"), T.vector("y")
    xv, yv = rng.normal(size=(3, 4, 5)).astype("float32"), rng.normal(size=5).astype("float32")
    outs = [
        x * 2,
        x + y,
        x.dimshuffle(2, 0, 1) * y.dimshuffle(0, "x", "x"),
        T.flatten(x.dimshuffle(1, 0, 2)),
        x.sum(axis=1),
    ]
    fn, got, expected = run_both([x, y], outs, [xv, yv])
    for g, e in zip(got, expected):
        assert_same(g, e)
    assert "transfer for sum" in str(fn.profile())  # reductions that big go to the host


# ---------------------------------------------------------------- convolution and pooling
CONVS = [
    {},
    {"border_mode": "half", "subsample": (2, 2)},
    {"border_mode": "full", "filter_flip": False},
    {"border_mode": (1, 2), "filter_dilation": (2, 1)},
    {"num_groups": 2, "border_mode": "same"},
]


@pytest.mark.parametrize("params", CONVS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "valid")
def test_conv2d_and_its_gradients_match_numpy(emulated, rng, params):
    from symdl.tensor.nnet.conv import conv2d

    x, w = T.tensor4("x"), T.tensor4("w")
    xv = rng.normal(size=(3, 4, 9, 8)).astype("float32")
    wv = rng.normal(size=(6, 4 // params.get("num_groups", 1), 3, 2)).astype("float32")
    y = conv2d(x, w, **params)
    gx, gw = symdl.grad((y * y).sum(), [x, w])
    outs = [y, gx, gw, conv2d(x.dimshuffle(0, 1, 3, 2), w, **params)]
    fn, got, expected = run_both([x, w], outs, [xv, wv])
    for g, e in zip(got, expected):
        assert_same(g, e, rtol=1e-4)
    assert not [s.label for s in fn.thunk.program.steps if s.describe() == "host+xfer"]


POOLS = [
    {"ws": (2, 2)},
    {"ws": (3, 3), "stride": (2, 2), "ignore_border": False},
    {"ws": (3, 2), "stride": (1, 2), "pad": (1, 1), "mode": "average_inc_pad"},
    {"ws": (3, 3), "stride": (2, 1), "pad": (2, 1), "mode": "average_exc_pad"},
    {"ws": (2, 3), "mode": "sum"},
    {"ws": (3, 3), "stride": (1, 1), "pad": (1, 1)},
]


@pytest.mark.parametrize("params", POOLS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
def test_pool_2d_and_its_gradient_match_numpy(emulated, rng, params):
    x = T.tensor4("x")
    xv = rng.normal(size=(2, 3, 7, 8)).astype("float32")
    xv[0, 0, :2, :2] = 1.0  # ties: the first maximum takes the gradient
    y = T.nnet.pool_2d(x, **params)
    outs = [
        y,
        symdl.grad((y * T.arange(y.shape[-1]).astype("float32")).sum(), x),
        T.nnet.pool_2d(x.dimshuffle(1, 0, 3, 2), **params),
    ]
    fn, got, expected = run_both([x], outs, [xv])
    for g, e in zip(got, expected):
        assert_same(g, e, rtol=1e-5)
    assert not [s.label for s in fn.thunk.program.steps if s.describe() == "host+xfer"]


# ---------------------------------------------------------------- random streams
def test_random_draws_give_the_cpu_streams_numbers(emulated, rng):
    from symdl.tensor.random import RandomStream, dropout

    xv = rng.normal(size=(6, 5)).astype("float32")

    def draws(mode):
        stream = RandomStream(seed=7)
        x = T.matrix("x")
        outs = [
            stream.uniform((5, 7)),
            stream.uniform((3,), low=-2.0, high=3.0, dtype="float64"),
            stream.normal((9,), avg=1.0, std=2.0),
            stream.binomial((4, 6), n=3, p=0.3),
            dropout(x, 0.4, stream),
        ]
        fn = symdl.function([x], outs, mode=mode)
        return fn, [fn(xv) for _ in range(3)]  # later calls draw from the advanced states

    _, expected = draws("py")
    fn, got = draws("cuda")
    for call_got, call_expected in zip(got, expected):
        for k, (g, e) in enumerate(zip(call_got, call_expected)):
            if k == 2:  # normal goes through log, cos and sin: equal up to libm rounding
                assert_same(g, e, rtol=1e-6)
            else:
                assert g.dtype == e.dtype
                np.testing.assert_array_equal(g, e)
    assert "RandomStep" in {type(s).__name__ for s in fn.thunk.program.steps}
