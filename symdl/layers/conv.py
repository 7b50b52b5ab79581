"""Convolution layers (Lasagne's ``lasagne.layers.conv``): ``Conv1DLayer``, ``Conv2DLayer``,
``Conv3DLayer``, the transposed ``TransposedConv2DLayer`` / ``TransposedConv3DLayer`` (alias
``Deconv2DLayer`` / ``Deconv3DLayer``), ``DilatedConv2DLayer``, their base ``BaseConvLayer``
and the length helpers ``conv_output_length`` / ``conv_input_length``.

Inputs are ``(batch, channels, *spatial)``. The 2-d layers build ``Conv2d`` /
``Conv2dGradInputs`` nodes, which the C backend runs with its im2col + BLAS kernels; the 3-d
layers build the ``Conv3d`` ops of :mod:`symdl.tensor.nnet.conv_nd`.

>>> from symdl import layers
>>> l_in = layers.InputLayer((None, 3, 32, 32))
>>> layers.Conv2DLayer(l_in, 16, 3, pad='same').output_shape
(None, 16, 32, 32)
>>> layers.TransposedConv2DLayer(l_in, 8, 4, stride=2, crop=1).output_shape
(None, 8, 64, 64)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import symdl.tensor as T
from symdl import init, nonlinearities
from symdl.graph.basic import Variable
from symdl.layers.base import Layer
from symdl.theano_extensions.conv import conv1d_mc0
from symdl.utils import as_tuple, int_types

__all__ = [
    "BaseConvLayer",
    "Conv1DLayer",
    "Conv2DLayer",
    "Conv3DLayer",
    "Deconv2DLayer",
    "Deconv3DLayer",
    "DilatedConv2DLayer",
    "TransposedConv2DLayer",
    "TransposedConv3DLayer",
    "conv_input_length",
    "conv_output_length",
]


def conv_output_length(input_length: Any, filter_size: int, stride: int, pad: Any = 0) -> Any:
    """Output length of one axis of a convolution (Lasagne's formula).

    ``pad`` is 'valid' (0), 'full' (``filter_size - 1``), 'same' (``filter_size // 2``: the
    input's length at stride 1) or an int. ``input_length`` may be None (unknown) or symbolic.

    >>> conv_output_length(28, 5, 1, 'valid'), conv_output_length(28, 5, 2, 'same'), conv_output_length(8, 3, 1, 1)
    (24, 14, 8)
    """
    if input_length is None:
        return None
    if pad == "valid":
        length = input_length - filter_size + 1
    elif pad == "full":
        length = input_length + filter_size - 1
    elif pad == "same":
        length = input_length
    elif isinstance(pad, int_types):
        length = input_length + 2 * pad - filter_size + 1
    else:
        raise ValueError(f"Invalid pad: {pad!r} (expected 'valid', 'full', 'same' or an int)")
    # ceil(length / stride) in integer arithmetic
    return (length + stride - 1) // stride


def conv_input_length(output_length: Any, filter_size: int, stride: int, pad: Any = 0) -> Any:
    """The smallest input length that a convolution maps to ``output_length`` (Lasagne's
    formula): the output length of the transposed convolution. With a stride, inputs up to
    ``stride - 1`` longer give the same output length.

    >>> conv_input_length(2, 3, 1, 'valid'), conv_input_length(3, 3, 2, 'same'), conv_input_length(3, 3, 2, 'full')
    (4, 5, 3)
    """
    if output_length is None:
        return None
    if pad == "valid":
        pad = 0
    elif pad == "full":
        pad = filter_size - 1
    elif pad == "same":
        pad = filter_size // 2
    if not isinstance(pad, int_types):
        raise ValueError(f"Invalid pad: {pad!r} (expected 'valid', 'full', 'same' or an int)")
    return (output_length - 1) * stride - 2 * pad + filter_size


def _border_mode(pad: Any) -> Any:
    """A layer's pad as a border mode of ``conv2d``/``conv3d`` ('same' is Theano's 'half')."""
    return "half" if pad == "same" else pad


class BaseConvLayer(Layer):
    """Base of the ``n``-dimensional convolution layers: ``nonlinearity(convolve(input) + b)``.

    Subclasses set ``convolution``, a function called as Lasagne calls it (see ``convolve``),
    or implement ``convolve(input)`` (the convolution without bias and nonlinearity) and,
    when the filters are not ``(num_filters, channels // num_groups, *filter_size)``,
    ``get_W_shape()``.

    Parameters
    ----------
    incoming : Layer or tuple
        Input of shape ``(batch, channels, *spatial)`` with ``n`` spatial axes.
    num_filters : int
        Number of output channels.
    filter_size : int or n ints
    stride : int or n ints
    pad : 'valid', 'full', 'same', an int or n ints
        'valid' (0) keeps only full overlaps, 'full' pads ``filter_size - 1``, 'same' pads
        ``filter_size // 2`` (odd filter sizes only) so that the output has the input's size at
        stride 1.
    untie_biases : bool
        One bias per output position and channel (shape ``(num_filters, *out_spatial)``) instead
        of one per channel.
    W, b : initializer, array or shared variable
        Filters and biases (``None`` for none).
    nonlinearity : callable or None (linear)
    flip_filters : bool
        True flips the filters (a true convolution, Lasagne's default); False is
        cross-correlation (weights from PyTorch or Caffe).
    num_groups : int
        Grouped convolution: channels and filters split into this many groups.
    n : int or None
        Number of spatial axes; inferred from the input shape when None.

    Examples
    --------
    >>> from symdl import layers
    >>> l = layers.Conv2DLayer(layers.InputLayer((None, 1, 28, 28)), num_filters=20, filter_size=5)
    >>> l.output_shape, l.W.get_value().shape
    ((None, 20, 24, 24), (20, 1, 5, 5))
    """

    convolution: Callable | None = None

    def __init__(
        self,
        incoming: Any,
        num_filters: int,
        filter_size: Any,
        stride: Any = 1,
        pad: Any = 0,
        untie_biases: bool = False,
        W: Any = init.GlorotUniform(),
        b: Any = init.Constant(0.0),
        nonlinearity: Callable | None = nonlinearities.rectify,
        flip_filters: bool = True,
        num_groups: int = 1,
        n: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(incoming, **kwargs)
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        spatial = len(self.input_shape) - 2
        if n is None:
            n = spatial
        elif n != spatial:
            raise ValueError(
                f"Tried to create a {n}D convolution layer ({type(self).__name__}) with input shape "
                f"{self.input_shape}. Expected {n + 2} input dimensions (batchsize, channels, {n} spatial "
                "dimensions); add a ReshapeLayer first"
            )
        self.n = n
        self.num_filters = int(num_filters)
        self.filter_size = tuple(int(f) for f in as_tuple(filter_size, n, int_types))
        self.flip_filters = flip_filters
        self.stride = tuple(int(s) for s in as_tuple(stride, n, int_types))
        self.untie_biases = untie_biases
        if pad == "same":
            if any(s % 2 == 0 for s in self.filter_size):
                raise NotImplementedError(
                    f"{type(self).__name__}: `same` padding requires odd filter size, got {self.filter_size}"
                )
            self.pad: Any = "same"
        elif pad == "valid":
            self.pad = (0,) * n
        elif pad == "full":
            self.pad = "full"
        else:
            self.pad = tuple(int(p) for p in as_tuple(pad, n, int_types))
        channels = self.input_shape[1]
        if not isinstance(num_groups, int_types) or num_groups <= 0:
            raise ValueError(f"{type(self).__name__}: num_groups must be positive, got {num_groups!r}")
        if channels is not None and channels % num_groups:
            raise ValueError(
                f"{type(self).__name__}: num_groups={num_groups} must evenly divide the {channels} input channels"
            )
        self.num_groups = int(num_groups)
        self.W = self.add_param(W, self.get_W_shape(), name="W")
        if b is None:
            self.b = None
        else:
            bias_shape = (self.num_filters,) + tuple(self.output_shape[2:]) if untie_biases else (self.num_filters,)
            self.b = self.add_param(b, bias_shape, name="b", regularizable=False)
        if any(s is not None and not isinstance(s, Variable) and s <= 0 for s in self.output_shape):
            raise ValueError(
                f"{type(self).__name__}: filters of size {self.filter_size} with pad {self.pad} do not fit the "
                f"input of shape {self.input_shape} (output shape {self.output_shape})"
            )

    def _input_channels(self) -> int:
        """The number of input channels, which the filters' shape needs."""
        channels = self.input_shape[1]
        if channels is None:
            raise ValueError(
                f"{type(self).__name__}: the number of input channels must be known, input shape {self.input_shape}"
            )
        return channels

    def get_W_shape(self) -> tuple:
        """The shape of the filters ``W``: ``(num_filters, channels // num_groups, *filter_size)``."""
        return (self.num_filters, self._input_channels() // self.num_groups) + self.filter_size

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        pads = self.pad if isinstance(self.pad, tuple) else (self.pad,) * self.n
        sizes = [
            conv_output_length(size, f, s, p)
            for size, f, s, p in zip(input_shape[2:], self.filter_size, self.stride, pads)
        ]
        return (input_shape[0], self.num_filters, *sizes)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        conved = self.convolve(T.as_tensor_variable(input), **kwargs)
        if self.b is None:
            activation = conved
        elif self.untie_biases:
            activation = conved + T.expand_dims(self.b, 0)
        else:
            activation = conved + self.b.dimshuffle("x", 0, *("x",) * self.n)
        return self.nonlinearity(activation)

    def convolve(self, input: Any, **kwargs: Any) -> Any:
        """``input`` convolved with ``W`` (no bias, no nonlinearity), of shape ``output_shape``:
        ``self.convolution`` called as Lasagne calls it, ``convolution(input, W, input_shape,
        W_shape, subsample=, border_mode=, filter_flip=)`` (and ``num_groups=`` when grouped)."""
        if self.convolution is None:
            raise NotImplementedError(
                "BaseConvLayer does not implement the convolve() method. You will want to use a subclass "
                "such as Conv2DLayer."
            )
        return self.convolution(input, self.W, self.input_shape, self.get_W_shape(), **self._convolution_kwargs())

    def _convolution_kwargs(self) -> dict:
        extra = {"num_groups": self.num_groups} if self.num_groups > 1 else {}
        return dict(subsample=self.stride, border_mode=_border_mode(self.pad), filter_flip=self.flip_filters, **extra)


class Conv1DLayer(BaseConvLayer):
    """1-d convolution over ``(batch, channels, length)`` inputs; filters ``(num_filters,
    channels // num_groups, filter_length)``. Parameters as :class:`BaseConvLayer`.

    ``convolution`` (Lasagne's) is called as ``convolution(input, W, input_shape, W_shape,
    subsample=, border_mode=, filter_flip=)``; None is Lasagne's default,
    :func:`symdl.theano_extensions.conv.conv1d_mc0` (a ``conv2d`` over a height of 1).

    >>> from symdl import layers
    >>> layers.Conv1DLayer(layers.InputLayer((None, 4, 100)), 8, 5, stride=2, pad='same').output_shape
    (None, 8, 50)
    """

    def __init__(
        self,
        incoming: Any,
        num_filters: int,
        filter_size: Any,
        stride: Any = 1,
        pad: Any = 0,
        untie_biases: bool = False,
        W: Any = init.GlorotUniform(),
        b: Any = init.Constant(0.0),
        nonlinearity: Callable | None = nonlinearities.rectify,
        flip_filters: bool = True,
        convolution: Callable | None = None,
        **kwargs: Any,
    ):
        super().__init__(
            incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity, flip_filters, n=1,
            **kwargs,
        )  # fmt: skip
        self.convolution = convolution or conv1d_mc0


class Conv2DLayer(BaseConvLayer):
    """2-d convolution layer: ``nonlinearity(conv2d(input, W) + b)`` over ``(batch, channels,
    rows, columns)`` inputs; filters ``(num_filters, channels // num_groups, rows, cols)``.
    Parameters as :class:`BaseConvLayer`; ``convolution`` is the convolution function
    (``T.nnet.conv2d`` by default), called as Lasagne calls it.

    Examples
    --------
    >>> from symdl import layers
    >>> l = layers.Conv2DLayer(layers.InputLayer((None, 1, 28, 28)), num_filters=20, filter_size=5)
    >>> l.output_shape, l.W.get_value().shape
    ((None, 20, 24, 24), (20, 1, 5, 5))
    """

    def __init__(
        self,
        incoming: Any,
        num_filters: int,
        filter_size: Any,
        stride: Any = (1, 1),
        pad: Any = 0,
        untie_biases: bool = False,
        W: Any = init.GlorotUniform(),
        b: Any = init.Constant(0.0),
        nonlinearity: Callable | None = nonlinearities.rectify,
        flip_filters: bool = True,
        convolution: Callable | None = None,
        **kwargs: Any,
    ):
        super().__init__(
            incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity, flip_filters, n=2,
            **kwargs,
        )  # fmt: skip
        self.convolution = convolution or T.nnet.conv2d


class Conv3DLayer(BaseConvLayer):
    """3-d convolution over ``(batch, channels, depth, rows, columns)`` inputs; filters
    ``(num_filters, channels // num_groups, depth, rows, cols)``. Parameters as
    :class:`BaseConvLayer`; ``convolution`` is ``T.nnet.conv3d`` by default.

    >>> from symdl import layers
    >>> layers.Conv3DLayer(layers.InputLayer((None, 1, 16, 32, 32)), 8, 3, pad=1).output_shape
    (None, 8, 16, 32, 32)
    """

    def __init__(
        self,
        incoming: Any,
        num_filters: int,
        filter_size: Any,
        stride: Any = (1, 1, 1),
        pad: Any = 0,
        untie_biases: bool = False,
        W: Any = init.GlorotUniform(),
        b: Any = init.Constant(0.0),
        nonlinearity: Callable | None = nonlinearities.rectify,
        flip_filters: bool = True,
        convolution: Callable | None = None,
        **kwargs: Any,
    ):
        super().__init__(
            incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity, flip_filters, n=3,
            **kwargs,
        )  # fmt: skip
        self.convolution = convolution or T.nnet.conv3d


class _TransposedConvLayer(BaseConvLayer):
    """The backward pass of an ``n``-d convolution used forward (``n`` set by the subclass)."""

    def __init__(
        self,
        incoming: Any,
        num_filters: int,
        filter_size: Any,
        stride: Any,
        crop: Any,
        untie_biases: bool,
        W: Any,
        b: Any,
        nonlinearity: Callable | None,
        flip_filters: bool,
        output_size: Any,
        n: int,
        **kwargs: Any,
    ):
        # Set before the base constructor, which computes the output shape.
        if output_size is not None and not isinstance(output_size, Variable):
            output_size = tuple(int(s) for s in as_tuple(output_size, n, int_types))
        self.output_size = output_size
        super().__init__(
            incoming, num_filters, filter_size, stride, crop, untie_biases, W, b, nonlinearity, flip_filters, n=n,
            **kwargs,
        )  # fmt: skip
        # The base class parses it as `pad`; for this layer it is a crop of the full output.
        self.crop = self.pad
        del self.pad

    def get_W_shape(self) -> tuple:
        """``(channels, num_filters, *filter_size)``: the filters of the forward convolution
        that this layer transposes (first two sizes swapped)."""
        return (self._input_channels(), self.num_filters) + self.filter_size

    def _crops(self) -> tuple:
        # While the base constructor runs, the crop is still called `pad`.
        crop = self.crop if hasattr(self, "crop") else self.pad
        return crop if isinstance(crop, tuple) else (crop,) * self.n

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        if self.output_size is not None:
            size = (None,) * self.n if isinstance(self.output_size, Variable) else self.output_size
            return (input_shape[0], self.num_filters, *size)
        sizes = [
            conv_input_length(size, f, s, c)
            for size, f, s, c in zip(input_shape[2:], self.filter_size, self.stride, self._crops())
        ]
        return (input_shape[0], self.num_filters, *sizes)

    def _output_size_vector(self, input: Variable) -> Any:
        if isinstance(self.output_size, Variable):
            return self.output_size
        sizes = list(self.output_shape[2:])
        for a, (size, f, s, c) in enumerate(zip(sizes, self.filter_size, self.stride, self._crops())):
            if size is None:
                sizes[a] = conv_input_length(input.shape[2 + a], f, s, c)
        return sizes

    def convolve(self, input: Any, **kwargs: Any) -> Any:
        from symdl.tensor.nnet.conv import _shape_vector

        ops = {2: T.nnet.Conv2dGradInputs, 3: T.nnet.Conv3dGradInputs}
        # Theano's flip semantics: the transposed convolution of flipped filters is the gradient
        # of the unflipped forward one.
        op = ops[self.n](_border_mode(self.crop), self.stride, not self.flip_filters)
        size = self._output_size_vector(input)
        return op(self.W, input, size if isinstance(size, Variable) else _shape_vector(size))


class TransposedConv2DLayer(_TransposedConvLayer):
    """2-d transposed convolution (fractionally-strided convolution, "deconvolution"): the
    backward pass of a ``Conv2DLayer`` with the same parameters, used forward.

    Parameters as :class:`Conv2DLayer`, except:

    crop : 'valid', 'full', 'same', an int or two ints
        By default (0) the output is the full convolution (larger than the input by
        ``filter_size - 1`` at stride 1); ``crop`` removes that many rows/cols on each side,
        the counterpart of the forward layer's ``pad``.
    W : filters of shape ``(channels, num_filters, rows, cols)`` (those of the forward layer).
    flip_filters : bool
        False by default (Lasagne's): the filters of a ``Conv2DLayer`` with ``flip_filters=True``.
    output_size : two ints, a symbolic vector or None
        With a stride, several output sizes are possible; None gives the smallest.

    >>> from symdl import layers
    >>> l = layers.TransposedConv2DLayer(layers.InputLayer((None, 16, 7, 7)), 1, 4, stride=2, crop=1)
    >>> l.output_shape, l.W.get_value().shape
    ((None, 1, 14, 14), (16, 1, 4, 4))
    """

    def __init__(
        self,
        incoming: Any,
        num_filters: int,
        filter_size: Any,
        stride: Any = (1, 1),
        crop: Any = 0,
        untie_biases: bool = False,
        W: Any = init.GlorotUniform(),
        b: Any = init.Constant(0.0),
        nonlinearity: Callable | None = nonlinearities.rectify,
        flip_filters: bool = False,
        output_size: Any = None,
        **kwargs: Any,
    ):
        super().__init__(
            incoming, num_filters, filter_size, stride, crop, untie_biases, W, b, nonlinearity, flip_filters,
            output_size, n=2, **kwargs,
        )  # fmt: skip


class TransposedConv3DLayer(_TransposedConvLayer):
    """3-d transposed convolution: the backward pass of a ``Conv3DLayer``, used forward.
    Parameters as :class:`TransposedConv2DLayer` with three spatial axes; ``W`` is
    ``(channels, num_filters, depth, rows, cols)``.

    >>> from symdl import layers
    >>> layers.TransposedConv3DLayer(layers.InputLayer((None, 8, 4, 4, 4)), 2, 3, stride=2).output_shape
    (None, 2, 9, 9, 9)
    """

    def __init__(
        self,
        incoming: Any,
        num_filters: int,
        filter_size: Any,
        stride: Any = (1, 1, 1),
        crop: Any = 0,
        untie_biases: bool = False,
        W: Any = init.GlorotUniform(),
        b: Any = init.Constant(0.0),
        nonlinearity: Callable | None = nonlinearities.rectify,
        flip_filters: bool = False,
        output_size: Any = None,
        **kwargs: Any,
    ):
        super().__init__(
            incoming, num_filters, filter_size, stride, crop, untie_biases, W, b, nonlinearity, flip_filters,
            output_size, n=3, **kwargs,
        )  # fmt: skip


Deconv2DLayer = TransposedConv2DLayer
Deconv3DLayer = TransposedConv3DLayer


class DilatedConv2DLayer(BaseConvLayer):
    """2-d dilated convolution (atrous convolution): the filters are spread over ``(filter_size
    - 1) * dilation + 1`` pixels with zeros between their taps. A ``Conv2d`` node with
    ``filter_dilation`` (C kernels on the C backend).

    Parameters as :class:`Conv2DLayer`, except:

    dilation : int or two ints
        The factor by which the filters are spread.
    pad : only 0 / 'valid' (add a padding layer for a padded dilated convolution).
    W : filters of shape ``(channels, num_filters, rows, cols)`` (Lasagne's layout).
    flip_filters : only False (cross-correlation, Lasagne's).

    >>> from symdl import layers
    >>> layers.DilatedConv2DLayer(layers.InputLayer((None, 3, 32, 32)), 8, 3, dilation=2).output_shape
    (None, 8, 28, 28)
    """

    def __init__(
        self,
        incoming: Any,
        num_filters: int,
        filter_size: Any,
        dilation: Any = (1, 1),
        pad: Any = 0,
        untie_biases: bool = False,
        W: Any = init.GlorotUniform(),
        b: Any = init.Constant(0.0),
        nonlinearity: Callable | None = nonlinearities.rectify,
        flip_filters: bool = False,
        **kwargs: Any,
    ):
        self.dilation = tuple(int(d) for d in as_tuple(dilation, 2, int_types))
        super().__init__(
            incoming, num_filters, filter_size, 1, pad, untie_biases, W, b, nonlinearity, flip_filters, n=2,
            **kwargs,
        )  # fmt: skip
        del self.stride
        if self.pad != (0, 0):
            raise NotImplementedError(
                f"DilatedConv2DLayer requires pad=0 / (0,0) / 'valid', but got {pad!r}. For a padded "
                "dilated convolution, add a PadLayer."
            )
        if self.flip_filters:
            raise NotImplementedError("DilatedConv2DLayer requires flip_filters=False.")

    def get_W_shape(self) -> tuple:
        """``(channels, num_filters, rows, cols)`` (first two sizes swapped, as Lasagne)."""
        return (self._input_channels(), self.num_filters) + self.filter_size

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        sizes = [
            conv_output_length(size, (f - 1) * d + 1, 1, 0)
            for size, f, d in zip(input_shape[2:], self.filter_size, self.dilation)
        ]
        return (input_shape[0], self.num_filters, *sizes)

    def convolve(self, input: Any, **kwargs: Any) -> Any:
        channels = self.input_shape[1]
        return T.nnet.conv2d(
            input,
            self.W.dimshuffle(1, 0, 2, 3),
            self.input_shape,
            (self.num_filters, channels) + self.filter_size,
            filter_flip=False,
            filter_dilation=self.dilation,
        )
