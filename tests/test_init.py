"""Initializers: shapes, dtypes, and the statistics their formulas promise."""

import numpy as np
import pytest

from symdl import init


@pytest.fixture(autouse=True)
def seeded():
    old = init.get_rng()
    init.set_rng(np.random.RandomState(42))
    yield
    init.set_rng(old)


def test_constant_fills_the_shape_with_floatX():
    w = init.Constant(0.25)((3, 4))
    assert w.dtype == np.float32 and w.shape == (3, 4) and (w == 0.25).all()


def test_normal_has_the_requested_mean_and_std():
    w = init.Normal(std=0.5, mean=1.0)((200, 200))
    assert abs(w.mean() - 1.0) < 0.01 and abs(w.std() - 0.5) < 0.01


def test_uniform_accepts_a_range_a_pair_or_a_std():
    assert np.abs(init.Uniform(0.1)((100, 100))).max() <= 0.1
    w = init.Uniform((2.0, 3.0))((100, 100))
    assert w.min() >= 2.0 and w.max() <= 3.0
    assert abs(init.Uniform(std=0.2)((300, 300)).std() - 0.2) < 0.005


def test_glorot_uniform_bound_follows_fan_in_and_fan_out():
    w = init.GlorotUniform()((100, 300))
    bound = np.sqrt(6.0 / 400)
    assert w.max() <= bound and w.max() > 0.95 * bound


def test_glorot_normal_of_conv_filters_uses_the_receptive_field():
    w = init.GlorotNormal()((64, 32, 3, 3))
    assert abs(w.std() - np.sqrt(2.0 / ((64 + 32) * 9))) < 0.002


def test_he_normal_std_is_gain_over_sqrt_fan_in():
    w = init.HeNormal(gain="relu")((400, 300))
    assert abs(w.std() - np.sqrt(2.0 / 400)) < 0.002
    filters = init.HeUniform()((16, 8, 3, 3))
    assert abs(filters.std() - np.sqrt(1.0 / 72)) < 0.01


def test_glorot_and_he_need_two_axes():
    with pytest.raises(RuntimeError, match="length >= 2"):
        init.GlorotUniform()((10,))
    with pytest.raises(RuntimeError, match="length >= 2"):
        init.HeNormal()((10,))


def test_orthogonal_rows_are_orthonormal_times_gain():
    w = init.Orthogonal(gain=2.0)((20, 50))
    np.testing.assert_allclose(w @ w.T, 4.0 * np.eye(20), atol=1e-4)
    filters = init.Orthogonal()((8, 2, 3, 3)).reshape(8, -1)
    np.testing.assert_allclose(filters @ filters.T, np.eye(8), atol=1e-5)


def test_sparse_has_the_requested_nonzeros_per_column():
    w = init.Sparse(sparsity=0.2)((50, 7))
    assert ((w != 0).sum(axis=0) == 10).all()


def test_set_rng_makes_draws_reproducible():
    init.set_rng(np.random.RandomState(1))
    a = init.GlorotUniform()((5, 5))
    init.set_rng(np.random.RandomState(1))
    np.testing.assert_array_equal(a, init.GlorotUniform()((5, 5)))


def test_every_initializer_is_built_without_arguments_as_lasagne_lists_them():
    # Lasagne's test instantiates every subclass of Initializer with no subclass of its own,
    # and the subclasses of the others (Glorot and He take the distribution).
    for klass in init.Initializer.__subclasses__():
        for leaf in klass.__subclasses__() or [klass]:
            assert leaf().sample((12, 23)).shape == (12, 23)
    assert issubclass(init.Glorot, init.Initializer) and init.Glorot.__bases__ == (init.Initializer,)
