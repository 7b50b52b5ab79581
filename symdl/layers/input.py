"""``InputLayer``: where data enters a network."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import symdl.tensor as T
from symdl.config import config
from symdl.layers.base import Layer

__all__ = ["InputLayer"]


class InputLayer(Layer):
    """The input of a network: a symbolic variable of a known shape.

    Parameters
    ----------
    shape : tuple
        The input's shape; ``None`` marks sizes known only at run time (usually the batch).
    input_var : symbolic tensor, optional
        The variable to use; by default a new floatX tensor of ``shape`` is created.

    Examples
    --------
    >>> from symdl import layers
    >>> l_in = layers.InputLayer((None, 1, 28, 28))
    >>> l_in.input_var.type
    float32(?, 1, 28, 28)
    """

    def __init__(self, shape: Sequence[int | None], input_var: Any = None, name: str | None = None, **kwargs: Any):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        if any(d is not None and d <= 0 for d in self.shape):
            raise ValueError(f"InputLayer: sizes must be positive or None, got {self.shape}")
        if input_var is None:
            input_var = T.tensor(config.floatX, self.shape, name=f"{name}.input" if name else "input")
        elif input_var.ndim != len(self.shape):
            raise ValueError(
                f"InputLayer: input_var has {input_var.ndim} dimensions but shape {self.shape} has {len(self.shape)}"
            )
        else:
            static = getattr(input_var.type, "shape", ())
            if any(s is not None and d is not None and s != d for s, d in zip(static, self.shape)):
                raise ValueError(
                    f"InputLayer: input_var has static shape {static}, incompatible with shape {self.shape}"
                )
        self.input_var = input_var
        # Not Layer.__init__: an input layer has no input_layer, which is how get_all_layers
        # (and Lasagne's) knows that the walk stops here.
        self.name = name
        self.params = OrderedDict()

    @property
    def output_shape(self) -> tuple[int | None, ...]:
        return self.shape
