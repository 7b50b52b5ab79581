"""``EmbeddingLayer``: a lookup table from integer indices to learned vectors."""

from __future__ import annotations

from typing import Any

from symdl import init
from symdl.layers.base import Layer

__all__ = ["EmbeddingLayer"]


class EmbeddingLayer(Layer):
    """Maps each integer in ``[0, input_size)`` to a row of ``W`` (``input_size x output_size``).

    >>> import numpy as np, symdl, symdl.tensor as T
    >>> from symdl import layers
    >>> words = T.imatrix('words')
    >>> l = layers.EmbeddingLayer(layers.InputLayer((None, 5), input_var=words), input_size=100, output_size=16)
    >>> l.output_shape
    (None, 5, 16)
    >>> symdl.function([words], layers.get_output(l))(np.zeros((2, 5), 'int32')).shape
    (2, 5, 16)
    """

    def __init__(self, incoming: Any, input_size: int, output_size: int, W: Any = init.Normal(), **kwargs: Any):
        super().__init__(incoming, **kwargs)
        self.input_size = input_size
        self.output_size = output_size
        self.W = self.add_param(W, (input_size, output_size), name="W")

    def get_output_shape_for(self, input_shape: tuple) -> tuple:
        return tuple(input_shape) + (self.output_size,)

    def get_output_for(self, input: Any, **kwargs: Any) -> Any:
        return self.W[input]
