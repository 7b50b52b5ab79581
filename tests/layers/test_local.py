"""LocallyConnected2DLayer: values against a loop over output positions, both flips, channelwise
or not; its gradient; the settings it refuses."""

import numpy as np
import pytest

import symdl
from symdl import layers


def loop_locally_connected(x, W, flip, channelwise):
    """Each output position with its own filter over the 'same'-padded input."""
    n, c, h, w = x.shape
    kh, kw = W.shape[-4:-2]
    xp = np.pad(x, ((0, 0), (0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2)))
    if channelwise:
        W = W[:, None]  # (filters, 1, kh, kw, h, w): filter f sees channel f only
    if flip:
        W = W[:, :, ::-1, ::-1]
    out = np.zeros((n, W.shape[0], h, w))
    for i in range(h):
        for j in range(w):
            patch = xp[:, :, i : i + kh, j : j + kw]
            if channelwise:
                out[:, :, i, j] = np.einsum("nfab,fab->nf", patch, W[:, 0, :, :, i, j])
            else:
                out[:, :, i, j] = np.tensordot(patch, W[..., i, j], axes=([1, 2, 3], [1, 2, 3]))
    return out


@pytest.mark.parametrize("flip", [True, False])
@pytest.mark.parametrize("channelwise", [True, False])
def test_values_match_a_loop_over_positions(rng, backend, flip, channelwise):
    l_in = layers.InputLayer((None, 3, 5, 6))
    net = layers.LocallyConnected2DLayer(
        l_in, 3, (3, 5), flip_filters=flip, channelwise=channelwise, nonlinearity=None, b=None
    )
    W = net.W.get_value()
    assert W.shape == ((3,) if channelwise else (3, 3)) + (3, 5, 5, 6)
    assert net.output_shape == (None, 3, 5, 6)
    x = rng.normal(size=(2, 3, 5, 6)).astype(np.float32)
    got = symdl.function([l_in.input_var], layers.get_output(net), mode=backend)(x)
    np.testing.assert_allclose(got, loop_locally_connected(x, W, flip, channelwise), rtol=1e-4, atol=1e-5)


def test_gradient_reaches_every_weight(rng):
    l_in = layers.InputLayer((None, 2, 4, 4))
    net = layers.LocallyConnected2DLayer(l_in, 3, 3, nonlinearity=None, flip_filters=False)
    x = rng.normal(size=(2, 2, 4, 4)).astype(np.float32)
    loss = (layers.get_output(net) ** 2).sum()
    gW, gb = symdl.function([l_in.input_var], symdl.grad(loss, [net.W, net.b]), mode="py")(x)
    assert gW.shape == net.W.get_value().shape and gb.shape == (3,)
    # The corner taps of the corner positions look at padding only: their gradient is zero.
    assert np.all(gW[:, :, 0, 0, 0, 0] == 0) and np.all(gW[:, :, 1, 1] != 0)


def test_unsupported_and_invalid_settings():
    l_in = layers.InputLayer((10, 2, 4, 4))
    for pad in ("valid", "full", 1):
        with pytest.raises(NotImplementedError, match="requires pad='same'"):
            layers.LocallyConnected2DLayer(l_in, 2, 3, pad=pad)
    with pytest.raises(NotImplementedError, match=r"requires stride=1 / \(1, 1\)"):
        layers.LocallyConnected2DLayer(l_in, 2, 3, stride=2)
    with pytest.raises(ValueError, match="should match"):
        layers.LocallyConnected2DLayer(l_in, 4, 3, channelwise=True)
    with pytest.raises(ValueError, match="requires a fixed input shape"):
        layers.LocallyConnected2DLayer(layers.InputLayer((10, 2, None, 4)), 4, 3)
