"""Lasagne's theano_extensions: the 1-d convolution variants and constant padding, against NumPy
on every backend, with their gradients and static shapes."""

import numpy as np
import pytest

import symdl.tensor as T
from symdl.testing import compare_with_numpy, verify_grad
from symdl.theano_extensions import conv, padding

ALL = ["conv1d_sc", "conv1d_mc0", "conv1d_mc1", "conv1d_unstrided", "conv1d_sd", "conv1d_md"]
ANY_BORDER = ["conv1d_mc0", "conv1d_mc1"]


def conv1d_reference(x, w, stride=1, pad=0, flip=True):
    """NumPy: per batch item and filter, the sum over channels of np.convolve (or correlate)."""
    x = np.pad(x, [(0, 0), (0, 0), (pad, pad)])
    length = x.shape[2] - w.shape[2] + 1
    out = np.zeros((x.shape[0], w.shape[0], length), np.result_type(x, w))
    for b in range(x.shape[0]):
        for f in range(w.shape[0]):
            for c in range(x.shape[1]):
                kernel = w[f, c] if flip else w[f, c, ::-1]
                out[b, f] += np.convolve(x[b, c], kernel, mode="valid")
    return out[:, :, ::stride]


def signals(batch, channels, length, filters, size, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, channels, length)).astype(dtype)
    w = rng.standard_normal((filters, channels, size)).astype(dtype)
    return x, w


@pytest.mark.parametrize("impl", ALL)
@pytest.mark.parametrize("flip", [True, False])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv1d_variants_match_numpy(backend, impl, flip, stride, dtype):
    x, w = signals(2, 3, 11, 4, 4, dtype)
    fn = getattr(conv, impl)

    def build(x_, w_):
        return fn(x_, w_, x.shape, w.shape, subsample=(stride,), filter_flip=flip)

    compare_with_numpy(build, lambda a, b: conv1d_reference(a, b, stride, flip=flip), [x, w], backends=[backend])


@pytest.mark.parametrize("impl", ALL)
def test_conv1d_odd_shapes_and_non_contiguous_inputs(backend, impl):
    # One of everything: batch, channel, filter, kernel size 2 (a multiple of stride 1 and 2).
    x, w = signals(1, 1, 5, 1, 2, "float64", seed=1)
    fn = getattr(conv, impl)
    compare_with_numpy(lambda a, b: fn(a, b, x.shape, w.shape), conv1d_reference, [x, w], backends=[backend])
    # Views with strides: every other sample of a longer signal, filters transposed from storage.
    wide, _ = signals(2, 3, 14, 1, 1, "float64", seed=2)
    x = wide[:, :, ::2]
    w = np.ascontiguousarray(signals(1, 3, 1, 2, 4, "float64", seed=3)[1].transpose(2, 1, 0)).transpose(2, 1, 0)
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    compare_with_numpy(lambda a, b: fn(a, b, x.shape, w.shape), conv1d_reference, [x, w], backends=[backend])


@pytest.mark.parametrize("impl", ANY_BORDER)
@pytest.mark.parametrize("border, pad", [(1, 1), ((2,), 2), ("full", 2), ("half", 1), ("valid", 0)])
def test_conv1d_mc_border_modes_pad_the_length(backend, impl, border, pad):
    x, w = signals(2, 2, 9, 3, 3, "float32")
    fn = getattr(conv, impl)
    compare_with_numpy(
        lambda a, b: fn(a, b, border_mode=border),
        lambda a, b: conv1d_reference(a, b, pad=pad),
        [x, w],
        backends=[backend],
    )


@pytest.mark.parametrize("impl", ["conv1d_sc", "conv1d_mc0", "conv1d_mc1"])
def test_conv1d_shapes_are_optional_and_static_where_known(impl):
    fn = getattr(conv, impl)
    x, w = T.tensor3("x"), T.tensor3("w")
    assert fn(x, w).type.shape == (None, None, None)
    y = fn(x, w, (None, 3, 20), (8, 3, 5), subsample=(3,))
    assert y.type.shape == (None, 8, 6) and y.dtype == "float32"


@pytest.mark.parametrize("impl", ALL)
def test_conv1d_gradients(impl):
    x, w = signals(2, 2, 7, 2, 2, "float64", seed=4)
    fn = getattr(conv, impl)
    verify_grad(lambda a, b: fn(a, b, x.shape, w.shape, subsample=(2,)), [x, w], mode="py")


@pytest.mark.parametrize("impl", ALL)
def test_conv1d_refuses_unknown_border_modes(impl):
    with pytest.raises(ValueError, match="border_mode"):
        getattr(conv, impl)(T.tensor3(), T.tensor3(), (1, 1, 10), (2, 1, 3), border_mode=None)


@pytest.mark.parametrize("impl", ["conv1d_sc", "conv1d_unstrided", "conv1d_sd", "conv1d_md"])
def test_conv1d_valid_only_variants_refuse_padding(impl):
    with pytest.raises(ValueError, match="only border_mode='valid'"):
        getattr(conv, impl)(T.tensor3(), T.tensor3(), (1, 1, 10), (2, 1, 3), border_mode="full")


