"""1-d convolutions with Lasagne's names and signatures (``lasagne.theano_extensions.conv``).

Each computes ``(batch, channels, length)`` inputs convolved with ``(filters, channels, size)``
filters into ``(batch, filters, out_length)``, through symdl's 2-d convolution op:

- ``conv1d_mc0``: the signal as an image of height 1 (``symdl.tensor.nnet.conv1d`` does the same);
- ``conv1d_mc1``: the signal as an image of width 1;
- ``conv1d_sc``: the channels as the rows of a one-channel image (valid mode only);
- ``conv1d_unstrided``, ``conv1d_sd``, ``conv1d_md``: Lasagne's reshaping and dot-product
  variants for strided convolutions, here the same convolution with their restrictions (valid
  mode; the filter size a multiple of the stride; shapes given), so ported code runs unchanged.

``image_shape`` and ``filter_shape`` are optional static shapes (``None`` entries unknown),
checked against the variables. ``filter_flip=True`` is a true convolution (Lasagne's default),
``False`` a cross-correlation.

>>> import numpy as np, symdl.tensor as T
>>> x, w = T.dtensor3('x'), T.dtensor3('w')
>>> y = conv1d_mc0(x, w, subsample=(2,))
>>> y.eval({x: np.arange(6.0).reshape(1, 1, 6), w: np.array([[[1.0, -1.0]]])})
array([[[1., 1., 1.]]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError

__all__ = ["conv1d_sc", "conv1d_mc0", "conv1d_mc1", "conv1d_unstrided", "conv1d_sd", "conv1d_md"]

Shape3 = Sequence[int | None] | None


def _stride(subsample: Any) -> int:
    stride = subsample[0] if isinstance(subsample, tuple | list) else subsample
    if not isinstance(stride, int | np.integer) or stride < 1:
        raise ValueError(f"subsample must be a positive int or a 1-tuple, got {subsample!r}")
    return int(stride)


def _border(border_mode: Any, name: str) -> str | int:
    """Lasagne's 1-d border modes: 'valid', 'full', 'half', an int or a 1-tuple of padding."""
    if isinstance(border_mode, tuple | list) and len(border_mode) == 1:
        (border_mode,) = border_mode
    if isinstance(border_mode, str) and border_mode in ("valid", "full", "half"):
        return border_mode
    if isinstance(border_mode, int | np.integer) and not isinstance(border_mode, bool) and border_mode >= 0:
        return int(border_mode)
    raise ValueError(f"{name}: border_mode must be 'valid', 'full', 'half' or a padding >= 0, got {border_mode!r}")


def _valid_only(border_mode: Any, name: str) -> None:
    if _border(border_mode, name) not in ("valid", 0):
        raise ValueError(f"{name}: only border_mode='valid' is supported, got {border_mode!r}")


def _hint(shape: Shape3, layout: tuple[Any, ...]) -> tuple | None:
    """A 3-d shape hint placed in a 4-d layout (entries are axes of the 3-d shape, or 1)."""
    if shape is None:
        return None
    shape = tuple(shape)
    if len(shape) != 3:
        raise ShapeError(f"a 1-d convolution shape has 3 entries (batch, channels, length), got {shape}")
    return tuple(1 if a == "one" else shape[a] for a in layout)


def _conv_hw(input, filters, image_shape, filter_shape, pad, stride, filter_flip, num_groups, height_one):
    """The 1-d convolution as a 2-d one over an image of height 1 (or of width 1)."""
    import symdl.tensor as T

    input, filters = T.as_tensor_variable(input), T.as_tensor_variable(filters)
    if height_one:
        pattern, layout = (0, 1, "x", 2), (0, 1, "one", 2)
        border = pad if isinstance(pad, str) else (0, pad)
        strides, drop = (1, stride), 2
    else:
        pattern, layout = (0, 1, 2, "x"), (0, 1, 2, "one")
        border = pad if isinstance(pad, str) else (pad, 0)
        strides, drop = (stride, 1), 3
    conved = T.nnet.conv2d(
        input.dimshuffle(*pattern),
        filters.dimshuffle(*pattern),
        input_shape=_hint(image_shape, layout),
        filter_shape=_hint(filter_shape, layout),
        border_mode=border,
        subsample=strides,
        filter_flip=filter_flip,
        num_groups=num_groups,
    )
    return T.squeeze(conved, axis=drop)


