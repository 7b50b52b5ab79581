"""Lasagne's ``lasagne.layers.corrmm`` on any device: ``Conv2DMMLayer``, the 2-d convolution
layer that Lasagne runs with Theano's GEMM-based GPU convolution (``GpuCorrMM``). symdl's
``conv2d`` is itself an im2col + GEMM convolution on every backend, so this is
:class:`symdl.layers.Conv2DLayer` under Lasagne's name and defaults (``flip_filters=True``).

>>> from symdl import layers
>>> from symdl.layers.corrmm import Conv2DMMLayer
>>> Conv2DMMLayer(layers.InputLayer((None, 3, 32, 32)), 16, 5, stride=2, pad=2).output_shape
(None, 16, 16, 16)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from symdl import init, nonlinearities
from symdl.layers.conv import Conv2DLayer

__all__ = ["Conv2DMMLayer"]


class Conv2DMMLayer(Conv2DLayer):
    """2-d convolution layer (Lasagne's GEMM-based one); parameters as
    :class:`symdl.layers.Conv2DLayer` (``flip_filters`` True by default, ``num_groups``
    supported)."""

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
        **kwargs: Any,
    ):
        super().__init__(
            incoming, num_filters, filter_size, stride, pad, untie_biases, W, b, nonlinearity, flip_filters, **kwargs
        )
