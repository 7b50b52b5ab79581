"""``LocallyConnected2DLayer`` (Lasagne's ``lasagne.layers.local``): a 2-d convolution without
weight sharing, each output position with filters of its own.

>>> from symdl import layers
>>> l = layers.LocallyConnected2DLayer(layers.InputLayer((None, 3, 8, 8)), 4, 3)
>>> l.output_shape, l.W.get_value().shape
((None, 4, 8, 8), (4, 3, 3, 3, 8, 8))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import symdl.tensor as T
from symdl import init, nonlinearities
from symdl.layers.conv import Conv2DLayer

__all__ = ["LocallyConnected2DLayer"]


class LocallyConnected2DLayer(Conv2DLayer):
    """2-d locally connected layer: like a ``Conv2DLayer`` with 'same' padding and stride 1,
    but the filters differ at every output position.

    Parameters as :class:`symdl.layers.Conv2DLayer`, except:

    stride : only 1 / (1, 1)
    pad : only 'same' (the default)
    W : weights of shape ``(num_filters, channels, rows, cols, out_rows, out_cols)``, or with
        ``channelwise=True`` ``(num_filters, rows, cols, out_rows, out_cols)``.
    flip_filters : bool
        True (the default) flips each position's filter, as a convolution.
    channelwise : bool
        True connects output channel ``i`` to input channel ``i`` only (``num_filters`` must be
        the number of input channels).

    The input's shape must be known except for the batch size. The output is computed from
    the ``rows * cols`` shifted copies of the padded input, multiplied by the weights of each
    position and summed over channels and filter taps (a batched matrix product per position).
    """

    def __init__(
        self,
        incoming: Any,
        num_filters: int,
        filter_size: Any,
        stride: Any = (1, 1),
        pad: Any = "same",
        untie_biases: bool = False,
        W: Any = init.GlorotUniform(),
        b: Any = init.Constant(0.0),
        nonlinearity: Callable | None = nonlinearities.rectify,
        flip_filters: bool = True,
        channelwise: bool = False,
        **kwargs: Any,
    ):
        self.channelwise = channelwise
        super().__init__(
            incoming, num_filters, filter_size, stride=stride, pad=pad, untie_biases=untie_biases, W=W, b=b,
            nonlinearity=nonlinearity, flip_filters=flip_filters, **kwargs,
        )  # fmt: skip
        if self.stride != (1, 1):
            raise NotImplementedError(f"LocallyConnected2DLayer requires stride=1 / (1, 1), but got {stride!r}.")
        if self.pad != "same":
            raise NotImplementedError(f"LocallyConnected2DLayer requires pad='same', but got {pad!r}.")

    def get_W_shape(self) -> tuple:
        if any(s is None for s in self.input_shape[1:]):
            raise ValueError(
                "A LocallyConnected2DLayer requires a fixed input shape (except for the batch size). "
                f"Got {self.input_shape}."
            )
        channels = self.input_shape[1]
        out_hw = tuple(self.get_output_shape_for(self.input_shape)[2:])
        if self.channelwise:
            if self.num_filters != channels:
                raise ValueError(
                    "num_filters and the number of input channels should match when channelwise is true, but got "
                    f"num_filters={self.num_filters} and {channels} input channels"
                )
            return (self.num_filters,) + self.filter_size + out_hw
        return (self.num_filters, channels) + self.filter_size + out_hw

    def convolve(self, input: Any, **kwargs: Any) -> Any:
        channels, rows, cols = self.input_shape[1:]
        kh, kw = self.filter_size
        taps = kh * kw
        padded = T.set_subtensor(
            T.zeros((input.shape[0], channels, rows + kh - 1, cols + kw - 1), dtype=input.dtype)[
                :, :, kh // 2 : kh // 2 + rows, kw // 2 : kw // 2 + cols
            ],
            input,
        )
        # (batch, channels, taps, rows, cols): the input under each filter tap at every position.
        shifted = T.stack([padded[:, :, i : i + rows, j : j + cols] for i in range(kh) for j in range(kw)], axis=2)
        if self.channelwise:
            W = self.W[:, ::-1, ::-1] if self.flip_filters else self.W
            return T.sum(shifted * T.reshape(W, (channels, taps, rows, cols)), axis=2)
        W = self.W[:, :, ::-1, ::-1] if self.flip_filters else self.W
        # Per position: (batch, channels * taps) @ (channels * taps, num_filters).
        positions = rows * cols
        lhs = T.reshape(shifted, (input.shape[0], channels * taps, positions)).dimshuffle(2, 0, 1)
        rhs = T.reshape(W, (self.num_filters, channels * taps, positions)).dimshuffle(2, 1, 0)
        out = T.batched_dot(lhs, rhs)  # (positions, batch, num_filters)
        return T.reshape(out.dimshuffle(1, 2, 0), (input.shape[0], self.num_filters, rows, cols))
