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


def _sibling_fused(inputs, outputs):
    from symdl.graph import FunctionGraph
    from symdl.rewrite import rewrite_graph

    fg = FunctionGraph(inputs, outputs)
    rewrite_graph(fg, "fast_run", including="sibling_fusion")
    return fg


def test_siblings_of_one_shape_become_one_node_with_several_outputs():
    x, y = T.dmatrix("x", shape=(2, 3)), T.dmatrix("y", shape=(2, 3))
    a = T.exp(x)  # used twice: its own output and an input of b
    b = a * T.tanh(y)
    c = T.sigmoid(y)  # shares no input with a: a sibling of the same shape all the same
    fg = _sibling_fused([x, y], [a, b, c])
    (node,) = fg.apply_nodes
    assert isinstance(node.op, Composite) and len(node.outputs) == 3
    rng = np.random.default_rng(0)
    xv, yv = rng.normal(size=(2, 3)), rng.normal(size=(2, 3))
    f = symdl.function([x, y], [a, b, c], mode="c")
    np.testing.assert_allclose(f(xv, yv)[1], np.exp(xv) * np.tanh(yv))


def test_sibling_fusion_makes_no_cycle_and_keeps_shapes_apart():
    x, w = T.dmatrix("x"), T.dmatrix("w")
    a = T.exp(x)
    through_dot = T.dot(a, w)  # of a's shape only when w is square: not provable, and a path a -> dot -> b
    b = T.tanh(through_dot) + 1.0
    fg = _sibling_fused([x, w], [a, b])
    composites = [n for n in fg.apply_nodes if isinstance(n.op, Composite)]
    assert len(composites) == 2 and all(len(n.outputs) == 1 for n in composites)
    x2 = T.dmatrix("x2", shape=(3, 3))
    w2 = T.dmatrix("w2", shape=(3, 3))
    a2 = T.exp(x2)
    b2 = T.tanh(T.dot(a2, w2)) + 1.0  # same shape now, but b2 reads a2 through the product
    fg = _sibling_fused([x2, w2], [a2, b2])
    composites = [n for n in fg.apply_nodes if isinstance(n.op, Composite)]
    assert len(composites) == 2


def test_a_loop_body_gets_sibling_fusion_and_the_function_graph_does_not():
    from symdl.scan_module import Scan

    x, w = T.dtensor3("x"), T.dscalar("w")
    h0 = T.zeros_like(x[0])

    def step(x_t, h, w):
        new = T.tanh(h * w + x_t)
        return new, new * new  # a state and an output not fed back, both kept: two fused nodes

    (hs, squares), _ = symdl.scan(step, sequences=x, outputs_info=[h0, None], non_sequences=w)
    cost = hs.sum() + squares.sum()
    f = symdl.function([x, w], [cost, T.exp(x), T.tanh(x), *symdl.grad(cost, [x, w])], mode="c")
    outer = [n for n in f.graph.toposort() if isinstance(n.op, Composite)]
    assert all(len(n.outputs) == 1 for n in outer)
    bodies = [n.op.inner_plan().order for n in f.graph.toposort() if isinstance(n.op, Scan)]
    assert any(isinstance(n.op, Composite) and len(n.outputs) > 1 for body in bodies for n in body)
    rng = np.random.default_rng(0)
    xv, wv = rng.normal(size=(4, 2, 3)), 0.7
    plain = symdl.function([x, w], [cost, *symdl.grad(cost, [x, w])], mode="py", optimizer="none")
    got = f(xv, wv)
    for a, b in zip([got[0], *got[3:]], plain(xv, wv)):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_work_on_values_given_leading_axes_fuses_with_the_work_making_them(rw):
    # (x * y + 1)[None] * z[None, None]: the leading axes go after the elementwise work, which
    # then is one node with its producers; a loop's step adds its step axis so
    x, y, z = T.dmatrix("x"), T.dmatrix("y"), T.dvector("z")
    out = T.exp(x * y + 1.0)[None] * z[None, None]
    before, after = rw.compile([x, y, z], out, excluding=())
    assert _kinds(after) == ["Composite", "DimShuffle"]
    assert after.graph.outputs[0].ndim == 3
    rng = np.random.default_rng(2)
    rw.same(before, after, rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), rng.normal(size=3))


def test_leading_axes_stay_where_an_input_has_all_the_axes(rw):
    x, w = T.dmatrix("x"), T.dtensor3("w")
    out = T.exp(x)[None] * w
    before, after = rw.compile([x, w], out, excluding=())
    assert after.graph.outputs[0].ndim == 3
    rng = np.random.default_rng(3)
    rw.same(before, after, rng.normal(size=(2, 3)), rng.normal(size=(4, 2, 3)))
