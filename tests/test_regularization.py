"""Weight penalties over layers and networks; biases are left alone by default."""

import numpy as np
import pytest

import symdl
from symdl import init, layers, regularization


def make_net():
    l_in = layers.InputLayer((None, 3))
    hidden = layers.DenseLayer(l_in, 2, W=init.Constant(1.0), b=init.Constant(5.0))
    out = layers.DenseLayer(hidden, 1, W=init.Constant(-2.0), b=init.Constant(5.0))
    return hidden, out


def value(expr):
    return float(symdl.function([], expr, mode="py")())


def test_l1_and_l2_of_a_network_skip_biases():
    _, net = make_net()
    assert value(regularization.regularize_network_params(net, regularization.l2)) == pytest.approx(6 + 8)
    assert value(regularization.regularize_network_params(net, regularization.l1)) == pytest.approx(6 + 4)


def test_layer_params_and_weighted_layers():
    hidden, out = make_net()
    assert value(regularization.regularize_layer_params(hidden, regularization.l2)) == pytest.approx(6)
    assert value(regularization.regularize_layer_params([hidden, out], regularization.l2)) == pytest.approx(14)
    weighted = regularization.regularize_layer_params_weighted({hidden: 0.1, out: 1.0}, regularization.l2)
    assert value(weighted) == pytest.approx(0.6 + 8)


def test_apply_penalty_to_one_tensor_or_a_list():
    w = symdl.shared(np.array([1.0, -3.0], np.float32))
    assert value(regularization.apply_penalty(w, regularization.l1)) == pytest.approx(4)
    assert value(regularization.apply_penalty([w, w], regularization.l2)) == pytest.approx(20)
