"""Random draws in the C runtime (kernels/c/runtime_random.h over philox.h) give the numbers of
the NumPy reference (symdl.tensor.random's perform) from the same state: uniform and binomial
bit for bit at every size (the parallel word fill included), normal to libm's rounding; draws
whose parameters vary per element run the Python perform."""

import numpy as np
import pytest

import symdl
from symdl.tensor.random import RandomStream

SIZES = [(0,), (1,), (5,), (3, 7), (140001,)]  # the last one fills its words on several threads


def draws(mode, shape, seed=99):
    rng = RandomStream(seed)
    outs = [
        rng.uniform(shape, low=-2.0, high=3.0, dtype="float32"),
        rng.uniform(shape, low=0.5, high=1.5, dtype="float64"),
        rng.binomial(shape, n=3, p=0.3, dtype="int32"),
        rng.bernoulli(shape, p=0.75, dtype="float32"),
        rng.bernoulli(shape, p=0.5, dtype="bool"),
        rng.normal(shape, avg=1.0, std=2.0, dtype="float64"),
        rng.normal(shape, dtype="float32"),
    ]
    return symdl.function([], outs, mode=mode)


@pytest.mark.parametrize("shape", SIZES, ids=str)
def test_draws_in_c_are_the_reference_draws(shape):
    fc, fpy = draws("c", shape), draws("py", shape)
    assert fc.source().count("A->random(") == 7 and "A->py(" not in fc.source()
    for _ in range(2):  # the second call starts from the advanced states
        got, want = fc(), fpy()
        for g, w in zip(got[:5], want[:5]):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_array_equal(g, w)
        for g, w in zip(got[5:], want[5:]):
            assert g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-6 if g.dtype == np.float32 else 1e-12, atol=1e-12)


def test_parameters_per_element_run_the_python_perform():
    rng = RandomStream(4)
    low = np.arange(6, dtype="float32").reshape(2, 3)
    f = symdl.function([], rng.uniform((2, 3), low=low, high=low + 1.0), mode="c")
    assert "A->random(" not in f.source() and "A->py(" in f.source()
    sample = f()
    assert ((sample >= low) & (sample < low + 1)).all()
