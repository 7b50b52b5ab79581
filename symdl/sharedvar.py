"""Shared variables: symbolic tensors that hold a value across calls of compiled functions.

>>> import numpy as np, symdl
>>> W = symdl.shared(np.zeros((2, 3), 'float32'), name='W')
>>> W.type, W.get_value().shape
(float32(?, ?), (2, 3))
>>> W.set_value(np.ones((2, 3), 'float32'))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.config import config
from symdl.errors import ShapeError, TypeMismatch
from symdl.tensor.type import TensorType
from symdl.tensor.var import TensorVariable


class SharedVariable(TensorVariable):
    """A tensor whose value lives in ``container[0]`` and is updated by functions' ``updates``."""

    is_shared = True

    def __init__(self, type: TensorType, value: np.ndarray, name: str | None = None):
        super().__init__(type, name=name)
        self.container: list[Any] = [value]
        # An expression applied after each call of any function using this variable, unless
        # the function updates it explicitly (Theano's default_update; used by random streams).
        self.default_update: Any = None

    def get_value(self, borrow: bool = False, return_device_array: bool = False) -> np.ndarray:
        """The current value; a copy unless ``borrow=True``."""
        value = self.container[0]
        if not isinstance(value, np.ndarray):
            if return_device_array:
                return value
            value = value.get()
            return value
        return value if borrow else value.copy()

    def set_value(self, value: Any, borrow: bool = False) -> None:
        """Replace the value; its dtype must be this variable's and its ndim the same."""
        if isinstance(value, np.ndarray) and value.dtype != self.type.dtype:
            raise TypeMismatch(
                f"set_value of {self.name or 'a shared variable'}: expected dtype {self.type.dtype}, "
                f"got {value.dtype}; convert it with .astype('{self.type.dtype}')"
            )
        try:
            arr = self.type.filter(value)
        except (TypeMismatch, ShapeError) as exc:
            raise type(exc)(f"set_value of {self.name or 'a shared variable'}: {exc}") from None
        self.container[0] = arr if borrow and arr is value else np.array(arr, copy=True)

    @property
    def value(self) -> np.ndarray:
        return self.get_value()

    def clone(self) -> SharedVariable:
        return self

    def __repr__(self) -> str:
        return self.name or f"<shared {self.type}>"


def shared(
    value: Any,
    name: str | None = None,
    borrow: bool = False,
    shape: Sequence[int | None] | None = None,
    strict: bool = False,
    broadcastable: Sequence[bool] | None = None,
) -> SharedVariable:
    """A shared variable holding ``value``; its dtype and ndim come from the value.

    Python floats become floatX scalars (so a learning rate mixes with float32 parameters);
    every other value keeps its NumPy dtype. ``shape=`` fixes dimensions that will never change;
    Theano's ``broadcastable=`` (True where the size is always 1) fixes those dimensions to 1.

    >>> import numpy as np, symdl
    >>> symdl.shared(np.zeros((1, 3)), broadcastable=(True, False)).type
    float64(1, ?)
    """
    if isinstance(value, float) and not isinstance(value, np.generic):
        arr = np.asarray(value, dtype=config.floatX)
    elif isinstance(value, np.ndarray):
        arr = value if borrow else value.copy()
    else:
        arr = np.array(value)
    if arr.dtype == object:
        raise TypeMismatch(f"shared() needs numeric data, got {type(value).__name__}")
    static = tuple(shape) if shape is not None else (None,) * arr.ndim
    if broadcastable is not None:
        if len(broadcastable) != arr.ndim:
            raise ShapeError(
                f"shared(): broadcastable {tuple(broadcastable)} has {len(broadcastable)} entries for a {arr.ndim}-d value"
            )
        static = tuple(1 if b else d for b, d in zip(broadcastable, static))
    type_ = TensorType(arr.dtype, static)
    type_.filter(arr)
    return SharedVariable(type_, arr, name=name)
