"""Lasagne's cuDNN layers (``lasagne.layers.dnn``) on any device: ``Conv2DDNNLayer``,
``Conv3DDNNLayer``, ``Pool2DDNNLayer``/``MaxPool2DDNNLayer``, ``Pool3DDNNLayer``/
``MaxPool3DDNNLayer``, ``SpatialPyramidPoolingDNNLayer``, ``BatchNormDNNLayer`` and
``batch_norm_dnn``.

Lasagne's model zoo builds its networks (VGG among them) with these classes. They compute what
Lasagne's do with symdl's own ops, so a model ports unchanged and runs on the CPU as well as on
the GPU. Their semantics are Lasagne's, which differ from the plain layers in two places:
the convolutions do not flip their filters by default (cuDNN's cross-correlation), and the
poolings always ignore the border.

>>> from symdl import layers
>>> from symdl.layers import dnn
>>> l_in = layers.InputLayer((None, 3, 224, 224))
>>> conv = dnn.Conv2DDNNLayer(l_in, 64, 3, pad=1)
>>> conv.output_shape, conv.flip_filters
((None, 64, 224, 224), False)
>>> dnn.MaxPool2DDNNLayer(conv, 2).output_shape
(None, 64, 112, 112)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from symdl import init, nonlinearities
from symdl.layers.base import Layer
from symdl.layers.conv import Conv2DLayer, Conv3DLayer
from symdl.layers.normalization import BatchNormLayer, insert_batch_norm
from symdl.layers.pool import Pool2DLayer, Pool3DLayer, SpatialPyramidPoolingLayer

__all__ = [
    "BatchNormDNNLayer",
    "Conv2DDNNLayer",
    "Conv3DDNNLayer",
    "MaxPool2DDNNLayer",
    "MaxPool3DDNNLayer",
    "Pool2DDNNLayer",
    "Pool3DDNNLayer",
    "SpatialPyramidPoolingDNNLayer",
    "batch_norm_dnn",
]


class Pool2DDNNLayer(Pool2DLayer):
    """2-d pooling with cuDNN's semantics: ``Pool2DLayer`` that always ignores the border.

    ``ignore_border`` exists for compatibility with ``Pool2DLayer``; False raises
    ``NotImplementedError`` (as Lasagne's).

    >>> from symdl import layers
    >>> from symdl.layers.dnn import Pool2DDNNLayer
    >>> Pool2DDNNLayer(layers.InputLayer((None, 8, 17, 13)), 3, stride=2, pad=1).output_shape
    (None, 8, 9, 7)
    """

    _ignores_border_as = "Pool2DDNNLayer"


class MaxPool2DDNNLayer(Pool2DDNNLayer):
    """2-d max pooling with cuDNN's semantics (``Pool2DDNNLayer`` with ``mode='max'``).

    >>> from symdl import layers
    >>> from symdl.layers.dnn import MaxPool2DDNNLayer
    >>> MaxPool2DDNNLayer(layers.InputLayer((None, 64, 224, 224)), 2).output_shape
    (None, 64, 112, 112)
    """

    def __init__(
        self,
        incoming: Any,
        pool_size: Any,
        stride: Any = None,
        pad: Any = (0, 0),
        ignore_border: bool = True,
        **kwargs: Any,
    ):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", **kwargs)


class Pool3DDNNLayer(Pool3DLayer):
    """3-d pooling with cuDNN's semantics: ``Pool3DLayer`` that always ignores the border.

    >>> from symdl import layers
    >>> from symdl.layers.dnn import Pool3DDNNLayer
    >>> Pool3DDNNLayer(layers.InputLayer((None, 8, 16, 17, 13)), 2, mode='average_inc_pad').output_shape
    (None, 8, 8, 8, 6)
    """

    _ignores_border_as = "Pool3DDNNLayer"


class MaxPool3DDNNLayer(Pool3DDNNLayer):
    """3-d max pooling with cuDNN's semantics (``Pool3DDNNLayer`` with ``mode='max'``).

    >>> from symdl import layers
    >>> from symdl.layers.dnn import MaxPool3DDNNLayer
    >>> MaxPool3DDNNLayer(layers.InputLayer((None, 8, 16, 16, 16)), 2).output_shape
    (None, 8, 8, 8, 8)
    """

    def __init__(
        self,
        incoming: Any,
        pool_size: Any,
        stride: Any = None,
        pad: Any = (0, 0, 0),
        ignore_border: bool = True,
        **kwargs: Any,
    ):
        super().__init__(incoming, pool_size, stride, pad, ignore_border, mode="max", **kwargs)


class Conv2DDNNLayer(Conv2DLayer):
    """2-d convolution with Lasagne's cuDNN-layer defaults: ``Conv2DLayer`` whose
    ``flip_filters`` is False unless asked (cross-correlation, as the weights of Lasagne's model
    zoo expect). Other parameters as :class:`symdl.layers.Conv2DLayer`.

    >>> from symdl import layers
    >>> from symdl.layers.dnn import Conv2DDNNLayer
    >>> Conv2DDNNLayer(layers.InputLayer((None, 3, 32, 32)), 16, 3, pad='same').output_shape
    (None, 16, 32, 32)
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
        flip_filters: bool = False,
        **kwargs: Any,
    ):
        super().__init__(
            incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity, flip_filters, **kwargs
        )


