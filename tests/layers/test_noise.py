"""DropoutLayer (and its channel and location variants) and GaussianNoiseLayer: on in training,
off with deterministic=True."""

import numpy as np
import pytest

import symdl
import symdl.tensor as T
from symdl import init, layers


def compile_out(net, **kwargs):
    l_in = layers.get_all_layers(net)[0]
    return symdl.function([l_in.input_var], layers.get_output(net, **kwargs), mode="py")


def test_dropout_is_the_identity_when_deterministic():
    net = layers.DropoutLayer(layers.InputLayer((None, 50)), p=0.5)
    x = np.ones((4, 50), np.float32)
    np.testing.assert_array_equal(compile_out(net, deterministic=True)(x), x)
    assert net.output_shape == (None, 50) and layers.count_params(net) == 0


def test_dropout_drops_a_fraction_p_and_rescales_the_rest():
    net = layers.DropoutLayer(layers.InputLayer((None, 1000)), p=0.3)
    f = compile_out(net)
    out = f(np.ones((20, 1000), np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.unique(out), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((out == 0).mean() - 0.3) < 0.02
    assert not np.array_equal(out, f(np.ones((20, 1000), np.float32)))  # new mask every call


def test_dropout_without_rescale_and_with_shared_axes():
    net = layers.DropoutLayer(layers.InputLayer((None, 8, 5, 5)), p=0.5, rescale=False, shared_axes=(2, 3))
    out = compile_out(net)(np.ones((6, 8, 5, 5), np.float32))
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert (out == out[:, :, :1, :1]).all()  # whole feature maps dropped together


def test_dropout_masks_are_reproducible_through_set_rng():
    def draw():
        init.set_rng(np.random.RandomState(7))
        net = layers.dropout(layers.InputLayer((None, 30)), p=0.5)
        return compile_out(net)(np.ones((2, 30), np.float32))

    np.testing.assert_array_equal(draw(), draw())


def test_dropout_probability_must_be_below_one():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        layers.DropoutLayer(layers.InputLayer((None, 3)), p=1.0)


def test_gaussian_noise_has_the_requested_std_in_training_only():
    net = layers.GaussianNoiseLayer(layers.InputLayer((None, 1000)), sigma=0.5)
    x = np.zeros((10, 1000), np.float32)
    assert abs(compile_out(net)(x).std() - 0.5) < 0.02
    np.testing.assert_array_equal(compile_out(net, deterministic=True)(x), x)


def test_channel_and_location_dropout_share_their_masks():
    assert layers.dropout_channels((None, 8, 5, 5)).shared_axes == (2, 3)
    assert layers.spatial_dropout is layers.dropout_channels
    assert layers.dropout_channels((10, 20)).shared_axes == ()
    l_in = layers.InputLayer((None, 6, 4))
    assert layers.dropout_locations(l_in, p=0.3).shared_axes == (1,) and layers.dropout_locations(l_in).p == 0.5
    out = compile_out(layers.dropout_locations(l_in, rescale=False))(np.ones((5, 6, 4), np.float32))
    assert (out == out[:, :1, :]).all() and 0 < out.mean() < 1  # a whole column of channels at a time


def test_negative_shared_axes_count_from_the_end():
    net = layers.DropoutLayer(layers.InputLayer((None, 3, 4, 5)), rescale=False, shared_axes=(-1, -2))
    assert net.shared_axes == (-1, -2)
    out = compile_out(net)(np.ones((4, 3, 4, 5), np.float32))
    assert (out == out[:, :, :1, :1]).all()


def test_dropout_probability_may_be_symbolic():
    p = T.fscalar("p")
    l_in = layers.InputLayer((None, 200))
    out = layers.get_output(layers.DropoutLayer(l_in, p=p, rescale=False))
    f = symdl.function([l_in.input_var, p], out, mode="py")
    assert f(np.ones((5, 200), np.float32), np.float32(0.0)).min() == 1.0
    assert f(np.ones((5, 200), np.float32), np.float32(0.9)).mean() < 0.3
