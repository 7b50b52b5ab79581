"""Inplace marks: only dead, freshly computed buffers of the output's shape may be overwritten."""

import numpy as np

import symdl
import symdl.tensor as T


def _marks(fn):
    return {str(n.op): n.tag.get("inplace") for n in fn.graph.toposort()}


def test_elementwise_after_a_product_may_overwrite_it():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = symdl.function([a, b], T.tanh(T.dot(a, b)) * 2.0, mode="py")
    composite = [n for n in f.graph.toposort() if "composite" in str(n.op)][0]
    assert composite.tag["inplace"] == {0: composite.inputs.index(composite.inputs[0])}
    assert composite.inputs[composite.tag["inplace"][0]].owner is not None
    np.testing.assert_allclose(f(np.eye(2), np.eye(2)), np.tanh(np.eye(2)) * 2)


def test_function_inputs_constants_and_shared_storage_are_never_overwritten():
    x = T.dvector("x")
    w = symdl.shared(np.ones(3), name="w")
    f = symdl.function([x], T.exp(x) * 2.0 + w, updates=[(w, w + 1.0)], mode="py")
    for node in f.graph.toposort():
        for i in (node.tag.get("inplace") or {}).values():
            assert node.inputs[i].owner is not None


def test_a_buffer_still_needed_elsewhere_is_not_overwritten():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    d = T.dot(a, b)
    f = symdl.function([a, b], [T.exp(d), d], mode="py")
    assert all(not n.tag.get("inplace") for n in f.graph.toposort())


def test_a_smaller_input_that_broadcasts_is_not_overwritten():
    a, c = T.dmatrix("a"), T.dmatrix("c")
    s = T.sum(a, axis=0)
    f = symdl.function([a, c], T.exp(s) * c, mode="py")
    assert all(not n.tag.get("inplace") for n in f.graph.toposort())


def test_views_are_not_overwritten():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = symdl.function([a, b], T.exp(T.dot(a, b).T), mode="py", optimizer_excluding="lift")
    for node in f.graph.toposort():
        for i in (node.tag.get("inplace") or {}).values():
            assert "transpose" not in str(node.inputs[i].owner.op)


def test_inplace_can_be_excluded():
    a, b = T.dmatrix("a"), T.dmatrix("b")
    f = symdl.function([a, b], T.tanh(T.dot(a, b)), mode="py", optimizer_excluding="inplace")
    assert all(not n.tag.get("inplace") for n in f.graph.toposort())