@pytest.mark.parametrize("impl", ["conv1d_unstrided", "conv1d_sd", "conv1d_md"])
def test_strided_variants_need_a_filter_length_multiple_of_the_stride_and_shapes(impl):
    fn = getattr(conv, impl)
    with pytest.raises(ValueError, match=r"filter length \(3\) is not a multiple of the stride \(2\)"):
        fn(T.tensor3(), T.tensor3(), (1, 1, 10), (2, 1, 3), subsample=(2,))
    with pytest.raises(ValueError, match="needs image_shape and filter_shape"):
        fn(T.tensor3(), T.tensor3(), None, None)


def test_shape_hints_that_disagree_with_the_variables_raise():
    x = T.tensor3("x", shape=(None, 3, 10))
    with pytest.raises(ValueError, match="input_shape"):
        conv.conv1d_mc0(x, T.tensor3(), (None, 4, 10), None)


# ------------------------------------------------------------------ padding
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize(
    "width, val, batch_ndim",
    [(3, 0, 1), (1, 7, 2), ((1, 2, 3), 0, 1), ([(1, 2), (0, 0), (2, 1)], -1, 1), (0, 5, 0), ([(0, 1)] * 4, 2, 0)],
)
def test_pad_matches_numpy(backend, dtype, width, val, batch_ndim):
    x = (np.arange(2 * 3 * 1 * 5).reshape(2, 3, 1, 5) % 7).astype(dtype)
    n = x.ndim - batch_ndim
    widths = [width] * n if isinstance(width, int) else list(width)
    pads = [(0, 0)] * batch_ndim + [(w, w) if isinstance(w, int) else tuple(w) for w in widths]

    def build(v):
        return padding.pad(v, width, val, batch_ndim)

    compare_with_numpy(build, lambda v: np.pad(v, pads, constant_values=val), [x], backends=[backend])
    compare_with_numpy(
        build, lambda v: np.pad(v, pads, constant_values=val), [x], backends=[backend], static_shapes=True
    )


def test_pad_of_a_non_contiguous_view_and_an_empty_axis(backend):
    x = np.arange(24.0).reshape(4, 6)[:, ::2]
    compare_with_numpy(
        lambda v: padding.pad(v, 2, 1.5),
        lambda v: np.pad(v, [(0, 0), (2, 2)], constant_values=1.5),
        [x],
        backends=[backend],
    )
    empty = np.zeros((3, 0), "float32")
    compare_with_numpy(lambda v: padding.pad(v, 1), lambda v: np.pad(v, [(0, 0), (1, 1)]), [empty], backends=[backend])


def test_pad_keeps_dtype_and_static_shape():
    x = T.tensor4("x", shape=(2, 3, None, 5), dtype="float64")
    y = padding.pad(x, [(1, 2), 3], batch_ndim=2)
    assert y.dtype == "float64" and y.type.shape == (2, 3, None, 11)


def test_pad_gradient_crops_the_padding():
    x = np.random.default_rng(5).standard_normal((2, 3, 4))
    verify_grad(lambda v: padding.pad(v, [(1, 0), 2], 3.0), [x], mode="py")


def test_pad_refuses_wrong_widths():
    x = T.tensor4()
    with pytest.raises(ValueError, match="4 widths for the 3 axes"):
        padding.pad(x, (1, 2, 3, 4))
    with pytest.raises(ValueError, match="non-negative"):
        padding.pad(x, -1)
    with pytest.raises(ValueError, match=r"got \(1, 2, 3\) for axis 2"):
        padding.pad(x, [1, (1, 2, 3)])


def test_fewer_widths_pad_the_first_axes_after_the_batch_axes(backend):
    """As Lasagne's pad: a sequence may name fewer axes than there are."""
    x = np.arange(24.0).reshape(2, 3, 4)
    compare_with_numpy(
        lambda v: padding.pad(v, [(2, 1)], -1.0),
        lambda v: np.pad(v, [(0, 0), (2, 1), (0, 0)], constant_values=-1.0),
        [x],
        backends=[backend],
    )
    assert padding.padded_shape((None, 3, 4), [(2, 1)]) == (None, 6, 4)


def test_zero_widths_leave_the_tensor_alone():
    x = T.tensor3()
    assert padding.pad(x, 0) is x and padding.pad(x, [(0, 0), 0]) is x


@pytest.mark.parametrize(
    "shape, width, batch_ndim, expected",
    [
        ((2, None, 5), 1, 1, (2, None, 7)),
        ((None, 3, 4, 5), (1, (2, 0)), 2, (None, 3, 6, 7)),
        ((4, 5), [(0, 3), 1], 0, (7, 7)),
        ((4,), 2, 1, (4,)),
    ],
)
def test_padded_shape_is_the_static_shape_of_pad(shape, width, batch_ndim, expected):
    assert padding.padded_shape(shape, width, batch_ndim) == expected
    x = T.tensor("float64", shape=shape)
    assert padding.pad(x, width, batch_ndim=batch_ndim).type.shape == expected


def test_symbolic_shapes_of_the_results_follow_the_inputs(backend):
    import symdl

    x, w = T.tensor3("x"), T.tensor3("w")
    y = conv.conv1d_mc1(x, w, border_mode="full", subsample=(2,))
    p = padding.pad(x, [(1, 2), 3], 0)
    f = symdl.function([x, w], [y.shape, p.shape], mode=backend)
    xv, wv = signals(2, 3, 9, 4, 3, "float32")
    y_shape, p_shape = f(xv, wv)
    assert tuple(y_shape) == (2, 4, 6) and tuple(p_shape) == (2, 6, 15)
