"""symdl.function: outputs as a variable, list or dict; updates applied after all outputs are
computed; givens; defaults and keyword arguments; checks of the arguments at call time; outputs
owned by the caller; unused and missing inputs."""

import warnings
from collections import OrderedDict

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import InputError, MissingInputError, ShapeError, TypeMismatch, UnusedInputError


def f32(*values):
    return np.array(values, "float32")


# ------------------------------------------------------------------ outputs
def test_single_output_is_returned_as_an_array(backend):
    x = T.fvector("x")
    out = symdl.function([x], x * 2, mode=backend)(f32(1, 2))
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(out, [2, 4])


def test_scalar_output_is_a_0d_array(backend):
    x = T.fvector("x")
    out = symdl.function([x], x.sum(), mode=backend)(f32(1, 2))
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float32


def test_list_and_tuple_of_outputs_give_a_list(backend):
    x = T.fvector("x")
    for outputs in ([x * 2, x.sum()], (x * 2, x.sum())):
        got = symdl.function([x], outputs, mode=backend)(f32(1, 2))
        assert isinstance(got, list) and len(got) == 2
        np.testing.assert_array_equal(got[0], [2, 4])
        assert float(got[1]) == 3.0


def test_dict_of_outputs_gives_a_dict_with_the_same_keys(backend):
    x = T.fvector("x")
    got = symdl.function([x], {"double": x * 2, "total": x.sum()}, mode=backend)(f32(1, 2))
    assert list(got) == ["double", "total"]
    np.testing.assert_array_equal(got["double"], [2, 4])


def test_no_outputs_give_an_empty_list(backend):
    x = T.fvector("x")
    assert symdl.function([x], [], mode=backend, on_unused_input="ignore")(f32(1)) == []
    assert symdl.function([x], None, mode=backend, on_unused_input="ignore")(f32(1)) == []


def test_python_and_numpy_values_can_be_outputs(backend):
    f = symdl.function([], [T.constant(np.arange(3)), 2.5], mode=backend)
    a, b = f()
    np.testing.assert_array_equal(a, np.arange(3))
    assert float(b) == 2.5


# ------------------------------------------------------------------ updates
def test_updates_as_list_of_pairs_apply_after_each_call(backend):
    acc = symdl.shared(np.float32(0), name="acc")
    x = T.fvector("x")
    f = symdl.function([x], x.sum(), updates=[(acc, acc + x.sum())], mode=backend)
    f(f32(1, 2))
    f(f32(3))
    assert float(acc.get_value()) == 6.0
    assert acc.get_value().dtype == np.float32


@pytest.mark.parametrize("container", [OrderedDict, dict, list, tuple])
def test_updates_accept_ordered_dicts_dicts_lists_and_tuples(backend, container):
    a = symdl.shared(np.zeros(2), name="a")
    b = symdl.shared(np.ones(2), name="b")
    pairs = [(a, a + 1), (b, b * 3)]
    updates = container(pairs)
    f = symdl.function([], [], updates=updates, mode=backend)
    f()
    np.testing.assert_array_equal(a.get_value(), [1, 1])
    np.testing.assert_array_equal(b.get_value(), [3, 3])


def test_outputs_see_the_values_from_before_the_updates(backend):
    W = symdl.shared(np.arange(3.0), name="W")
    f = symdl.function([], [W * 1, W.sum()], updates=[(W, W + 10)], mode=backend)
    before, total = f()
    np.testing.assert_array_equal(before, [0, 1, 2])
    assert float(total) == 3.0
    np.testing.assert_array_equal(W.get_value(), [10, 11, 12])


def test_every_update_reads_the_old_values_so_two_shared_variables_swap(backend):
    a = symdl.shared(np.array([1.0, 2.0]), name="a")
    b = symdl.shared(np.array([3.0, 4.0]), name="b")
    swap = symdl.function([], [], updates=[(a, b), (b, a)], mode=backend)
    swap()
    np.testing.assert_array_equal(a.get_value(), [3, 4])
    np.testing.assert_array_equal(b.get_value(), [1, 2])
    swap()
    np.testing.assert_array_equal(a.get_value(), [1, 2])
    np.testing.assert_array_equal(b.get_value(), [3, 4])
    a.get_value(borrow=True)[0] = 100.0
    assert b.get_value()[0] == 3.0


def test_chained_updates_read_old_values(backend):
    a = symdl.shared(np.float64(2.0), name="a")
    b = symdl.shared(np.float64(3.0), name="b")
    f = symdl.function([], a + b, updates=OrderedDict([(a, a + b), (b, a * b)]), mode=backend)
    assert float(f()) == 5.0
    assert float(a.get_value()) == 5.0 and float(b.get_value()) == 6.0