class Conv3DDNNLayer(Conv3DLayer):
    """3-d convolution with Lasagne's cuDNN-layer defaults: ``Conv3DLayer`` whose
    ``flip_filters`` is False unless asked. Other parameters as :class:`symdl.layers.Conv3DLayer`.

    >>> from symdl import layers
    >>> from symdl.layers.dnn import Conv3DDNNLayer
    >>> Conv3DDNNLayer(layers.InputLayer((None, 1, 8, 16, 16)), 4, 3).output_shape
    (None, 4, 6, 14, 14)
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
        flip_filters: bool = False,
        **kwargs: Any,
    ):
        super().__init__(
            incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity, flip_filters, **kwargs
        )


class SpatialPyramidPoolingDNNLayer(SpatialPyramidPoolingLayer):
    """Spatial pyramid pooling as Lasagne's cuDNN layer: for each ``d`` in ``pool_dims``, one
    pooling with windows ``ceil(size / d)`` at strides ``floor(size / d)``, flattened and
    concatenated into ``(batch, channels, sum(d * d))`` (the 'fast' implementation of
    :class:`symdl.layers.SpatialPyramidPoolingLayer`).

    >>> from symdl import layers
    >>> from symdl.layers.dnn import SpatialPyramidPoolingDNNLayer
    >>> SpatialPyramidPoolingDNNLayer(layers.InputLayer((None, 64, 13, 13))).output_shape
    (None, 64, 21)
    """

    def __init__(self, incoming: Any, pool_dims: Sequence[int] = (4, 2, 1), mode: str = "max", **kwargs: Any):
        super().__init__(incoming, pool_dims, mode, implementation="fast", **kwargs)


class BatchNormDNNLayer(BatchNormLayer):
    """Batch normalization as Lasagne's cuDNN layer: a :class:`symdl.layers.BatchNormLayer` that
    normalizes over the first axis only or over all axes but the second (the two layouts cuDNN
    supports); other ``axes`` raise ``ValueError``, as Lasagne's.

    >>> from symdl import layers
    >>> from symdl.layers.dnn import BatchNormDNNLayer
    >>> BatchNormDNNLayer(layers.InputLayer((None, 16, 6, 6))).beta.get_value().shape
    (16,)
    """

    def _check_axes(self, axes: Any) -> None:
        all_but_second = (0,) + tuple(range(2, len(self.input_shape)))
        if self.axes not in ((0,), all_but_second):
            raise ValueError(
                "BatchNormDNNLayer only supports normalization across the first axis, or across all but the "
                f"second axis, got axes={axes!r}"
            )


def batch_norm_dnn(layer: Layer, **kwargs: Any) -> Layer:
    """``batch_norm`` with a :class:`BatchNormDNNLayer`: inserts batch normalization after
    ``layer``.

    **This changes** ``layer``: its bias is removed (batch normalization's ``beta`` takes its
    place) and its nonlinearity is set to the identity and moved to a ``NonlinearityLayer``
    after the ``BatchNormDNNLayer``. Returns that last layer (or the ``BatchNormDNNLayer`` when
    the layer was linear), as :func:`symdl.layers.batch_norm`. Keyword arguments go to ``BatchNormDNNLayer``.

    >>> from symdl import layers
    >>> from symdl.layers.dnn import batch_norm_dnn
    >>> conv = layers.Conv2DLayer(layers.InputLayer((None, 3, 8, 8)), 4, 3)
    >>> net = batch_norm_dnn(conv)
    >>> type(net).__name__, type(net.input_layer).__name__, conv.b
    ('NonlinearityLayer', 'BatchNormDNNLayer', None)
    """
    return insert_batch_norm(layer, BatchNormDNNLayer, **kwargs)