def conv1d_mc0(
    input: Any,
    filters: Any,
    image_shape: Shape3 = None,
    filter_shape: Shape3 = None,
    border_mode: Any = "valid",
    subsample: Any = (1,),
    filter_flip: bool = True,
    num_groups: int = 1,
) -> Any:
    """1-d convolution through a 2-d one on ``(batch, channels, 1, length)`` images."""
    pad = _border(border_mode, "conv1d_mc0")
    return _conv_hw(input, filters, image_shape, filter_shape, pad, _stride(subsample), filter_flip, num_groups, True)


def conv1d_mc1(
    input: Any,
    filters: Any,
    image_shape: Shape3 = None,
    filter_shape: Shape3 = None,
    border_mode: Any = "valid",
    subsample: Any = (1,),
    filter_flip: bool = True,
    num_groups: int = 1,
) -> Any:
    """1-d convolution through a 2-d one on ``(batch, channels, length, 1)`` images."""
    pad = _border(border_mode, "conv1d_mc1")
    return _conv_hw(input, filters, image_shape, filter_shape, pad, _stride(subsample), filter_flip, num_groups, False)


def conv1d_sc(
    input: Any,
    filters: Any,
    image_shape: Shape3 = None,
    filter_shape: Shape3 = None,
    border_mode: Any = "valid",
    subsample: Any = (1,),
    filter_flip: bool = True,
) -> Any:
    """1-d convolution through a 2-d one on one-channel ``(batch, 1, channels, length)`` images
    with ``(filters, 1, channels, size)`` kernels, which cover all the rows (valid mode only)."""
    import symdl.tensor as T

    _valid_only(border_mode, "conv1d_sc")
    input, filters = T.as_tensor_variable(input), T.as_tensor_variable(filters)
    kernels = filters.dimshuffle(0, "x", 1, 2)
    if filter_flip:
        # conv2d flips the kernel rows too, but the channels are summed, not convolved.
        kernels = kernels[:, :, ::-1, :]
    conved = T.nnet.conv2d(
        input.dimshuffle(0, "x", 1, 2),
        kernels,
        input_shape=_hint(image_shape, (0, "one", 1, 2)),
        filter_shape=_hint(filter_shape, (0, "one", 1, 2)),
        subsample=(1, _stride(subsample)),
        filter_flip=filter_flip,
    )
    return T.squeeze(conved, axis=2)


def _strided_variant(name, input, filters, image_shape, filter_shape, border_mode, subsample, filter_flip):
    if image_shape is None or filter_shape is None:
        raise ValueError(f"{name} needs image_shape and filter_shape")
    _valid_only(border_mode, name)
    stride = _stride(subsample)
    filter_length = tuple(filter_shape)[2]
    if filter_length is not None and filter_length % stride:
        raise ValueError(f"{name}: the filter length ({filter_length}) is not a multiple of the stride ({stride})")
    return _conv_hw(input, filters, image_shape, filter_shape, "valid", stride, filter_flip, 1, True)


def conv1d_unstrided(
    input: Any,
    filters: Any,
    image_shape: Shape3,
    filter_shape: Shape3,
    border_mode: Any = "valid",
    subsample: Any = (1,),
    filter_flip: bool = True,
    implementation: Any = None,
) -> Any:
    """Lasagne's strided 1-d convolution by reshaping into an unstrided one: valid mode, a filter
    length that is a multiple of the stride. ``implementation`` is accepted and unused: symdl's
    convolution op strides itself."""
    return _strided_variant(
        "conv1d_unstrided", input, filters, image_shape, filter_shape, border_mode, subsample, filter_flip
    )


def conv1d_sd(
    input: Any,
    filters: Any,
    image_shape: Shape3,
    filter_shape: Shape3,
    border_mode: Any = "valid",
    subsample: Any = (1,),
    filter_flip: bool = True,
) -> Any:
    """Lasagne's 1-d convolution as a single dot product: valid mode, a filter length that is a
    multiple of the stride."""
    return _strided_variant("conv1d_sd", input, filters, image_shape, filter_shape, border_mode, subsample, filter_flip)


def conv1d_md(
    input: Any,
    filters: Any,
    image_shape: Shape3,
    filter_shape: Shape3,
    border_mode: Any = "valid",
    subsample: Any = (1,),
    filter_flip: bool = True,
) -> Any:
    """Lasagne's 1-d convolution as several dot products: valid mode, a filter length that is a
    multiple of the stride."""
    return _strided_variant("conv1d_md", input, filters, image_shape, filter_shape, border_mode, subsample, filter_flip)
