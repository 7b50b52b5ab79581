"""Every test draws the same random numbers whatever runs before it (tests/conftest.py seeds
NumPy's, Python's and symdl.random's generators from the test's id): a test's outcome cannot
depend on the order, as the flaky frozen-parameters test did (issue 17, defect 11)."""

import zlib

import numpy as np

import symdl.random
from symdl import layers


def _seed(request):
    return zlib.crc32(request.node.nodeid.encode())


def test_layer_initialisation_is_seeded_by_the_test_id(request):
    expected = np.random.RandomState(_seed(request))
    layer = layers.DenseLayer(layers.InputLayer((None, 4)), 3, b=None)
    bound = np.sqrt(6.0 / (4 + 3))  # GlorotUniform, the default
    np.testing.assert_allclose(layer.W.get_value(), expected.uniform(-bound, bound, (4, 3)), rtol=1e-6)


def test_a_generator_replaced_by_one_test_does_not_reach_the_next(request):
    assert symdl.random.get_rng().randint(2**31) == np.random.RandomState(_seed(request)).randint(2**31)
    symdl.random.set_rng(np.random.RandomState(7))  # restored after this test


def test_dropout_streams_are_seeded_by_the_test_id_too(request):
    first = layers.DropoutLayer(layers.InputLayer((None, 4)), p=0.5)
    expected = np.random.RandomState(_seed(request)).randint(1, 2147462579)
    assert first._srng.default_seed == expected
