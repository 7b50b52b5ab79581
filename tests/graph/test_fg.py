"""FunctionGraph: inputs, outputs and clients; toposort; replace (with pruning of nodes left
unused); clone; missing inputs."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import MissingInputError, TypeMismatch
from symdl.graph import FunctionGraph


def build():
    x, y = T.dvector("x"), T.dvector("y")
    a = T.exp(x)
    out = a * y + a
    return x, y, a, out


def test_function_graph_records_inputs_outputs_nodes_and_clients():
    x, y, a, out = build()
    fg = FunctionGraph([x, y], [out])
    assert fg.inputs == [x, y] and fg.outputs == [out]
    assert len(fg.apply_nodes) == 3
    assert sorted(str(n.op) for n in fg.apply_nodes) == ["add", "exp", "mul"]
    assert len(fg.clients[a]) == 2
    assert fg.clients[out] == [("output", 0)]
    assert all(node.inputs[i] is x for node, i in fg.clients[x])
    assert [str(n.op) for n in fg.toposort()] == ["exp", "mul", "add"]


def test_constants_and_shared_variables_are_implicit_inputs():
    x = T.dvector("x")
    W = symdl.shared(np.ones(2), name="W")
    fg = FunctionGraph([x], [x * W + 1.0])
    assert W in fg.variables and W not in fg.inputs


def test_a_variable_that_is_not_an_input_is_missing():
    x, y, a, out = build()
    with pytest.raises(MissingInputError, match="y created at test_fg.py"):
        FunctionGraph([x], [out])


def test_replace_rewires_clients_and_prunes_unused_nodes():
    x, y, a, out = build()
    fg = FunctionGraph([x, y], [out])
    b = T.sin(x)
    fg.replace(a, b)
    assert a not in fg.variables and a.owner not in fg.apply_nodes
    assert b in fg.variables and len(fg.clients[b]) == 2
    assert sorted(str(n.op) for n in fg.apply_nodes) == ["add", "mul", "sin"]
    assert [str(n.op) for n in fg.toposort()][0] == "sin"
    f = symdl.function([x, y], fg.outputs[0])
    v = np.array([0.3, 0.7])
    np.testing.assert_allclose(f(v, v), np.sin(v) * v + np.sin(v))


def test_replace_of_an_output_updates_the_outputs():
    x, y, a, out = build()
    fg = FunctionGraph([x, y], [out])
    new = x + y
    fg.replace(out, new)
    assert fg.outputs == [new]
    assert sorted(str(n.op) for n in fg.apply_nodes) == ["add"]
    assert fg.clients[new] == [("output", 0)]


def test_replace_by_a_deep_new_subgraph_needs_no_recursion():
    x, y, a, out = build()
    fg = FunctionGraph([x, y], [out])
    deep = x
    for _ in range(3000):
        deep = deep * 1.0
    fg.replace(a, deep)
    assert len(fg.apply_nodes) == 3002
    assert len(fg.toposort()) == 3002


def test_replace_by_a_variable_of_another_type_is_refused():
    x, y, a, out = build()
    fg = FunctionGraph([x, y], [out])
    with pytest.raises(TypeMismatch):
        fg.replace(a, T.cast(a, "float32"))
    with pytest.raises(TypeMismatch):
        fg.replace(a, T.dmatrix())


def test_replace_all_applies_each_pair():
    x, y, a, out = build()
    fg = FunctionGraph([x, y], [out])
    fg.replace_all([(a, T.sin(x)), (y, x)])
    f = symdl.function([x], fg.outputs[0])
    v = np.array([0.5])
    np.testing.assert_allclose(f(v), np.sin(v) * v + np.sin(v))


def test_clone_gives_an_independent_graph():
    x, y, a, out = build()
    fg = FunctionGraph([x, y], [out])
    copy = fg.clone()
    assert copy.inputs[0] is not x and copy.outputs[0] is not out
    assert copy.inputs[0].name == "x"
    copy.replace(copy.outputs[0], copy.inputs[0] * 2.0)
    assert fg.outputs == [out] and len(fg.apply_nodes) == 3
    cloned = FunctionGraph([x, y], [out], clone=True)
    assert cloned.outputs[0] is not out and out.owner.inputs[1] is a
    assert [str(n.op) for n in cloned.toposort()] == ["exp", "mul", "add"]


def test_clone_keeps_shared_variables_and_constants():
    x = T.dvector("x")
    W = symdl.shared(np.ones(2), name="W")
    c = T.constant(2.0)
    fg = FunctionGraph([x], [x * W + c], clone=True)
    assert W in fg.variables and c in fg.variables


def test_repr_summarizes_the_graph():
    x, y, a, out = build()
    assert repr(FunctionGraph([x, y], [out])) == "FunctionGraph(2 inputs, 3 nodes, 1 outputs)"
