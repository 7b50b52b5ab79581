"""``Conv2DLayer``: 2-d convolution over ``(batch, channels, rows, columns)`` inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import symdl.tensor as T
from symdl import init, nonlinearities
from symdl.layers.base import Layer, as_pair

__all__ = ["Conv2DLayer", "conv_output_length"]


def conv_output_length(input_length: int | None, filter_size: int, stride: int, pad: Any) -> int | None:
    """Output length of one axis of a convolution (Lasagne's formula).

    ``pad`` is 'valid' (0), 'full' (``filter_size - 1``), 'same' (``filter_size // 2``, output of
    the input's length at stride 1) or an int.

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
    elif isinstance(pad, int):
        length = input_length + 2 * pad - filter_size + 1
    else:
        raise ValueError(f"invalid pad: {pad!r}")
    return (length + stride - 1) // stride


class Conv2DLayer(Layer):
    """2-d convolution layer: ``nonlinearity(conv2d(input, W) + b)``.

    Parameters
    ----------
    incoming : Layer or tuple
        Input of shape ``(batch, channels, rows, columns)``.
    num_filters : int
        Number of output channels.
    filter_size : int or (int, int)
    stride : int or (int, int)
    pad : 'valid', 'full', 'same', an int or a pair
        'valid' (0) keeps only full overlaps, 'full' pads ``filter_size - 1``, 'same' pads
        ``filter_size // 2`` (odd filter sizes only) so that the output has the input's size at
        stride 1.
    untie_biases : bool
        One bias per output position and channel (shape ``(num_filters, rows, cols)``) instead
        of one per channel.
    W, b : initializer, array or shared variable
        Filters of shape ``(num_filters, channels // num_groups, rows, cols)`` and biases (``None``
        for none).
    nonlinearity : callable or None (linear)
    flip_filters : bool
        True (the default, as in Lasagne and Theano) flips the filters: a true convolution.
        Use False for weights trained as cross-correlations (PyTorch, Caffe).
    num_groups : int
        Grouped convolution.
    convolution : callable
        The convolution function, ``T.nnet.conv2d`` by default.

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
        num_groups: int = 1,
        **kwargs: Any,
    ):
        super().__init__(incoming, **kwargs)
        if len(self.input_shape) != 4:
            raise ValueError(
                f"Conv2DLayer needs a 4-d input (batch, channels, rows, columns), got shape {self.input_shape}; "
                "add a ReshapeLayer first"
            )
        self.nonlinearity = nonlinearities.identity if nonlinearity is None else nonlinearity
        self.num_filters = num_filters
        self.filter_size = as_pair(filter_size, "Conv2DLayer: filter_size")
        self.stride = as_pair(stride, "Conv2DLayer: stride")
        self.untie_biases = untie_biases
        self.flip_filters = flip_filters
        self.convolution = convolution
        if pad == "same":
            if any(s % 2 == 0 for s in self.filter_size):
                raise NotImplementedError(f"Conv2DLayer: pad='same' needs odd filter sizes, got {self.filter_size}")
            self.pad: Any = "same"
        elif pad in ("valid", "full"):
            self.pad = pad
        else:
            self.pad = as_pair(pad, "Conv2DLayer: pad")
        channels = self.input_shape[1]
        if channels is None:
            raise ValueError(f"Conv2DLayer: the number of input channels must be known, input shape {self.input_shape}")
        if num_groups < 1 or channels % num_groups or num_filters % num_groups:
            raise ValueError(
                f"Conv2DLayer: num_groups={num_groups} must divide both the {channels} input channels "
                f"and the {num_filters} filters"
            )
        self.num_groups = num_groups
        self.W = self.add_param(W, (num_filters, channels // num_groups) + self.filter_size, name="W")
        if b is None:
            self.b = None
        else:
            bias_shape = (num_filters,) + tuple(self.output_shape[2:]) if untie_biases else (num_filters,)
            self.b = self.add_param(b, bias_shape, name="b", regularizable=False)
        if any(s is not None and s <= 0 for s in self.output_shape):
            raise ValueError(
                f"Conv2DLayer: filters of size {self.filter_size} with pad {self.pad} do not fit the "
                f"input of shape {self.input_shape}"
            )

    def _pads(self) -> tuple[Any, Any]:
        return (self.pad, self.pad) if isinstance(self.pad, str) else self.pad

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        sizes = [
            conv_output_length(n, f, s, p)
            for n, f, s, p in zip(input_shape[2:], self.filter_size, self.stride, self._pads())
        ]
        return (input_shape[0], self.num_filters, *sizes)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        border_mode = {"same": "half"}.get(self.pad, self.pad) if isinstance(self.pad, str) else self.pad
        conv = self.convolution or T.nnet.conv2d
        extra = {"num_groups": self.num_groups} if self.num_groups > 1 else {}
        conved = conv(
            input,
            self.W,
            self.input_shape,
            self.W.get_value(borrow=True).shape,
            border_mode=border_mode,
            subsample=self.stride,
            filter_flip=self.flip_filters,
            **extra,
        )
        if self.b is None:
            activation = conved
        elif self.untie_biases:
            activation = conved + T.expand_dims(self.b, 0)
        else:
            activation = conved + self.b.dimshuffle("x", 0, "x", "x")
        return self.nonlinearity(activation)
