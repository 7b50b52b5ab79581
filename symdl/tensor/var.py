"""Tensor variables with NumPy-style operators and methods, tensor constants, and conversion.

Python scalars become *weak* constants: they take the dtype of the tensor they meet, so
``fmatrix * 0.5`` stays float32, as NumPy 2 and JAX do. NumPy scalars and arrays are strong.

Shapes are weak too, as in JAX where they are Python ints: ``x.shape``, ``x.shape[i]``,
``x.size`` and arithmetic among weak values are int64 where they stand alone and promote like
Python ints where they meet a strong tensor (``fmatrix / x.shape[0]`` is float32,
``ivector + x.shape[0]`` int32). A weak constant that does not fit its partner's dtype raises
at build time; a symbolic one (a size known only at run time) is converted when the function
runs and wraps around like a NumPy cast if it does not fit (a size above 127 added to an int8
tensor), so give such sums an explicit ``T.cast`` when sizes can be that large.

>>> import symdl.tensor as T
>>> (T.fmatrix('x') * 0.5).dtype
'float32'
>>> import numpy as np
>>> (T.fmatrix('x') + np.float64(1)).dtype
'float64'
>>> x = T.fmatrix('x')
>>> x.shape[0].dtype, (x.sum(axis=0) / x.shape[0]).dtype, (T.ivector('i') + x.size).dtype
('int64', 'float32', 'int32')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from symdl.errors import TypeMismatch
from symdl.graph.basic import Constant, Variable
from symdl.tensor.type import TensorType, shape_str


class _TensorOps:
    """Operators and methods shared by tensor variables and constants."""

    type: TensorType
    # NumPy arrays and scalars on the left defer to our reflected operators (np.ones(3) * x is
    # symbolic, and np.float64(2) * x stays a strong float64 instead of becoming a Python float).
    __array_ufunc__ = None

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return self.type.broadcastable

    @property
    def static_shape(self) -> tuple[int | None, ...]:
        return self.type.shape

    @property
    def shape(self) -> Any:
        from symdl.tensor.shape import shape

        return shape(self)

    @property
    def size(self) -> Any:
        from symdl.tensor.shape import size

        return size(self)

    @property
    def T(self) -> Any:
        from symdl.tensor.shape import transpose

        return transpose(self)

    # arithmetic
    def __add__(self, o):
        return NotImplemented if _sparse(o) else _m().add(self, o)  # noqa: E704

    def __radd__(self, o):
        return _m().add(o, self)  # noqa: E704

    def __sub__(self, o):
        return NotImplemented if _sparse(o) else _m().sub(self, o)  # noqa: E704

    def __rsub__(self, o):
        return _m().sub(o, self)  # noqa: E704

    def __mul__(self, o):
        return NotImplemented if _sparse(o) else _m().mul(self, o)  # noqa: E704

    def __rmul__(self, o):
        return _m().mul(o, self)  # noqa: E704

    def __truediv__(self, o):
        return _m().true_div(self, o)  # noqa: E704

    def __rtruediv__(self, o):
        return _m().true_div(o, self)  # noqa: E704

    def __floordiv__(self, o):
        return _m().floor_div(self, o)  # noqa: E704

    def __rfloordiv__(self, o):
        return _m().floor_div(o, self)  # noqa: E704

    def __mod__(self, o):
        return _m().mod(self, o)  # noqa: E704

    def __rmod__(self, o):
        return _m().mod(o, self)  # noqa: E704

    def __pow__(self, o):
        return _m().pow(self, o)  # noqa: E704

    def __rpow__(self, o):
        return _m().pow(o, self)  # noqa: E704

    def __neg__(self):
        return _m().neg(self)  # noqa: E704

    def __pos__(self):
        return self  # noqa: E704

    def __abs__(self):
        return _m().abs(self)  # noqa: E704

    def __invert__(self):
        return _m().invert(self)  # noqa: E704

    def __and__(self, o):
        return _m().bitwise_and(self, o)  # noqa: E704

    def __rand__(self, o):
        return _m().bitwise_and(o, self)  # noqa: E704

    def __or__(self, o):
        return _m().bitwise_or(self, o)  # noqa: E704

    def __ror__(self, o):
        return _m().bitwise_or(o, self)  # noqa: E704

    def __xor__(self, o):
        return _m().bitwise_xor(self, o)  # noqa: E704

    def __rxor__(self, o):
        return _m().bitwise_xor(o, self)  # noqa: E704

    def __lt__(self, o):
        return _m().lt(self, o)  # noqa: E704

    def __le__(self, o):
        return _m().le(self, o)  # noqa: E704

    def __gt__(self, o):
        return _m().gt(self, o)  # noqa: E704

    def __ge__(self, o):
        return _m().ge(self, o)  # noqa: E704

    def __matmul__(self, o):
        return NotImplemented if _sparse(o) else _blas().matmul(self, o)  # noqa: E704

    def __rmatmul__(self, o):
        return _blas().matmul(o, self)  # noqa: E704

    # == stays identity (as in Theano) so variables can be dict keys; T.eq compares values.
    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        return True

    def _shape_length(self) -> int | None:
        """The number of entries of a shape vector (``x.shape``) whose length is known."""
        if getattr(self, "weak", False) and self.type.ndim == 1:
            return self.type.shape[0]
        return None

    def __iter__(self):
        # A shape unpacks into its entries (``n, c, h, w = x.shape``), as in Theano and JAX.
        length = self._shape_length()
        if length is None:
            raise TypeError("symbolic tensors are not iterable; index them (x[0]) or use T.split")
        return (self[i] for i in range(length))

    def __len__(self) -> int:
        length = self._shape_length()
        if length is None:
            raise TypeError("symbolic tensors have no len(); use x.shape[0]")
        return length

    def __getitem__(self, index: Any) -> Any:
        if getattr(self, "weak", False):
            # An entry of a shape is weak as the shape is (a Python int of a tuple, in JAX).
            from symdl.tensor.shape import getitem_weak

            return getitem_weak(self, index)
        from symdl.tensor.subtensor import getitem

        return getitem(self, index)

    # methods
    def sum(self, axis=None, keepdims=False, dtype=None):
        return _red().sum(self, axis, keepdims, dtype)  # noqa: E704

    def mean(self, axis=None, keepdims=False, dtype=None):
        return _red().mean(self, axis, keepdims, dtype)  # noqa: E704

    def prod(self, axis=None, keepdims=False):
        return _red().prod(self, axis, keepdims)  # noqa: E704

    def max(self, axis=None, keepdims=False):
        return _red().max(self, axis, keepdims)  # noqa: E704

    def min(self, axis=None, keepdims=False):
        return _red().min(self, axis, keepdims)  # noqa: E704

    def argmax(self, axis=None, keepdims=False):
        return _red().argmax(self, axis, keepdims)  # noqa: E704

    def argmin(self, axis=None, keepdims=False):
        return _red().argmin(self, axis, keepdims)  # noqa: E704

    def var(self, axis=None, keepdims=False, ddof=0):
        return _red().var(self, axis, keepdims, ddof)  # noqa: E704

    def std(self, axis=None, keepdims=False, ddof=0):
        return _red().std(self, axis, keepdims, ddof)  # noqa: E704

    def all(self, axis=None, keepdims=False):
        return _red().all(self, axis, keepdims)  # noqa: E704

    def any(self, axis=None, keepdims=False):
        return _red().any(self, axis, keepdims)  # noqa: E704

    def norm(self, L=2, axis=None, keepdims=False):
        return _red().norm(self, L, axis, keepdims)  # noqa: E704

    def reshape(self, *shape, ndim=None):
        from symdl.tensor.shape import reshape

        if len(shape) == 1 and not isinstance(shape[0], int | np.integer | Variable):
            shape = shape[0]
        return reshape(self, shape, ndim=ndim)

    def dimshuffle(self, *pattern):
        from symdl.tensor.shape import dimshuffle

        if len(pattern) == 1 and isinstance(pattern[0], list | tuple):
            pattern = pattern[0]
        return dimshuffle(self, pattern)

    def flatten(self, ndim=1):
        return _shape().flatten(self, ndim)  # noqa: E704

    def transpose(self, *axes):
        return _shape().transpose(
            self, axes[0] if len(axes) == 1 and isinstance(axes[0], list | tuple) else (axes or None)
        )  # noqa: E501, E704

    def swapaxes(self, a, b):
        return _shape().swapaxes(self, a, b)  # noqa: E704

    def squeeze(self, axis=None):
        return _shape().squeeze(self, axis)  # noqa: E704

    def repeat(self, repeats, axis=None):
        return _shape().repeat(self, repeats, axis)  # noqa: E704

    def astype(self, dtype):
        return _m().cast(self, dtype)  # noqa: E704

    def clip(self, lo, hi):
        return _m().clip(self, lo, hi)  # noqa: E704

    def dot(self, o):
        return _blas().dot(self, o)  # noqa: E704

    def nonzero(self):
        raise NotImplementedError("nonzero has a data-dependent shape; index with a boolean mask")  # noqa: E501, E704


def _sparse(o: Any) -> bool:
    """A sparse matrix takes over the arithmetic it is an operand of (``dense * sparse`` keeps
    the sparsity, ``dense @ sparse`` is a sparse product), as in Theano."""
    return getattr(o, "is_sparse", False) is True


def _m():
    from symdl.tensor import elemwise

    return elemwise


def _red():
    from symdl.tensor import reduction

    return reduction


def _shape():
    import importlib

    # Not ``from symdl.tensor import shape``: the package exports the function ``shape``.
    return importlib.import_module("symdl.tensor.shape")


def _blas():
    from symdl.tensor import blas

    return blas


class TensorVariable(_TensorOps, Variable):
    """A symbolic n-dimensional array; ``weak`` marks values that promote like Python numbers
    (shapes and the arithmetic on them, see the module's docstring)."""

    __slots__ = ()
    # Set on the instance by shape() and by elementwise ops of weak operands only. It matters
    # when an expression is built, so a clone (a compiled graph's copy) is strong again.
    weak = False

    def __repr__(self) -> str:
        if self.name:
            return self.name
        if self.owner is not None:
            return f"{self.owner.op}.{self.index}" if len(self.owner.outputs) > 1 else f"{self.owner.op}.out"
        return f"<{self.type}>"


class TensorConstant(_TensorOps, Constant):
    """A tensor whose value is fixed; ``weak`` marks Python scalars that adopt their partner's dtype."""

    __slots__ = ("weak",)

    def __init__(self, type: TensorType, data: Any, name: str | None = None, weak: bool = False):
        super().__init__(type, data, name=name)
        self.data.setflags(write=False)
        self.weak = weak

    def clone(self) -> TensorConstant:
        new = super().clone()
        new.weak = self.weak
        return new

    def signature(self) -> tuple:
        return (self.type, self.weak, self.data.shape, self.data.tobytes())

    def __repr__(self) -> str:
        if self.name:
            return self.name
        if self.data.size <= 8:
            return np.array2string(self.data, separator=", ") if self.data.ndim else repr(self.data.item())
        return f"<constant {self.type}>"


def constant(value: Any, dtype: str | None = None, name: str | None = None, weak: bool = False) -> TensorConstant:
    """A constant tensor from a scalar or array.

    >>> import symdl.tensor as T
    >>> T.constant([1, 2]).type
    int64(2,)
    """
    arr = np.asarray(value, dtype=dtype)
    if arr.dtype == object:
        raise TypeMismatch(f"cannot make a tensor constant from {type(value).__name__}")
    return TensorConstant(TensorType(arr.dtype, arr.shape), arr, name=name, weak=weak)


def as_tensor_variable(x: Any, name: str | None = None, ndim: int | None = None) -> Variable:
    """Return ``x`` as a symbolic tensor: variables pass through, data becomes a constant.

    Python ``bool``, ``int`` and ``float`` become weak constants.
    """
    if isinstance(x, _TensorOps):
        var = x
    elif isinstance(x, Variable):
        raise TypeMismatch(f"expected a tensor, got {x} of type {x.type}")
    elif isinstance(x, bool | int | float) and not isinstance(x, np.generic):
        var = constant(x, name=name, weak=True)
    elif isinstance(x, list | tuple) and any(isinstance(e, Variable) for e in _flat(x)):
        from symdl.tensor.shape import stack

        var = stack([as_tensor_variable(e) for e in x])
    else:
        var = constant(x, name=name)
    if ndim is not None and var.ndim != ndim:
        raise TypeMismatch(f"expected a {ndim}-d tensor, got {var.type} ({shape_str(var.type.shape)})")
    return var


def _flat(items: Any):
    for e in items:
        if isinstance(e, list | tuple):
            yield from _flat(e)
        else:
            yield e