def test_update_with_a_python_scalar_is_cast_to_the_shared_dtype(backend):
    n = symdl.shared(np.int32(0), name="n")
    W = symdl.shared(np.ones(2, "float32"), name="W")
    symdl.function([], [], updates=[(n, n + 1), (W, W * 0.5)], mode=backend)()
    assert n.get_value().dtype == np.int32 and int(n.get_value()) == 1
    assert W.get_value().dtype == np.float32
    symdl.function([], [], updates=[(n, 7.0)], mode=backend)()
    assert n.get_value().dtype == np.int32 and int(n.get_value()) == 7


def test_bad_updates_are_refused():
    x = T.fvector("x")
    W = symdl.shared(np.zeros(2, "float32"), name="W")
    with pytest.raises(TypeMismatch, match="not a shared variable"):
        symdl.function([x], [], updates=[(x, x + 1)])
    with pytest.raises(ValueError, match="twice"):
        symdl.function([], [], updates=[(W, W + 1), (W, W - 1)])
    with pytest.raises(TypeMismatch, match="W"):
        symdl.function([], [], updates=[(W, W.sum())])
    with pytest.raises(TypeMismatch, match="float64"):
        symdl.function([], [], updates=[(W, W + np.ones(2))])
    with pytest.raises(TypeError):
        symdl.function([], [], updates=[W])


def test_default_updates_apply_unless_disabled(backend):
    counter = symdl.shared(np.int64(0), name="counter")
    counter.default_update = counter + 1
    f = symdl.function([], counter * 1, mode=backend)
    f()
    f()
    assert int(counter.get_value()) == 2
    g = symdl.function([], counter * 1, mode=backend, no_default_updates=True)
    g()
    assert int(counter.get_value()) == 2
    h = symdl.function([], [], updates=[(counter, counter + 10)], mode=backend)
    h()
    assert int(counter.get_value()) == 12


# ------------------------------------------------------------------ givens
def test_givens_replace_an_input_by_a_shared_variable(backend):
    x = T.fmatrix("x")
    data = symdl.shared(np.arange(6, dtype="float32").reshape(2, 3), name="data")
    f = symdl.function([], x.sum(axis=1), givens={x: data}, mode=backend)
    np.testing.assert_array_equal(f(), [3, 12])
    data.set_value(np.ones((2, 3), "float32"))
    np.testing.assert_array_equal(f(), [3, 3])


def test_givens_replace_by_a_slice_of_a_shared_dataset(backend):
    x, i = T.fmatrix("x"), T.lscalar("i")
    data = symdl.shared(np.arange(12, dtype="float32").reshape(6, 2), name="data")
    f = symdl.function([i], x.sum(), givens=[(x, data[i * 2 : (i + 1) * 2])], mode=backend)
    assert float(f(1)) == 4 + 5 + 6 + 7


def test_givens_replace_by_an_expression_of_other_inputs(backend):
    x, y = T.fvector("x"), T.fvector("y")
    f = symdl.function([y], x * 2, givens={x: y + 1}, mode=backend)
    np.testing.assert_array_equal(f(f32(1, 2)), [4, 6])


def test_givens_of_another_type_are_refused():
    x = T.fmatrix("x")
    with pytest.raises(TypeMismatch):
        symdl.function([], x * 2, givens={x: T.fvector()})
    f = symdl.function([], x * 2, givens={x: [[1.0, 2.0]]})
    assert f().dtype == np.float32


# ------------------------------------------------------------------ inputs
def test_in_with_a_default_value_makes_the_input_optional(backend):
    x, y = T.fvector("x"), T.fscalar("y")
    f = symdl.function([x, symdl.In(y, value=2.0)], x * y, mode=backend)
    np.testing.assert_array_equal(f(f32(1, 2)), [2, 4])
    np.testing.assert_array_equal(f(f32(1, 2), 3.0), [3, 6])
    np.testing.assert_array_equal(f(f32(1, 2), y=-1.0), [-1, -2])


def test_inputs_can_be_given_by_keyword(backend):
    x, y = T.fvector("x"), T.fvector("y")
    f = symdl.function([x, symdl.In(y, name="other")], x - y, mode=backend)
    np.testing.assert_array_equal(f(other=f32(1), x=f32(5)), [4])
    with pytest.raises(InputError, match="no input named 'y'"):
        f(f32(1), y=f32(2))
    with pytest.raises(InputError, match="both"):
        f(f32(1), x=f32(2))


