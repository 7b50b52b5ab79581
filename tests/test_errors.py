"""symdl.errors: each error is one of ours (and the matching builtin), and its message says what
was expected, what came, the op, and the user's line where the offending variable was made."""

import sys

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.errors import (
    CompileError,
    DisconnectedInputError,
    InputError,
    MissingInputError,
    NullGradError,
    ShapeError,
    SymdlError,
    TypeMismatch,
    UnusedInputError,
)


def here(offset=0):
    """'test_errors.py:N' for the caller's line plus ``offset``."""
    return f"test_errors.py:{sys._getframe(1).f_lineno + offset}"


@pytest.mark.parametrize(
    "error, builtin",
    [
        (ShapeError, ValueError),
        (TypeMismatch, TypeError),
        (InputError, TypeError),
        (DisconnectedInputError, ValueError),
        (NullGradError, TypeError),
        (MissingInputError, SymdlError),
        (UnusedInputError, SymdlError),
        (CompileError, SymdlError),
    ],
)
def test_errors_are_ours_and_catchable_as_the_builtin_they_resemble(error, builtin):
    assert issubclass(error, SymdlError) and issubclass(error, builtin)


def test_dot_shape_error_names_both_sizes_and_the_callers_line():
    with pytest.raises(ShapeError) as info:
        T.dot(T.matrix(shape=(None, 3)), T.matrix(shape=(4, None)))
    where = here(-1)
    message = str(info.value)
    assert "3" in message and "4" in message and where in message


def test_dot_shape_error_names_where_each_operand_was_created():
    x = T.matrix("x", shape=(None, 3))
    x_line = here(-1)
    W = T.matrix("W", shape=(4, 10))
    W_line = here(-1)
    with pytest.raises(ShapeError) as info:
        T.dot(x, W)
    call_line = here(-1)
    message = str(info.value)
    assert "dot" in message and "(?, 3)" in message and "(4, 10)" in message
    assert f"x created at {x_line}" in message and f"W created at {W_line}" in message
    assert f"called at {call_line}" in message


def test_broadcast_conflict_names_op_shapes_and_line():
    a = T.tensor3("a", shape=(2, 3, 4))
    a_line = here(-1)
    b = T.matrix("b", shape=(5, 4))
    with pytest.raises(ShapeError) as info:
        T.maximum(a, b)
    call_line = here(-1)
    message = str(info.value)
    assert "maximum" in message and "(2, 3, 4)" in message and "(5, 4)" in message
    assert "3 vs 5" in message and a_line in message and call_line in message


def test_bad_reshape_names_op_shapes_and_line():
    x = T.matrix("x", shape=(4, 6))
    with pytest.raises(ShapeError) as info:
        x.reshape((5, 5))
    call_line = here(-1)
    message = str(info.value)
    assert "reshape" in message and "(4, 6)" in message and "(5, 5)" in message and call_line in message


def test_bad_axis_names_op_shape_and_line():
    x = T.matrix("x", shape=(4, None))
    with pytest.raises(ShapeError) as info:
        x.sum(axis=2)
    call_line = here(-1)
    message = str(info.value)
    assert "sum" in message and "axis 2" in message and "(4, ?)" in message and call_line in message


def test_errors_inside_nested_helpers_still_name_the_users_line():
    lines = []

    def layer(inp):
        lines.append(here(1))
        return T.dot(inp, T.matrix("W", shape=(7, 2)))

    x = T.matrix("x", shape=(None, 3))
    with pytest.raises(ShapeError) as info:
        layer(x)
    assert f"called at {lines[0]}" in str(info.value)  # the line inside layer() that called dot


def test_missing_input_names_the_variable_and_where_it_was_made():
    x = T.fvector("x")
    y = T.fvector("y")
    y_line = here(-1)
    with pytest.raises(MissingInputError) as info:
        symdl.function([x], x + y)
    assert f"y created at {y_line}" in str(info.value)


def test_update_type_error_names_the_shared_variable_and_the_expression_line():
    W = symdl.shared(np.zeros(3, "float32"), name="W")
    new = W * np.float64(0.5)
    new_line = here(-1)
    with pytest.raises(TypeMismatch) as info:
        symdl.function([], [], updates=[(W, new)])
    message = str(info.value)
    assert "W" in message and "float32" in message and "float64" in message and new_line in message


def test_call_errors_name_the_input_by_name_and_position_before_computing():
    x, y = T.fvector("x"), T.ivector("y")
    calls = []
    acc = symdl.shared(np.float32(0), name="acc")
    f = symdl.function([x, y], x.sum() + y.sum(), updates=[(acc, acc + 1)])
    with pytest.raises(InputError) as info:
        f(np.ones(2), np.ones(2))
    assert "input 1 (y)" in str(info.value)
    assert float(acc.get_value()) == 0.0 and not calls


def test_runtime_errors_name_the_failing_node():
    x = T.fmatrix("x")
    out = x.reshape((2, 2))
    f = symdl.function([x], out, mode="py")
    with pytest.raises(ShapeError) as info:
        f(np.ones((3, 3), "float32"))
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "reshape" in notes and "test_errors.py" in notes
