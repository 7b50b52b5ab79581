"""TensorType: a dtype and a static shape whose entries are ints (known) or None (unknown).

>>> from symdl.tensor.type import TensorType
>>> t = TensorType('float32', (None, 3))
>>> t.ndim, t.broadcastable
(2, (False, False))

Theano's spelling, a broadcastable pattern (True: the size is 1; False: unknown), works too, and
calling a type makes a variable of it:

>>> TensorType('float64', broadcastable=(False, True))('x').type
float64(?, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import TypeMismatch
from symdl.graph.basic import Type

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128")  # fmt: skip
FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
DISCRETE_DTYPES = ("bool",) + INT_DTYPES

Shape = tuple[int | None, ...]
# np.dtype -> name without NumPy's slow str(dtype) (types are made for every node).
_DTYPE_NAMES = {np.dtype(d): d for d in DTYPES}


def shape_str(shape: Sequence[int | None]) -> str:
    inner = ", ".join("?" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


class TensorType(Type):
    """The type of an n-dimensional array of one dtype with a partly known shape."""

    __slots__ = ("dtype", "shape", "_hash", "name")

    def __init__(
        self,
        dtype: str | np.dtype,
        shape: Sequence[int | None] | None = None,
        broadcastable: Sequence[bool] | None = None,
        name: str | None = None,
    ):
        # A sequence of booleans in the place of the shape is Theano's broadcastable pattern
        # (``TensorType(dtype, (False, True))``), never sizes 0 and 1.
        if shape is not None and len(shape) and all(isinstance(d, bool | np.bool_) for d in shape):
            shape, broadcastable = None, shape
        if broadcastable is not None:
            pattern = tuple(1 if b else None for b in broadcastable)
            if shape is not None and any(b == 1 and d not in (1, None) for b, d in zip(pattern, shape)):
                raise ValueError(
                    f"TensorType: shape {tuple(shape)} disagrees with broadcastable {tuple(broadcastable)}"
                )
            shape = pattern if shape is None else shape
        if shape is None:
            raise TypeError("TensorType needs a shape (sizes, None where unknown) or Theano's broadcastable=")
        self.name = name
        if type(dtype) is not str or dtype not in DTYPES:
            dtype = (isinstance(dtype, np.dtype) and _DTYPE_NAMES.get(dtype)) or str(np.dtype(dtype))
        if dtype not in DTYPES:
            raise TypeMismatch(f"unsupported dtype {dtype}; symdl supports {', '.join(DTYPES)}")
        self.dtype = dtype
        self.shape: Shape = tuple(None if d is None else int(d) for d in shape)
        if any(d is not None and d < 0 for d in self.shape):
            raise ValueError(f"negative dimension in shape {self.shape}")
        self._hash = hash((TensorType, self.dtype, self.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return tuple(d == 1 for d in self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    @property
    def is_discrete(self) -> bool:
        return self.dtype in DISCRETE_DTYPES

    def __eq__(self, other: object) -> bool:
        return type(other) is TensorType and self.dtype == other.dtype and self.shape == other.shape

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple:
        # Rebuilt, not restored: string hashes differ between processes, so _hash is recomputed.
        return (TensorType, (self.dtype, self.shape))

    def is_super(self, other: Type) -> bool:
        """True if every value of ``other`` fits this type (same dtype, ndim, compatible shape)."""
        return (
            isinstance(other, TensorType)
            and self.dtype == other.dtype
            and self.ndim == other.ndim
            and all(s is None or s == o for s, o in zip(self.shape, other.shape))
        )

    def clone(self, dtype: str | None = None, shape: Sequence[int | None] | None = None) -> TensorType:
        return TensorType(dtype or self.dtype, self.shape if shape is None else shape)

    def filter(self, value: Any, allow_downcast: bool = False) -> np.ndarray:
        """``value`` as an ndarray of this type; safe casts happen, unsafe ones raise TypeMismatch."""
        if isinstance(value, np.ndarray) and value.dtype == self.dtype:
            arr = value
        else:
            arr = np.asarray(value)
            if arr.dtype != self.dtype:
                if not (allow_downcast or _safe_cast(arr, self.dtype)):
                    raise TypeMismatch(f"expected {self}, got an array of dtype {arr.dtype}")
                arr = arr.astype(self.dtype)
        if arr.ndim != self.ndim:
            raise TypeMismatch(f"expected {self} ({self.ndim}-d), got a {arr.ndim}-d array of shape {arr.shape}")
        for want, got in zip(self.shape, arr.shape):
            if want is not None and want != got:
                from symdl.errors import ShapeError

                raise ShapeError(f"expected shape {shape_str(self.shape)}, got {arr.shape}")
        return arr

    def make_variable(self, name: str | None = None) -> Any:
        from symdl.tensor.var import TensorVariable

        return TensorVariable(self, name=name)

    def __call__(self, name: str | None = None) -> Any:
        """A new variable of this type (Theano's ``TensorType(...)(name)``)."""
        return self.make_variable(name)

    def __str__(self) -> str:
        return f"{self.dtype}{shape_str(self.shape)}"

    __repr__ = __str__


def _safe_cast(arr: np.ndarray, dtype: str) -> bool:
    """float64 data into float32 inputs is accepted (as Theano's floatX inputs); float into int is not."""
    if np.can_cast(arr.dtype, dtype, "same_kind"):
        return True
    if arr.dtype.kind in "iub" and np.dtype(dtype).kind in "iub" and arr.size:
        info = np.iinfo(dtype) if np.dtype(dtype).kind != "b" else None
        return info is not None and arr.min() >= info.min and arr.max() <= info.max
    return arr.dtype.kind in "iub" and np.dtype(dtype).kind in "fc"
