"""Fusion: elementwise chains become one Composite node; reductions fuse with their producer."""

import numpy as np

import symdl
import symdl.tensor as T
from symdl.rewrite import fusion
from symdl.tensor.composite import Composite, CompositeReduce


def _kinds(fn):
    return [type(n.op).__name__ for n in fn.graph.toposort()]


def test_benchmark_expression_is_one_elementwise_node(rw):
    x, y = T.fvector("x"), T.fvector("y")
    out = T.tanh(x * y + T.exp(-x)) * 2 + T.log1p(y * y)
    before, after = rw.compile([x, y], out, excluding=())
    assert len(before.graph.apply_nodes) == 9
    assert _kinds(after) == ["Composite"]
    rng = np.random.default_rng(0)
    rw.same(before, after, rng.normal(size=7).astype("float32"), rng.normal(size=7).astype("float32"))


def test_broadcasting_chains_fuse(rw):
    x, b, c = T.dmatrix("x"), T.dvector("b"), T.dscalar("c")
    out = T.sigmoid(x + b) * c - T.exp(b)
    before, after = rw.compile([x, b, c], out, excluding=())
    assert _kinds(after) == ["Composite"]
    rng = np.random.default_rng(1)
    rw.same(before, after, rng.normal(size=(3, 4)), rng.normal(size=4), np.float64(0.7))


def test_results_used_twice_stay_boundaries_and_nothing_is_recomputed(rw):
    x = T.dvector("x")
    e = T.exp(x) * 2.0
    before, after = rw.compile([x], [T.log(e), T.sqrt(e)], excluding=())
    kinds = _kinds(after)
    assert kinds.count("Composite") == 3
    rw.same(before, after, np.array([0.5, 2.0]))


def test_sum_of_exp_of_shifted_values_is_one_node(rw):
    x = T.dmatrix("x")
    m = T.max(x, axis=1, keepdims=True)
    before, after = rw.compile([x], T.sum(T.exp(x - m), axis=1), excluding=())
    assert _kinds(after) == ["Reduce", "CompositeReduce"]
    node = after.graph.toposort()[-1]
    assert node.op.kind == "sum" and node.op.axis == (1,)
    rw.same(before, after, np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]]))


def test_fusion_respects_the_input_limit(rw, monkeypatch):
    monkeypatch.setattr(fusion, "MAX_INPUTS", 3)
    xs = [T.dvector(f"x{i}") for i in range(6)]
    out = xs[0]
    for x in xs[1:]:
        out = T.exp(out) * x
    before, after = rw.compile(xs, out, excluding=())
    for node in after.graph.toposort():
        assert len(node.inputs) <= 3
    assert _kinds(after).count("Composite") >= 2
    rw.same(before, after, *[np.full(2, 0.1 * i) for i in range(6)])


def test_gradient_graphs_fuse(rw):
    x = T.dmatrix("x")
    cost = T.sum(T.tanh(x) ** 2 * T.exp(-x))
    g = symdl.grad(cost, x)
    before, after = rw.compile([x], g, excluding=())
    assert _kinds(after) == ["Composite"]
    rw.same(before, after, np.array([[0.1, -0.5], [2.0, 0.3]]))


def test_composite_nodes_run_and_differentiate():
    from symdl.tensor import elemwise as ew
    from symdl.testing import verify_grad

    op = Composite(((ew.s_mul, (0, 1)), (ew.s_tanh, (2,))), (3,))
    verify_grad(lambda a, b: op(a, b), [np.array([0.1, 0.5]), np.array([1.0, -2.0])], mode="py")
    red = CompositeReduce(op, "sum", (0,), False)
    verify_grad(lambda a, b: red(a, b), [np.array([0.1, 0.5]), np.array([1.0, -2.0])], mode="py")


def _mlp_training_graph(static):
    rng = np.random.default_rng(0)
    sizes = (784, 512, 512, 10)
    x, y = T.matrix("x"), T.ivector("y")
    params, h = [], x
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = symdl.shared(
            (rng.normal(size=(a, b)) * 0.05).astype("float32"), name=f"W{i}", shape=(a, b) if static else None
        )
        bias = symdl.shared(np.zeros(b, "float32"), name=f"b{i}", shape=(b,) if static else None)
        params += [W, bias]
        h = T.dot(h, W) + bias
        if i < len(sizes) - 2:
            h = T.nnet.relu(h)
    loss = T.nnet.categorical_crossentropy(T.nnet.softmax(h), y).mean()
    grads = symdl.grad(loss, params)
    return [x, y], loss, [(p, p - 0.1 * g) for p, g in zip(params, grads)]


def test_mlp_training_step_has_its_elementwise_work_fused():
    inputs, loss, updates = _mlp_training_graph(static=True)
    f = symdl.function(inputs, loss, updates=updates, mode="py")
    inputs, loss, updates = _mlp_training_graph(static=True)  # fresh shared variables
    raw = symdl.function(inputs, loss, updates=updates, mode="py", optimizer="none")
    kinds = _kinds(f)
    # Documented in docs/rewrites.md: 68 nodes as written (29 elementwise, 7 shape checks and a
    # label check of the gradient) become 34 (the label check stays), with
    # no elementwise op left unfused: 10 Composite nodes (2 forward ReLUs, the cross-entropy
    # gradient, 2 ReLU gradients, 3 bias updates, 2 scalar ones for the mean) and 6 gemm (3
    # layers with their bias, 3 weight updates).
    assert kinds.count("Elemwise") == 0 and _kinds(raw).count("Elemwise") == 29
    assert len(raw.graph.apply_nodes) == 68 and _kinds(raw).count("ShapeCheck") == 7
    assert len(f.graph.apply_nodes) == 34 and kinds.count("CheckLabels") == 1
    assert kinds.count("Composite") == 10
    assert kinds.count("Gemm") == 6
    rng = np.random.default_rng(1)
    X = rng.normal(size=(16, 784)).astype("float32")
    Y = rng.integers(0, 10, 16).astype("int32")
    for _ in range(2):  # the second step runs on the updated parameters
        np.testing.assert_allclose(f(X, Y), raw(X, Y), rtol=1e-5)
