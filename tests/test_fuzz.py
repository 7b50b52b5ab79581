"""symdl.fuzz: a short run passes; drawing is reproducible; the comparer, shrinker and reproducer printer."""

import re

import numpy as np
import pytest

import symdl
from symdl.fuzz import check, program
from symdl.fuzz.check import Outcome, compare_values
from symdl.fuzz.cli import main
from symdl.fuzz.generate import generate
from symdl.fuzz.program import Input, Lit, Node, Program, numpy_source, symdl_source
from symdl.fuzz.reproducer import reproducer
from symdl.fuzz.runner import Pool
from symdl.fuzz.shrink import shrink

BACKENDS = tuple(b for b in ("py", "c") if b in symdl.backend.available())


def test_twenty_graphs_of_seed_0_pass_on_every_backend(capsys):
    status = main(["--graphs", "20", "--seed", "0", "--backends", ",".join(BACKENDS), "--jobs", "1"])
    out = capsys.readouterr().out
    assert re.fullmatch(r"symdl\.fuzz: 20 graphs run \(seed 0, .*\), 0 failures found", out.splitlines()[-1]), out
    assert status == 0


def test_a_graph_is_the_same_for_the_same_seed_and_index():
    a, b, c = generate(3, 7), generate(3, 7), generate(4, 7)
    assert symdl_source(a) == symdl_source(b) and numpy_source(a) == numpy_source(b)
    for x, y in zip(a.inputs, b.inputs):
        np.testing.assert_array_equal(x.value, y.value)
    assert symdl_source(a) != symdl_source(c)


def test_drawn_graphs_cover_the_op_set():
    ops = {node.op for k in range(300) for node in generate(0, k).nodes}
    for op in ("add", "true_div", "sum", "argmax", "index", "inc_subtensor", "reshape", "dimshuffle", "concatenate"):
        assert op in ops, op
    for op in ("dot", "conv2d", "pool_2d", "softmax", "cast", "switch"):
        assert op in ops, op
    assert any(generate(0, k).grad for k in range(20))


def test_special_values_compare_sensibly():
    f32 = "float32"
    assert compare_values(np.array([-0.0, np.nan, np.inf], f32), np.array([0.0, np.nan, np.inf], f32)) is None
    assert "value" in compare_values(np.array([np.nan]), np.array([1.0]))
    assert "value" in compare_values(np.array([-np.inf]), np.array([np.inf]))
    big = np.finfo(f32).max
    assert compare_values(np.array([big], f32), np.array([np.inf], f32)) is None  # within rounding of overflow
    assert compare_values(np.array([1, 2], "int32"), np.array([1, 2], "int64")) == "dtype int32, expected int64"
    assert compare_values(np.zeros((2, 0)), np.zeros((0, 2))) == "shape (2, 0), expected (0, 2)"
    assert compare_values(np.array([1.0]), np.array([1.0 + 1e-6])) is not None
    assert compare_values(np.array([1.0]), np.array([1.0 + 1e-6]), "float32") is None
    # an overflowing sum is inf, -inf or NaN by the order of summation; a NaN lost is still caught
    assert compare_values(np.array([np.inf, 1e308]), np.array([np.nan, -np.inf])) is not None
    assert compare_values(np.array([np.inf, 1e308]), np.array([np.nan, -np.inf]), accumulates=True) is None
    assert compare_values(np.array([1.0]), np.array([np.nan]), accumulates=True) is not None


def test_error_families_match_numpys():
    assert "ValueError" in check.family(symdl.errors.ShapeError("x"))
    assert set(check.family(np.exceptions.AxisError(1, 1))) == {"IndexError", "ValueError"}


def _three_node_program():
    return Program(
        [Input("x0", np.array([1.5, -0.0, np.nan, 5e-324]), (4,)), Input("x1", np.array([2.0]), (None,))],
        [
            Node("v0", "exp", ("x0",)),
            Node("v1", "mul", ("v0", Lit(-2))),
            Node("v2", "add", ("v1", "x1")),
        ],
        ["v2", "v0"],
    )


def test_shrinking_keeps_only_what_the_failure_needs():
    small = shrink(_three_node_program(), lambda p: any(n.op == "mul" for n in p.nodes))
    assert [n.op for n in small.nodes] == ["mul"]
    assert len(small.inputs) == 1 and small.inputs[0].static == (None,)
    np.testing.assert_array_equal(small.inputs[0].value, [1.0])  # plain values, half the elements each round


def test_a_reproducer_is_a_test_that_passes_when_symdl_agrees_with_numpy():
    source = reproducer(_three_node_program(), BACKENDS, "test_example", "an example")
    assert source.startswith("def test_example():\n")
    assert "np.array([1.5, -0.0, np.nan, 5e-324], dtype='float64')" in source
    assert "v1 = v0 * (-2)" in source
    namespace = {}
    exec(source, namespace)
    namespace["test_example"]()


def test_a_reproducer_expects_numpys_error_class():
    p = Program(
        [Input("x0", np.arange(3.0), (None,))], [Node("v0", "index", ("x0",), {"index": program.Code("5")})], ["v0"]
    )
    source = reproducer(p, BACKENDS, "test_index")
    assert "pytest.raises(IndexError)" in source
    namespace = {}
    exec(source, namespace)
    namespace["test_index"]()


def test_a_reproducer_fails_while_the_mismatch_is_there(monkeypatch):
    monkeypatch.setitem(program.OPS, "off_by_one", ("{0} + 1", "np.add({0}, 2)"))
    p = Program([Input("x0", np.arange(3.0), (None,))], [Node("v0", "off_by_one", ("x0",))], ["v0"])
    outcome = check.check(p, BACKENDS)
    assert outcome.kind == "mismatch" and outcome.where == BACKENDS[0]
    namespace = {}
    exec(reproducer(p, BACKENDS, "test_off_by_one"), namespace)
    with pytest.raises(AssertionError):
        namespace["test_off_by_one"]()


def test_a_gradient_program_checks_against_finite_differences():
    p = generate(0, next(k for k in range(50) if generate(0, k).grad))
    assert check.check(p, BACKENDS) == Outcome("ok")
    source = reproducer(p, BACKENDS, "test_grad")
    assert "finite_differences(reference, values" in source
    namespace = {}
    exec(source, namespace)
    namespace["test_grad"]()


def test_a_graph_past_its_time_is_a_hang():
    pool = Pool(("py",), 1, timeout=1e-4)
    try:
        outcome = pool.check(_three_node_program())
        assert outcome.kind == "hang"
        assert pool.check(_three_node_program()).kind == "hang"  # a fresh worker took the old one's place
    finally:
        pool.close()
