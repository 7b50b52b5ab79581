"""The execution plan: one schedule, liveness and in-place decision for every backend."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.compile.plan import make_plan, may_view, views_of
from symdl.graph.fg import FunctionGraph


def _shared(shape, name):
    return symdl.shared(np.random.default_rng(0).normal(size=shape).astype("float32"), name=name)


def test_every_intermediate_is_freed_after_its_last_reader_and_nothing_kept_is():
    x = T.dvector("x")
    y = T.exp(x) * 2
    z = T.tanh(y) + y
    fg = FunctionGraph([x], [z, y * 3])
    plan = make_plan(fg)
    freed = [v for free in plan.frees for v in free]
    assert len(freed) == len(set(freed))  # each once
    kept = set(fg.inputs) | set(fg.outputs)
    assert not kept & set(freed)
    position = {node: k for k, node in enumerate(plan.order)}
    for k, free in enumerate(plan.frees):
        for v in free:
            readers = [position[n] for n, _ in fg.clients[v] if n != "output"]
            assert max(readers, default=position.get(v.owner, -1)) == k


def test_an_output_nobody_reads_is_freed_right_after_its_node():
    x = T.dvector("x")
    first, second = T.split(x, [1, 2], 2)
    fg = FunctionGraph([x], [first * 2])
    plan = make_plan(fg)
    (split_step,) = [k for k, node in enumerate(plan.order) if len(node.outputs) == 2]
    unread = plan.order[split_step].outputs[1]
    assert unread in plan.frees[split_step]


def test_the_plan_counts_the_callers_inputs_and_the_results_before_the_updates():
    x = T.fvector("x")
    w = _shared((3,), "w")
    f = symdl.function([x], [x.sum(), x * 2], updates=[(w, w - x)], mode="py")
    plan = f.plan
    assert (plan.n_inputs, plan.n_results) == (1, 2)
    assert plan.updates == {2: 1}
    assert plan.fgraph is f.graph


def test_views_come_from_the_ops_view_maps_and_unknown_ops_may_view_anything():
    x = T.dmatrix("x")
    t = x.T  # dimshuffle: a view
    e = T.exp(t)  # elementwise: a fresh array
    fg = FunctionGraph([x], [e], clone=False)
    assert views_of(fg, x) == {x, t}
    assert not may_view(e.owner, 0)

    class Opaque(symdl.graph.Op):
        def make_node(self, v):
            return symdl.graph.Apply(self, [v], [v.type])

        def perform(self, node, inputs):
            return [inputs[0]]

    o = Opaque()(x)
    assert may_view(o.owner, 0)  # view_map None: may return its input as it is


def test_an_update_is_written_in_place_only_when_its_op_may_overwrite_that_input():
    W = _shared((4, 3), "W")
    x = T.fmatrix("x")
    # elementwise: may overwrite W; a product W.T @ x: the operands stay intact
    f = symdl.function([x], [], updates=[(W, W * 0.5 + x)], mode="py")
    assert [shared for shared, _ in f.plan.in_place.values()] == [W]
    V = _shared((3, 3), "V")
    g = symdl.function([], [], updates=[(V, T.dot(V, V))], mode="py")
    assert g.plan.in_place == {}


def test_an_update_whose_old_value_is_returned_is_not_written_in_place():
    W = _shared((3,), "W")
    f = symdl.function([], W.T, updates=[(W, W + 1)], mode="py")
    assert f.plan.in_place == {}
    old = W.get_value()
    np.testing.assert_array_equal(f(), old)
    np.testing.assert_array_equal(W.get_value(), old + 1)


@pytest.mark.parametrize("mode", ["py", "c"])
def test_every_backend_runs_the_plan_order_and_gets_the_same_values(mode):
    W, v = _shared((4, 4), "W"), _shared((), "v")
    x = T.fmatrix("x")
    f = symdl.function([x], T.dot(x, W.T), updates=[(W, W * 2), (v, v + T.dot(x, W.T).sum())], mode=mode)
    X = np.ones((2, 4), "float32")
    old_w, old_v = W.get_value(), v.get_value()
    np.testing.assert_allclose(f(X), X @ old_w.T, rtol=1e-5)
    np.testing.assert_allclose(W.get_value(), old_w * 2, rtol=1e-6)
    np.testing.assert_allclose(v.get_value(), old_v + (X @ old_w.T).sum(), rtol=1e-4)


def test_early_nodes_run_as_soon_as_they_can_and_late_ones_when_nothing_else_can():
    class Mark(symdl.graph.Op):
        __props__ = ("schedule",)

        def __init__(self, schedule):
            self.schedule = schedule

        def make_node(self, v):
            return symdl.graph.Apply(self, [v], [v.type])

        def perform(self, node, inputs):
            return [inputs[0].copy()]

    x = T.dvector("x")
    started = Mark("early")(T.exp(x))  # e.g. a non-blocking send of a gradient
    chain = x
    for _ in range(4):
        chain = T.tanh(chain)  # the rest of a backward pass
    waited = Mark("late")(started)  # e.g. waiting for that send
    fg = FunctionGraph([x], [waited + chain])
    order = make_plan(fg).order
    position = {node: k for k, node in enumerate(order)}
    tanhs = [position[n] for n in order if "tanh" in str(n.op)]
    assert position[started.owner] < min(tanhs)
    assert position[waited.owner] > max(tanhs)
