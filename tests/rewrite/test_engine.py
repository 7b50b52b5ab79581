"""The pass manager: optimizer modes, tags, failure handling, cycle guard, timing, names."""

import time
import warnings

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.graph import FunctionGraph
from symdl.rewrite import engine, rewrite_graph
from symdl.tensor.elemwise import Elemwise


@pytest.fixture
def temporary_rewriters():
    """Rewriters registered inside a test are removed after it."""
    symdl.rewrite._load()
    before = list(engine.REGISTRY.node_rewriters)
    yield engine.REGISTRY
    engine.REGISTRY.node_rewriters[:] = before


def test_optimizer_none_leaves_the_graph_as_written():
    x = T.dvector("x")
    f = symdl.function([x], x * 1.0, mode="py", optimizer="none")
    assert [str(n.op) for n in f.graph.toposort()] == ["mul"]


def test_unknown_optimizer_is_refused():
    x = T.dvector("x")
    with pytest.raises(ValueError, match="fast_run"):
        symdl.function([x], x, optimizer="fastest")


def test_config_optimizer_is_the_default():
    x = T.dvector("x")
    with symdl.config.change(optimizer="none"):
        f = symdl.function([x], x * 1.0, mode="py")
    assert len(f.graph.apply_nodes) == 1


def test_excluding_and_including_by_tag(temporary_rewriters):
    x = T.dvector("x")
    f = symdl.function([x], T.exp(x) * 2.0, mode="py", optimizer_excluding="fusion")
    assert [str(n.op) for n in f.graph.toposort()] == ["exp", "mul"]

    @temporary_rewriters.node("canonicalize", "optional_demo", tracks=[Elemwise], scalar=["exp"], default=False)
    def exp_to_expm1_plus_one(fgraph, node):
        return [T.expm1(node.inputs[0]) + 1.0]

    f = symdl.function([x], T.exp(x), mode="py", optimizer_excluding="fusion")
    assert [str(n.op) for n in f.graph.toposort()] == ["exp"]
    f = symdl.function([x], T.exp(x), mode="py", optimizer_excluding="fusion", optimizer_including="optional_demo")
    assert [str(n.op) for n in f.graph.toposort()] == ["expm1", "add"]


def test_a_failing_rewrite_is_rolled_back_counted_and_reported_once(temporary_rewriters):
    @temporary_rewriters.node("canonicalize", tracks=[Elemwise], scalar=["tanh"])
    def broken_rewrite(fgraph, node):
        raise ZeroDivisionError("boom")

    x = T.dvector("x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = symdl.function([x], T.tanh(x) + T.tanh(x * 2.0), mode="py")
        g = symdl.function([x], T.tanh(x), mode="py")
    messages = [str(w.message) for w in caught if "broken_rewrite" in str(w.message)]
    assert len(messages) == 1 and "boom" in messages[0]
    assert len(f.graph.rewrite_failures["broken_rewrite"]) == 2
    np.testing.assert_allclose(f(np.array([0.5])), np.tanh([0.5]) + np.tanh([1.0]))
    np.testing.assert_allclose(g(np.array([0.5])), np.tanh([0.5]))


def test_a_rewrite_of_the_wrong_type_is_refused(temporary_rewriters):
    @temporary_rewriters.node("canonicalize", tracks=[Elemwise], scalar=["sinh"])
    def wrong_dtype(fgraph, node):
        return [T.cast(node.inputs[0], "float32")]

    x = T.dvector("x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = symdl.function([x], T.sinh(x), mode="py")
    assert "wrong_dtype" in f.graph.rewrite_failures
    assert [str(n.op) for n in f.graph.toposort()] == ["composite{sinh}"]


def test_rewrites_that_undo_each_other_stop_at_the_budget(temporary_rewriters):
    @temporary_rewriters.node("canonicalize", tracks=[Elemwise], scalar=["sin"])
    def sin_to_double_neg(fgraph, node):
        return [T.sin(T.neg(T.neg(node.inputs[0]))) if node.inputs[0].owner is None else None]

    x = T.dvector("x")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = symdl.function([x], T.sin(x), mode="py")
    assert any("stopped the canonicalize phase" in str(w.message) for w in caught)
    np.testing.assert_allclose(f(np.array([0.5])), np.sin([0.5]))


def test_per_pass_time_is_recorded():
    x = T.dvector("x")
    f = symdl.function([x], T.exp(x) * 2.0, mode="py")
    names = [name for name, _, _ in f.graph.rewrite_profile]
    assert names[0] == "merge" and "canonicalize" in names and "elemwise_fusion" in names
    assert all(seconds >= 0 for _, seconds, _ in f.graph.rewrite_profile)
    assert f.graph.rewrite_counts["elemwise_fusion"] == 1


def test_replacements_keep_user_names_and_creation_lines():
    x = T.dvector("x")
    y = x * 1.0
    y.name = "scaled"
    z = T.exp(y * 2.0) * 1.0
    z.name = "result"
    f = symdl.function([x], z, mode="py", optimizer_excluding="fusion")
    (out,) = f.graph.outputs
    assert out.name == "result"
    assert out.trace is not None and out.trace.filename == __file__


def test_merge_finds_common_subexpressions_and_equal_constants():
    x = T.dvector("x")
    a = T.exp(x + 2.0)
    b = T.exp(x + 2.0)
    fg = FunctionGraph([x], [a, b], clone=True)
    engine.merge_pass(fg)
    assert fg.outputs[0] is fg.outputs[1]
    assert len(fg.apply_nodes) == 2


def test_rewriting_a_10000_node_graph_is_linear():
    """Counts only (timing is in benchmarks/rewrite_graph.py): a long chain rewrites fully."""
    x = T.dvector("x")
    out = x
    for _ in range(2500):
        out = T.tanh(out * 1.0 + 0.0) * 2.0
    fg = FunctionGraph([x], [out], clone=True)
    assert len(fg.apply_nodes) == 10000
    start = time.perf_counter()
    rewrite_graph(fg, "fast_run", excluding="sympy")
    elapsed = time.perf_counter() - start
    assert len(fg.apply_nodes) < 200
    assert elapsed < 30
