"""Symbolic input constructors with Theano's names: ``scalar vector matrix tensor3 tensor4
tensor5`` and their dtype-prefixed forms (``fmatrix dvector ivector lscalar bmatrix ...``), and
the plural forms that make several at once (``matrices('xy')``, ``fvectors('a', 'b')``,
``scalars(3)``).

>>> import symdl.tensor as T
>>> T.ivector('y').type
int32(?,)
>>> T.tensor4('x', shape=(None, 1, 28, 28)).type
float32(?, 1, 28, 28)
>>> p, t = T.matrices('pt')
>>> p.name, t.type
('p', float32(?, ?))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symdl.config import config
from symdl.tensor.type import TensorType
from symdl.tensor.var import TensorVariable


def tensor(
    dtype: str | None = None,
    shape: Sequence[int | None] | None = None,
    name: str | None = None,
    ndim: int | None = None,
) -> TensorVariable:
    """A symbolic input of ``dtype`` (default floatX) and ``shape`` (None entries are unknown)."""
    if shape is None:
        if ndim is None:
            raise TypeError("tensor() needs shape= or ndim=")
        shape = (None,) * ndim
    elif ndim is not None and ndim != len(shape):
        raise ValueError(f"tensor(): ndim={ndim} disagrees with shape={tuple(shape)}")
    return TensorType(dtype or config.floatX, shape).make_variable(name=name)


def _constructor(ndim: int, dtype: str | None, fname: str) -> Any:
    def make(name: str | None = None, dtype: str | None = dtype, shape: Sequence[int | None] | None = None) -> Any:
        if shape is not None and len(shape) != ndim:
            raise ValueError(f"{fname}: shape {tuple(shape)} has {len(shape)} entries, expected {ndim}")
        return tensor(dtype, shape if shape is not None else (None,) * ndim, name)

    make.__name__ = make.__qualname__ = fname
    kind = dtype or "floatX"
    make.__doc__ = f"A symbolic {ndim}-d tensor of dtype {kind}; ``shape=`` fixes known dimensions."
    return make


_NDIMS = {"scalar": 0, "vector": 1, "matrix": 2, "row": 2, "col": 2, "tensor3": 3, "tensor4": 4, "tensor5": 5}
_PREFIXES = {
    "": None, "b": "int8", "w": "int16", "i": "int32", "l": "int64",
    "f": "float32", "d": "float64", "c": "complex64", "z": "complex128",
}  # fmt: skip

_exports: dict[str, Any] = {}
for _kind, _ndim in _NDIMS.items():
    for _prefix, _dtype in _PREFIXES.items():
        _exports[_prefix + _kind] = _constructor(_ndim, _dtype, _prefix + _kind)
globals().update(_exports)


def _row_or_col(fname: str, dtype: str | None, shape: tuple) -> Any:
    def make(name: str | None = None, dtype: str | None = dtype) -> Any:
        return tensor(dtype, shape, name)

    make.__name__ = make.__qualname__ = fname
    return make


for _prefix, _dtype in _PREFIXES.items():
    globals()[_prefix + "row"] = _row_or_col(_prefix + "row", _dtype, (1, None))
    globals()[_prefix + "col"] = _row_or_col(_prefix + "col", _dtype, (None, 1))


def _plural(single: Any, fname: str) -> Any:
    def make(*names: Any) -> list:
        # Theano's forms: one string, a name per character; several strings; or a count.
        if len(names) == 1 and isinstance(names[0], int):
            return [single() for _ in range(names[0])]
        if len(names) == 1:
            names = tuple(names[0])
        return [single(name) for name in names]

    make.__name__ = make.__qualname__ = fname
    make.__doc__ = f"Several ``{single.__name__}``: ``{fname}('xy')``, ``{fname}('x', 'y')`` or ``{fname}(2)``."
    return make


_PLURALS = {"scalar": "scalars", "vector": "vectors", "matrix": "matrices", "row": "rows", "col": "cols",
            "tensor3": "tensor3s", "tensor4": "tensor4s", "tensor5": "tensor5s"}  # fmt: skip
_plurals = {
    prefix + plural: _plural(globals()[prefix + kind], prefix + plural)
    for kind, plural in _PLURALS.items()
    for prefix in _PREFIXES
}
globals().update(_plurals)
_exports.update(_plurals)

__all__ = ["tensor", *_exports]
