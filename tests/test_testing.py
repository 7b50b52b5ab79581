"""symdl.testing.verify_grad: it passes correct gradients and catches wrong ones, showing the
analytic and numeric values and the worst index."""

import re

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl.graph import Apply, Op
from symdl.tensor.var import as_tensor_variable
from symdl.testing import GradientError, compare_with_numpy, verify_grad

# On the NumPy reference backend (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("reference_backend")


class Cube(Op):
    """x ** 3 with a gradient that is wrong in a chosen way."""

    __props__ = ("mistake",)

    def __init__(self, mistake):
        self.mistake = mistake

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        return [inputs[0] ** 3]

    def L_op(self, inputs, outputs, grads):
        (x,), (g,) = inputs, grads
        right = g * 3 * x**2
        if self.mistake == "none":
            return [right]
        if self.mistake == "factor":
            return [g * 2 * x**2]
        if self.mistake == "one element":
            return [T.set_subtensor(right[1, 2], right[1, 2] + 0.5)]
        if self.mistake == "mean of the output gradient":
            # Right when the output gradient is uniform, wrong for a random projection.
            return [T.mean(g) * 3 * x**2]
        if self.mistake == "nan":
            return [right * T.log(x - 10)]
        raise AssertionError(self.mistake)


POINT = np.array([[0.5, -1.0, 1.5], [2.0, -0.3, 0.8]])


def test_a_correct_gradient_passes():
    verify_grad(Cube("none"), [POINT])
    verify_grad(lambda x, y: T.sum(T.tanh(x) * y, axis=0), [POINT, POINT[::-1]], n_tests=3, rng=7)


def test_a_wrong_gradient_is_caught_with_analytic_numeric_and_worst_index():
    with pytest.raises(GradientError) as info:
        verify_grad(Cube("one element"), [POINT], rng=0)
    message = str(info.value)
    assert "input 0" in message and "at 1 of 6 elements" in message
    assert "worst at index (1, 2)" in message
    analytic, numeric = (float(v) for v in re.search(r"analytic (\S+), numeric (\S+) ", message).groups())
    assert analytic == pytest.approx(numeric + 0.5, abs=1e-6)
    assert "analytic:\n" in message and "numeric:\n" in message


def test_a_wrong_factor_is_caught_everywhere():
    with pytest.raises(GradientError, match="at 6 of 6 elements"):
        verify_grad(Cube("factor"), [POINT], rng=0)


def test_the_random_projection_catches_what_a_uniform_one_would_not():
    x = T.dmatrix("x")
    wrong = symdl.grad(T.sum(Cube("mean of the output gradient")(x)), x)
    right = symdl.grad(T.sum(x**3), x)
    # With the cost sum(f(x)) (a uniform projection) the wrong gradient agrees...
    np.testing.assert_allclose(*symdl.function([x], [wrong, right])(POINT))
    # ...a random projection does not.
    with pytest.raises(GradientError):
        verify_grad(Cube("mean of the output gradient"), [POINT], rng=0)


def test_a_nan_gradient_fails_where_finite_differences_are_finite():
    with pytest.raises(GradientError, match="analytic nan"):
        verify_grad(Cube("nan"), [POINT], rng=0)


def test_the_failing_input_is_named():
    with pytest.raises(GradientError, match="input 1"):
        verify_grad(lambda a, b: a * Cube("factor")(b), [POINT, POINT + 1], rng=0)


def test_scalar_inputs_and_outputs():
    verify_grad(lambda x: x**3 + T.sin(x), [np.array(0.7)])
    with pytest.raises(GradientError, match=r"index \(\)"):
        verify_grad(lambda x: Cube("factor")(x), [np.array(0.7)])


def test_float32_points_use_float32_tolerances():
    verify_grad(lambda x: T.exp(x) * T.tanh(x), [POINT.astype("float32")])
    # A graph that rounds to float32 inside is checked with float32 tolerances too.
    verify_grad(lambda x: T.cast(T.exp(T.cast(x, "float32")), "float64"), [POINT])


def test_explicit_tolerances_and_step():
    with pytest.raises(GradientError):
        verify_grad(lambda x: T.exp(x), [POINT], eps=1.0)  # a step far too large
    verify_grad(lambda x: T.exp(x), [POINT], eps=1e-2, abs_tol=1e-3, rel_tol=1e-3)


def test_integer_points_are_checked_in_float64():
    verify_grad(lambda x: x**2, [np.array([1, 2, 3])])


def test_the_function_must_return_a_float():
    with pytest.raises(TypeError, match="float tensor"):
        verify_grad(lambda x: T.argmax(x), [POINT])


def test_disconnected_inputs_get_zero_on_both_sides():
    verify_grad(lambda a, b: a * 2, [POINT, POINT])


def test_verify_grad_is_reproducible_with_a_seed():
    messages = []
    for _ in range(2):
        with pytest.raises(GradientError) as info:
            verify_grad(Cube("factor"), [POINT], rng=3)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_compare_with_numpy_checks_values_and_dtypes():
    compare_with_numpy(lambda x: T.exp(x) * 2, lambda x: np.exp(x) * 2, [POINT], backends=["py"])
    with pytest.raises(AssertionError, match="dtype"):
        compare_with_numpy(lambda x: T.cast(x, "float32"), lambda x: x, [POINT], backends=["py"])
    with pytest.raises(AssertionError):
        compare_with_numpy(lambda x: x + 1e-3, lambda x: x, [POINT], backends=["py"])