def test_wrong_number_of_arguments_is_an_input_error(backend):
    x, y = T.fvector("x"), T.fvector("y")
    f = symdl.function([x, y], x + y, mode=backend)
    with pytest.raises(InputError, match="takes 2 inputs, got 3"):
        f(f32(1), f32(1), f32(1))
    with pytest.raises(InputError, match=r"missing input 1 \(y\)"):
        f(f32(1))


def test_wrong_ndim_is_an_input_error_naming_the_input(backend):
    x, y = T.fvector("x"), T.fmatrix("y")
    f = symdl.function([x, y], x + y, mode=backend)
    with pytest.raises(InputError, match=r"input 1 \(y\) expects a 2-d array, got shape \(3,\)"):
        f(f32(1, 2, 3), f32(1, 2, 3))


def test_static_shape_mismatch_is_an_input_error(backend):
    x = T.fmatrix("x", shape=(None, 3))
    f = symdl.function([x], x * 2, mode=backend)
    assert f(np.ones((5, 3))).shape == (5, 3)
    with pytest.raises(InputError, match=r"input 0 \(x\) expects shape \(\?, 3\), got \(5, 4\)"):
        f(np.ones((5, 4), "float32"))


def test_float64_data_into_a_float32_input_is_cast(backend):
    x = T.fvector("x")
    out = symdl.function([x], x * 2, mode=backend)(np.array([0.1, 0.2]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, np.array([0.2, 0.4], "float32"))
    assert symdl.function([x], x, mode=backend)([1, 2]).dtype == np.float32


def test_float_data_into_an_integer_input_is_an_error_naming_name_and_position(backend):
    x, y = T.fvector("x"), T.ivector("labels")
    f = symdl.function([x, y], x * y, mode=backend)
    with pytest.raises(InputError) as info:
        f(f32(1, 2), np.array([1.0, 2.0]))
    message = str(info.value)
    assert "input 1" in message and "labels" in message and "int32" in message and "float64" in message
    with pytest.raises(InputError):
        f(f32(1, 2), [0.5, 1.0])


def test_integer_data_is_accepted_when_its_values_fit(backend):
    y = T.ivector("y")
    f = symdl.function([y], y * 1, mode=backend)
    assert f([1, 2]).dtype == np.int32
    assert f(np.array([1, 2], "int64")).dtype == np.int32
    assert f(np.array([1, 2], "uint8")).dtype == np.int32
    with pytest.raises(InputError, match="int64"):
        f(np.array([2**40, 1]))
    b = T.bvector("b")
    with pytest.raises(InputError):
        symdl.function([b], b * 1, mode=backend)([1000])


def test_bad_inputs_are_refused_when_compiling():
    x = T.fvector("x")
    W = symdl.shared(np.zeros(2, "float32"), name="W")
    with pytest.raises(TypeError, match="list"):
        symdl.function(x, x)
    with pytest.raises(TypeError, match="shared"):
        symdl.function([W], W * 2)
    with pytest.raises(TypeError, match="constant"):
        symdl.function([T.constant(1.0)], x, on_unused_input="ignore")
    with pytest.raises(MissingInputError):  # x * 2 is given, x itself is not
        symdl.function([x * 2], x, on_unused_input="ignore")
    with pytest.raises(ValueError, match="twice"):
        symdl.function([x, x], x)
    with pytest.raises(TypeError):
        symdl.function([np.ones(2)], x)


# ------------------------------------------------------------------ ownership
def test_mutating_a_returned_array_does_not_affect_later_calls(backend):
    x = T.fvector("x")
    c = T.constant(f32(1, 2))
    f = symdl.function([x], [x, x * 1, c, x.T], mode=backend)
    data = f32(3, 4)
    first = f(data)
    assert first[0] is not data
    for out in first:
        out[...] = -1
    np.testing.assert_array_equal(data, [3, 4])
    second = f(data)
    np.testing.assert_array_equal(second[0], [3, 4])
    np.testing.assert_array_equal(second[2], [1, 2])


def test_mutating_a_returned_array_does_not_affect_shared_values(backend):
    W = symdl.shared(np.ones(3), name="W")
    f = symdl.function([], [W, W.T, W.reshape((3, 1))], mode=backend)
    for out in f():
        out[...] = 5
    np.testing.assert_array_equal(W.get_value(), np.ones(3))


def test_two_outputs_of_the_same_expression_are_distinct_arrays(backend):
    x = T.dvector("x")
    y = x * 2
    a, b = symdl.function([x], [y, y], mode=backend)(np.ones(2))
    a[0] = 100
    assert b[0] == 2


def test_an_update_never_aliases_an_output_or_an_input(backend):
    W = symdl.shared(np.zeros(2), name="W")
    x = T.dvector("x")
    new = W + x
    f = symdl.function([x], new, updates=[(W, new)], mode=backend)
    out = f(np.ones(2))
    out[:] = 50
    np.testing.assert_array_equal(W.get_value(), [1, 1])
    g = symdl.function([x], [], updates=[(W, x)], mode=backend)
    data = np.full(2, 3.0)
    g(data)
    data[:] = 7
    np.testing.assert_array_equal(W.get_value(), [3, 3])


# ------------------------------------------------------------------ unused and missing inputs
def test_unused_input_raises_by_default():
    x, y = T.fvector("x"), T.fvector("unused")
    with pytest.raises(UnusedInputError, match="unused"):
        symdl.function([x, y], x * 2)


def test_unused_input_can_warn_or_be_ignored(backend):
    x, y = T.fvector("x"), T.fvector("unused")
    with pytest.warns(UserWarning, match="unused"):
        f = symdl.function([x, y], x * 2, on_unused_input="warn", mode=backend)
    np.testing.assert_array_equal(f(f32(1), f32(5, 6)), [2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = symdl.function([x, y], x * 2, on_unused_input="ignore", mode=backend)
    np.testing.assert_array_equal(g(f32(1), f32(5)), [2])


def test_input_used_only_by_an_update_counts_as_used(backend):
    x = T.fscalar("x")
    acc = symdl.shared(np.float32(0), name="acc")
    f = symdl.function([x], [], updates=[(acc, acc + x)], mode=backend)
    f(2.0)
    assert float(acc.get_value()) == 2.0


def test_missing_input_names_the_variable():
    x, y = T.fvector("x"), T.fvector("y")
    with pytest.raises(MissingInputError, match="y created at test_function.py"):
        symdl.function([x], x + y)
    with pytest.raises(MissingInputError):
        symdl.function([], y * 2)


# ------------------------------------------------------------------ backend selection and introspection
def test_mode_selects_a_backend_and_unknown_modes_are_refused(backend):
    x = T.fvector("x")
    f = symdl.function([x], x + 1, mode=backend)
    assert f.backend == backend
    assert isinstance(f.source(), str) and f.source()
    assert symdl.function([x], x + 1, mode="py").backend == "py"
    with pytest.raises(ValueError, match="unknown backend"):
        symdl.function([x], x + 1, mode="no-such-backend")


def test_function_name_appears_in_call_errors():
    x = T.fvector("x")
    f = symdl.function([x], x, name="double")
    with pytest.raises(InputError, match="'double'"):
        f()


def test_eval_compiles_and_runs_a_variable(backend):
    x = T.dvector("x")
    np.testing.assert_array_equal((x * 2).eval({x: [1.0, 2.0]}), [2.0, 4.0])
    assert float(T.constant(3.0).eval()) == 3.0


def test_a_pickled_function_recompiles_and_keeps_its_shared_values_and_defaults(backend):
    import pickle

    x = T.vector("x")
    scale = T.scalar("scale")
    w = symdl.shared(np.arange(3, dtype="float32"), name="w")
    fn = symdl.function([x, symdl.In(scale, value=2.0)], (x * w * scale).sum(), updates=[(w, w + 1)], mode=backend)
    fn(np.ones(3, "float32"))
    copy = pickle.loads(pickle.dumps(fn))
    data = np.array([1, 2, 3], "float32")
    # Both start from w = [1, 2, 3]; the copy's w is its own.
    assert copy(data) == fn(data) == pytest.approx(2 * (1 + 4 + 9))
    assert copy(data, 1.0) == pytest.approx(2 + 6 + 12)
    assert np.array_equal(w.get_value(), [2, 3, 4])


def test_a_function_pickled_here_runs_in_another_process(tmp_path):
    # Another process hashes strings differently: types and ops must not carry hashes across.
    import pickle
    import subprocess
    import sys

    x = T.matrix("x")
    fn = symdl.function([x], T.nnet.softmax(x * 2).sum(axis=0))
    path = tmp_path / "fn.pkl"
    path.write_bytes(pickle.dumps(fn))
    data = np.arange(6, dtype="float32").reshape(2, 3)
    script = (
        "import pickle, sys, numpy as np; import symdl; "
        f"fn = pickle.loads(open({str(path)!r}, 'rb').read()); "
        "print(repr(fn(np.arange(6, dtype='float32').reshape(2, 3)).tolist()))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert np.allclose(eval(result.stdout), fn(data))


def test_an_output_that_is_an_input_is_the_callers_copy(backend):
    x = T.vector("x")
    fn = symdl.function([x], [x, x * 1], optimizer="fast_run", mode=backend)
    data = f32(1, 2, 3)
    first, second = fn(data)
    assert first is not data and not np.shares_memory(first, data)
    assert not np.shares_memory(first, second)
    first[0] = 99
    assert data[0] == 1 and second[0] == 1


def test_borrowed_outputs_are_right_on_every_backend_and_pickle(backend):
    import pickle

    x = T.fvector("x")
    fn = symdl.function([x], [symdl.Out(x * 2, borrow=True), x + 1], mode=backend)
    np.testing.assert_array_equal(fn(f32(1, 2))[0], [2, 4])
    named = symdl.function([x], {"double": symdl.Out(x * 2, borrow=True)}, mode=backend)
    np.testing.assert_array_equal(named(f32(3))["double"], [6])
    again = pickle.loads(pickle.dumps(fn))
    doubled, plus_one = again(f32(5))
    np.testing.assert_array_equal(doubled, [10])
    np.testing.assert_array_equal(plus_one, [6])


def test_a_shape_value_updates_a_shared_variable_and_replaces_a_variable_through_givens():
    # shape values promote like Python ints (weak), but are variables, not constants
    x = T.fmatrix("x")
    n = symdl.shared(np.int32(0), name="n")
    s = T.fscalar("s")
    f = symdl.function([x], [], updates=[(n, x.shape[0])], mode="py")
    f(np.zeros((5, 2), "float32"))
    assert n.get_value() == 5 and n.get_value().dtype == np.int32
    g = symdl.function([x], s * 2, givens={s: x.shape[1]}, mode="py")
    assert float(g(np.zeros((5, 3), "float32"))) == 6.0


# ---------------------------------------------------------------- issue 17's defects 4, 7, 8, 10
@pytest.mark.parametrize("mode", ["py", "c"])
def test_an_update_cannot_change_the_shape_a_shared_variable_was_declared_with(mode):
    ws = symdl.shared(np.arange(3, dtype="float32"), shape=(3,))
    v = T.fvector("v")
    f = symdl.function([v], updates=[(ws, v)], mode=mode)
    with pytest.raises(ShapeError, match=r"shape \(5,\).*shape is \(3,\); no update was applied"):
        f(np.ones(5, "float32"))
    np.testing.assert_array_equal(ws.get_value(), [0, 1, 2])
    f(np.full(3, 7, "float32"))
    np.testing.assert_array_equal(ws.get_value(), [7, 7, 7])


@pytest.mark.parametrize("mode", ["py", "c"])
def test_a_call_and_its_updates_are_one_step_whichever_thread_calls(mode):
    import threading

    counter = symdl.shared(np.float64(0.0), name="counter")
    f = symdl.function([], [], updates=[(counter, counter + 1)], mode=mode)

    def work():
        for _ in range(500):
            f()

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert float(counter.get_value()) == 4000.0


def test_nan_guard_works_on_the_py_backend_and_names_the_node_and_line():
    from symdl.errors import NanGuardError

    x = T.dvector("x")
    y = T.log(x)  # the user's line
    with symdl.config.change(nan_guard=True):
        f = symdl.function([x], y * 2, mode="py")
    with pytest.raises(NanGuardError, match="test_function.py"):
        f(np.array([1.0, -1.0]))


def test_a_ragged_list_input_is_a_clear_error_naming_the_input_and_its_type(backend):
    x = T.fmatrix("x")
    f = symdl.function([x], x * 2, mode=backend)
    for ragged in ([[1.0, 2.0], [3.0]], [[1.0, 2.0], [3.0, [4.0]]]):
        with pytest.raises(InputError) as info:
            f(ragged)
        message = str(info.value)
        assert "input 0 (x) expects a 2-d float32 array" in message
        assert "ragged nested list" in message and "rows of equal lengths" in message
        assert "setting an array element" not in message  # NumPy's own words say none of this


def test_an_input_computed_from_other_variables_cuts_the_graph_there():
    x = T.dvector("x")
    y = x * 2
    f = symdl.function([y], y * 3, mode="py")  # x is not needed: y is given
    np.testing.assert_allclose(f(np.array([1.0, 2.0])), [3.0, 6.0])
    np.testing.assert_allclose((y + 1).eval({y: np.array([5.0])}), [6.0])
