"""Rewrites of loops: pruning, hoisting invariants, pushing work on sequences out, keeping only
the rows read later. Each changes the graph as described and leaves the values as they were."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.scan_module import Scan


def _scans(f):
    return [n for n in f.graph.toposort() if isinstance(n.op, Scan)]


def _same_values(inputs, outputs, values, **kw):
    rewritten = symdl.function(inputs, outputs, mode="py", **kw)
    plain = symdl.function(inputs, outputs, mode="py", optimizer="none", **kw)
    for a, b in zip(rewritten(*values), plain(*values)):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    return rewritten


def test_an_lstm_like_input_projection_becomes_one_product_before_the_loop():
    rng = np.random.default_rng(0)
    x, W, U, h0 = T.dtensor3("x"), T.dmatrix("W"), T.dmatrix("U"), T.dmatrix("h0")
    hs, _ = symdl.scan(lambda x_t, h, W, U: T.tanh(T.dot(x_t, W) + T.dot(h, U)), sequences=x, outputs_info=h0,
                       non_sequences=[W, U])  # fmt: skip
    values = [
        rng.normal(size=(6, 2, 3)),
        rng.normal(size=(3, 4)),
        rng.normal(size=(4, 4)) * 0.5,
        rng.normal(size=(2, 4)),
    ]
    f = _same_values([x, W, U, h0], [hs], values)
    (scan,) = _scans(f)
    body = [str(n.op) for n in scan.op.fgraph.toposort()]
    assert sum("dot" in op for op in body) == 1  # only h . U is left in the loop
    outside = [n for n in f.graph.toposort() if "dot" in str(n.op)]
    assert outside and outside[0].outputs[0].ndim == 2  # (steps * batch, 3) . (3, 4)


def test_work_on_invariants_runs_once_before_the_loop():
    x, w = T.dvector("x"), T.dvector("w")
    out, _ = symdl.scan(lambda v, h, w: h * T.exp(w).sum() + v, sequences=x, outputs_info=T.constant(0.0),
                        non_sequences=w)  # fmt: skip
    f = _same_values([x, w], [out], [np.arange(4.0), np.array([0.1, -0.2])])
    (scan,) = _scans(f)
    assert not any("exp" in str(n.op) or "sum" in str(n.op) for n in scan.op.fgraph.toposort())


def test_a_map_of_elementwise_work_and_products_is_no_loop():
    x, w = T.dmatrix("x"), T.dmatrix("w")
    ys, _ = symdl.map(lambda row, w: T.tanh(T.dot(row, w)) * 2, x, non_sequences=w)
    f = _same_values([x, w], [ys], [np.ones((5, 3)), np.eye(3)])
    assert _scans(f) == []


def test_only_the_rows_read_later_are_kept():
    x = T.dvector("x")
    hs, _ = symdl.scan(lambda v, h: h * 0.5 + v, sequences=x, outputs_info=T.constant(0.0))
    f = _same_values([x], [hs[-1], hs[-2]], [np.arange(6.0)])
    (scan,) = _scans(f)
    assert scan.op.info.keep == (2,)
    g = symdl.function([x], hs, mode="py")  # the whole history is returned: all of it is kept
    assert _scans(g)[0].op.info.keep == ()


def test_a_gradient_that_needs_only_the_last_state_does_not_keep_the_others():
    # a linear recurrence: the backward pass never reads the forward states
    x = T.dvector("x")
    hs, _ = symdl.scan(lambda v, h: h * 0.5 + v, sequences=x, outputs_info=T.constant(0.0))
    cost = hs[-1] ** 2
    f = _same_values([x], [cost, symdl.grad(cost, x)], [np.arange(5.0)])
    forward = [n for n in _scans(f) if not n.op.info.name.startswith("grad_of")]
    assert [n.op.info.keep for n in forward] == [(1,)]


def test_states_and_inputs_nobody_reads_are_dropped():
    x, w = T.dvector("x"), T.dscalar("w")
    (a, b), _ = symdl.scan(lambda v, p, q, w: (p + v, q * w), sequences=x,
                           outputs_info=[T.constant(0.0), T.constant(1.0)], non_sequences=w)  # fmt: skip
    f = _same_values([x, w], [a], [np.arange(3.0), 2.0], on_unused_input="ignore")
    (scan,) = _scans(f)
    assert scan.op.info.n_states == 1 and scan.op.info.n_invariants == 0


@pytest.mark.parametrize("mode", ["py", "c"])
def test_rewritten_loops_train_like_unrewritten_ones(mode):
    rng = np.random.default_rng(1)
    x, W, U = T.dtensor3("x"), T.dmatrix("W"), T.dmatrix("U")
    h0 = T.zeros((2, 4), dtype="float64")
    hs, _ = symdl.scan(lambda x_t, h, W, U: T.tanh(T.dot(x_t, W) + T.dot(h, U)), sequences=x, outputs_info=h0,
                       non_sequences=[W, U])  # fmt: skip
    cost = (hs[-1] ** 2).sum()
    grads = symdl.grad(cost, [W, U])
    values = [rng.normal(size=(5, 2, 3)), rng.normal(size=(3, 4)) * 0.5, rng.normal(size=(4, 4)) * 0.5]
    a = symdl.function([x, W, U], [cost, *grads], mode=mode)(*values)
    b = symdl.function([x, W, U], [cost, *grads], mode="py", optimizer="none")(*values)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-9)


def test_a_loop_knows_its_batch_sizes_are_equal_so_its_gradient_body_has_no_shape_work():
    # h0 and the rows of x have the same batch size, which only the graph around the loop shows
    # (the weights' sizes are known, as a layer's parameters are)
    rng = np.random.default_rng(0)
    x, W, U = T.dtensor3("x"), T.dmatrix("W", shape=(2, 4)), T.dmatrix("U", shape=(4, 4))
    h0 = T.zeros((x.shape[1], U.shape[0]), dtype="float64")
    hs, _ = symdl.scan(lambda x_t, h, W, U: T.tanh(T.dot(x_t, W) + T.dot(h, U)), sequences=x, outputs_info=h0,
                       non_sequences=[W, U])  # fmt: skip
    cost = (hs**2).sum()
    values = [rng.normal(size=(5, 3, 2)), rng.normal(size=(2, 4)), rng.normal(size=(4, 4)) * 0.5]
    f = _same_values([x, W, U], [cost, *symdl.grad(cost, [x, W, U])], values)
    loops = _scans(f)
    assert all(n.op.info.equal_dims for n in loops)
    (backward,) = [n for n in loops if n.op.info.name.startswith("grad_of")]
    body = [str(n.op) for n in backward.op.inner_plan().order]
    assert "reduce_to_shape" not in body and "shape" not in body


@pytest.mark.parametrize("mode", ["py", "c"])
def test_a_gradient_loop_is_given_only_what_its_rewritten_body_reads(mode):
    # an LSTM's backward loop is handed every value of the forward loop's; once its body is
    # rewritten it reads few of them, and the outer work making the others goes too; two of its
    # per-step outputs (the gates' gradient, for two weights) become one value, stored once
    from symdl import layers

    rng = np.random.default_rng(2)
    l_in = layers.InputLayer((None, 4, 3))
    lstm = layers.LSTMLayer(l_in, 5)
    cost = (layers.get_output(lstm) ** 2).sum()
    params = layers.get_all_params(lstm, trainable=True)
    outputs = [cost, *symdl.grad(cost, params)]
    x = rng.normal(size=(2, 4, 3)).astype(symdl.config.floatX)
    f = symdl.function([l_in.input_var], outputs, mode=mode)
    kept = symdl.function([l_in.input_var], outputs, mode=mode, optimizer_excluding=["scan_prune_rewritten_body"])
    plain = symdl.function([l_in.input_var], outputs, mode="py", optimizer="none")
    for a, b in zip(f(x), plain(x)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    for node in _scans(f):
        body = node.op.inner_plan().fgraph
        read = {v for n in body.toposort() for v in n.inputs} | set(body.outputs)
        groups = node.op.inner_groups(body)
        assert all(v in read for vs in groups["seqs"] for v in vs) and all(v in read for v in groups["invariants"])
        assert len(set(groups["nit_out"])) == len(groups["nit_out"])
    (backward,) = [n for n in _scans(f) if n.op.info.name.startswith("grad_of")]
    (backward_kept,) = [n for n in _scans(kept) if n.op.info.name.startswith("grad_of")]
    assert len(backward.inputs) < len(backward_kept.inputs)
    assert len(backward.outputs) < len(backward_kept.outputs)
    assert len(f.graph.apply_nodes) < len(kept.graph.apply_nodes)


@pytest.mark.parametrize("mode", ["py", "c"])
def test_a_sequence_row_passed_through_is_the_sequence_not_a_stored_output(mode):
    # a per-step output that is a sequence's row as it came in (here at taps -1 and +1) is that
    # sequence's rows; the loop stores nothing for it
    x, h0 = T.dvector("x"), T.dscalar("h0")
    (hs, before, after), _ = symdl.scan(
        lambda x_m, x_p, h: [h + x_m * x_p, x_m, x_p],
        sequences=dict(input=x, taps=[-1, 1]),
        outputs_info=[h0, None, None],
    )
    values = [np.arange(1.0, 8.0), 0.5]
    f = symdl.function([x, h0], [hs, before, after], mode=mode)
    got = f(*values)
    np.testing.assert_allclose(got[1], values[0][:5])
    np.testing.assert_allclose(got[2], values[0][2:])
    np.testing.assert_allclose(got[0], 0.5 + np.cumsum(values[0][:5] * values[0][2:]))
    (loop,) = _scans(f)
    assert loop.op.info.n_nit == 0


@pytest.mark.parametrize("mode", ["py", "c"])
def test_per_step_outputs_read_backwards_are_stored_backwards(mode):
    x, h0 = T.dvector("x"), T.dscalar("h0")
    (hs, squares), _ = symdl.scan(lambda v, h: [h * 0.5 + v, T.sin(v * h)], sequences=x, outputs_info=[h0, None])
    outputs = [hs, squares[::-1]]
    values = [np.linspace(-1.0, 2.0, 7), 0.3]
    f = symdl.function([x, h0], outputs, mode=mode)
    kept = symdl.function([x, h0], outputs, mode=mode, optimizer_excluding=["scan_store_in_reading_order"])
    for a, b in zip(f(*values), kept(*values)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    (loop,) = _scans(f)
    assert loop.op.info.reversed_rows == (True,)
    templates = [n.op.template for n in f.graph.toposort() if hasattr(n.op, "template")]
    assert ("slice", None, None, -1) not in [entry for template in templates for entry in template]


@pytest.mark.parametrize("layer_name, seed", [("GRULayer", 4), ("LSTMLayer", 7)])
def test_a_recurrent_gradient_loop_stores_an_output_in_the_order_its_readers_want(layer_name, seed):
    # back-propagation through time runs over the steps backwards; a per-step output read after
    # the loop in forward order is stored backwards, with the same values: the GRU's, and the
    # LSTM's gates' gradient, which the hidden weights' product also sums over the steps
    from symdl import layers

    rng = np.random.default_rng(seed)
    l_in = layers.InputLayer((None, 5, 3))
    layer = getattr(layers, layer_name)(l_in, 4)
    cost = (layers.get_output(layer) ** 2).sum()
    params = layers.get_all_params(layer, trainable=True)
    outputs = [cost, *symdl.grad(cost, params)]
    x = rng.normal(size=(2, 5, 3)).astype(symdl.config.floatX)
    f = symdl.function([l_in.input_var], outputs, mode="c")
    plain = symdl.function([l_in.input_var], outputs, mode="py", optimizer="none")
    for a, b in zip(f(x), plain(x)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    (backward,) = [n for n in _scans(f) if n.op.info.name.startswith("grad_of")]
    assert any(backward.op.info.reversed_rows)


def _loop_read_backwards_and_summed(x, axes):
    # a recurrent loop over x reversed; its per-step output is read in forward order (ys[::-1])
    # and summed over its (step, batch row) pairs by a product with an operand made from x
    def step(x_t, h):
        h_new = T.tanh(x_t + h)
        return h_new, T.sqr(h_new)

    (hs, ys), _ = symdl.scan(step, sequences=[x[::-1]], outputs_info=[T.zeros_like(x[0]), None])
    q = x.dimshuffle(*axes) ** 2
    total = T.dot(q.reshape((q.shape[0], -1)), ys.reshape((-1, ys.shape[2])))
    return [hs[-1], ys[::-1], total]


@pytest.mark.parametrize("mode", ["py", "c"])
def test_a_product_summing_over_the_steps_reads_rows_stored_backwards(mode):
    x = T.dtensor3("x")
    outputs = _loop_read_backwards_and_summed(x, (2, 0, 1))  # q's axes 1, 2: steps, batch rows
    value = np.random.default_rng(5).normal(size=(5, 2, 3))
    f = symdl.function([x], outputs, mode=mode)
    plain = symdl.function([x], outputs, mode="py", optimizer="none")
    for a, b in zip(f(value), plain(value)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    (loop,) = _scans(f)  # the loop storing in step order is gone, not kept for the product
    assert loop.op.info.reversed_rows == (True,)


def test_a_product_over_other_axes_keeps_the_rows_in_step_order():
    x = T.dtensor3("x")
    # q's axes 1, 2 are (batch row, step), paired with the rows' (step, batch row): reversing the
    # steps on both sides would pair other elements
    outputs = _loop_read_backwards_and_summed(x, (2, 1, 0))
    value = np.random.default_rng(6).normal(size=(4, 2, 3))
    f = symdl.function([x], outputs, mode="c")
    plain = symdl.function([x], outputs, mode="py", optimizer="none")
    for a, b in zip(f(value), plain(value)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    (loop,) = _scans(f)
    assert not any(loop.op.info.reversed_rows)


def test_elementwise_work_on_sequences_read_only_by_elementwise_work_stays_in_the_loop():
    # outside, 1 - x and its tanh would each be a pass over the whole sequence that the body's
    # fused kernel then reads again; inside, that kernel does them on each row as it reads it
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    hs, _ = symdl.scan(lambda x_t, h: h * T.tanh(1.0 - x_t) + x_t, sequences=x, outputs_info=h0)
    f = _same_values([x, h0], [hs], [np.random.default_rng(1).normal(size=(6, 3)), np.ones(3)])
    (loop,) = _scans(f)
    outside = [str(n.op) for n in f.graph.toposort() if not isinstance(n.op, Scan)]
    assert not any("tanh" in op for op in outside)
    body = [str(n.op) for n in loop.op.fgraph.toposort()]
    assert any("tanh" in op for op in body)


def test_elementwise_work_feeding_a_product_still_leaves_the_loop_with_it():
    x, W, U, h0 = T.dmatrix("x"), T.dmatrix("W"), T.dmatrix("U"), T.dvector("h0")
    hs, _ = symdl.scan(lambda x_t, h: T.tanh(T.dot(1.0 - x_t, W) + T.dot(h, U)), sequences=x, outputs_info=h0)
    rng = np.random.default_rng(2)
    values = [rng.normal(size=(6, 3)), rng.normal(size=(3, 4)), rng.normal(size=(4, 4)) * 0.5, np.ones(4)]
    f = _same_values([x, W, U, h0], [hs], values)
    (loop,) = _scans(f)
    body = [str(n.op) for n in loop.op.fgraph.toposort()]
    assert sum("dot" in op or "gemm" in op for op in body) == 1  # only h . U is left in the loop
    assert not any("sub" in op for op in body)


def _two_states_cost(x):
    # the cost reads only the first state: the second's gradient rows were a sequence of zeros
    (a, _), _ = symdl.scan(lambda x_t, a, b: [T.tanh(a + x_t * b), b * 0.9 + x_t],
                           sequences=x, outputs_info=[T.zeros_like(x[0]), T.ones_like(x[0])])  # fmt: skip
    return (a**2).sum()


def _made_by_alloc(var):
    from symdl.tensor.creation import Alloc

    while var.owner is not None and not isinstance(var.owner.op, Alloc) and var.owner.op.view_map:
        var = var.owner.inputs[0]
    return var.owner is not None and isinstance(var.owner.op, Alloc)


def test_a_gradient_loop_reads_no_zeros_for_outputs_the_cost_does_not_read():
    x = T.dmatrix("x")
    cost = _two_states_cost(x)
    value = np.random.default_rng(3).normal(size=(5, 2))
    f = _same_values([x], [cost, symdl.grad(cost, x)], [value])
    (backward,) = [n for n in _scans(f) if n.op.info.name.startswith("grad_of")]
    sequences = backward.op.outer_groups(backward.inputs)["seqs"]
    assert not any(_made_by_alloc(v) for v in sequences)
    symdl.testing.verify_grad(_two_states_cost, [value])


@pytest.mark.parametrize("mode", ["py", "c"])
def test_a_weight_gradient_summed_over_the_steps_reads_the_rows_it_stacks(mode):
    # sum over t of h_t.T . g_t is (h_0 ; h_1 ; ...).T . (g_0 ; g_1 ; ...): the product reads the
    # stacked rows through a transpose flag, where the stack of each h_t.T would be copied
    x, W, h0 = T.dtensor3("x"), T.dmatrix("W"), T.dmatrix("h0")
    hs, _ = symdl.scan(lambda x_t, h, W: T.tanh(x_t + T.dot(h, W)), sequences=x, outputs_info=h0, non_sequences=W)
    cost = (hs**2).sum()
    rng = np.random.default_rng(4)
    values = [rng.normal(size=(5, 2, 3)), rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(2, 3))]
    outputs = [cost, symdl.grad(cost, W)]
    f = symdl.function([x, W, h0], outputs, mode=mode)
    plain = symdl.function([x, W, h0], outputs, mode="py", optimizer="none")
    for got, want in zip(f(*values), plain(*values)):
        np.testing.assert_allclose(got, want, rtol=1e-10)
    lefts = [n.inputs[0].owner for n in f.graph.toposort() if "dot" in str(n.op) and n.inputs[0].owner is not None]
    ops = [(str(left.op), str(left.inputs[0].owner.op) if left.inputs[0].owner else None) for left in lefts]
    assert ("transpose", "reshape{2}") in ops
    assert ("reshape{2}", "dimshuffle{1,0,2}") not in ops  # the stack of h_t.T, copied to be reshaped
