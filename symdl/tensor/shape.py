"""Shape operations: shape, dimshuffle (transpose, expand/squeeze), reshape, flatten,
concatenate/stack/split, repeat, tile, and reduction of a broadcast gradient to a shape.

>>> import symdl.tensor as T
>>> x = T.matrix('x', shape=(None, 3))
>>> x.dimshuffle(1, 'x', 0).type
float32(3, 1, ?)
>>> T.reshape(x, (-1,)).type
float32(?,)
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Constant, Op, Variable
from symdl.graph.impl import register_impl
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import TensorConstant, as_tensor_variable, constant
from symdl.utils import describe


class Shape(Op):
    """The shape of a tensor as an int64 vector."""

    view_map = {}

    differentiable = False

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (x.ndim,))])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [np.array(inputs[0].shape, dtype="int64")]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [[len(input_shapes[0])]]

    def __str__(self) -> str:
        return "shape"


_shape_op = Shape()


def _weak(v: Variable) -> Variable:
    v.weak = True
    return v


def shape(x: Any) -> Variable:
    """The symbolic shape of ``x`` as a weak int64 vector (a constant when every dimension is
    known); its entries promote like Python ints (see ``symdl.tensor.var``).

    >>> import symdl.tensor as T
    >>> x = T.fmatrix('x', shape=(None, 3))
    >>> x.shape[1].data, (x / x.shape[0]).dtype
    (array(3), 'float32')
    """
    x = as_tensor_variable(x)
    if builtins.all(d is not None for d in x.type.shape):
        return constant(np.array(x.type.shape, dtype="int64"), weak=True)
    return _weak(_shape_op(x))


def shape_i(x: Variable, i: int) -> Variable:
    """Dimension ``i`` of ``x`` as a weak int64 scalar (a constant when known)."""
    dim = x.type.shape[i]
    if dim is not None:
        return constant(np.int64(dim), weak=True)
    from symdl.tensor.subtensor import getitem

    return _weak(getitem(_shape_op(x), i))


def shape_tuple(x: Variable) -> tuple:
    """Per-dimension Python ints where known, weak int64 scalars otherwise."""
    return tuple(d if d is not None else shape_i(x, i) for i, d in enumerate(x.type.shape))


def size(x: Any) -> Variable:
    """The number of elements of ``x``, a weak int64 scalar (a constant when the shape is known)."""
    x = as_tensor_variable(x)
    if builtins.all(d is not None for d in x.type.shape):
        return constant(np.int64(math.prod(x.type.shape)), weak=True)
    total: Any = constant(np.int64(1), weak=True)
    for i in range(x.ndim):
        total = total * shape_i(x, i)
    return total


def getitem_weak(v: Variable, index: Any) -> Variable:
    """``v[index]`` of a weak tensor (a shape), weak too; an entry of a shape whose dimension is
    static is a constant."""
    from symdl.tensor.subtensor import getitem

    if isinstance(index, int | np.integer) and not isinstance(index, bool) and v.ndim == 1:
        length = v.type.shape[0]
        if length is not None and -length <= index < length:
            k = int(index) % length
            if v.owner is not None and isinstance(v.owner.op, Shape):
                return shape_i(v.owner.inputs[0], k)
            if isinstance(v, TensorConstant):
                return constant(v.data[k], weak=True)
    out = getitem(v, index)
    return out if out is v else _weak(out)


def broadcast_shape_symbolic(node: Apply, input_shapes: Sequence[Sequence]) -> list:
    """Output shape of an elementwise node from its inputs' symbolic shapes."""
    from symdl.tensor.elemwise import maximum

    out_type = node.outputs[0].type
    ndim = out_type.ndim
    result = []
    for axis in range(ndim):
        if out_type.shape[axis] is not None:
            result.append(out_type.shape[axis])
            continue
        dims = []
        for shp in input_shapes:
            k = axis - (ndim - len(shp))
            if k >= 0 and not (isinstance(shp[k], int) and shp[k] == 1):
                dims.append(shp[k])
        dim = dims[0]
        for d in dims[1:]:
            dim = maximum(dim, d)
        result.append(dim)
    return result


class DimShuffle(Op):
    """Reorder axes, insert size-1 axes ('x') and drop size-1 axes, as Theano's dimshuffle."""

    view_map = {0: [0]}

    __props__ = ("input_ndim", "new_order")

    def __init__(self, input_ndim: int, new_order: Sequence[int | str]):
        self.input_ndim = input_ndim
        self.new_order = tuple(new_order)
        kept = [d for d in self.new_order if d != "x"]
        if len(set(kept)) != len(kept) or builtins.any(not 0 <= d < input_ndim for d in kept):
            raise ValueError(f"dimshuffle pattern {self.new_order} is invalid for a {input_ndim}-d tensor")
        self.dropped = tuple(i for i in range(input_ndim) if i not in kept)
        self.perm = tuple(kept)

    def make_node(self, x: Any) -> Apply:
        x = as_tensor_variable(x)
        if x.ndim != self.input_ndim:
            raise TypeMismatch(f"dimshuffle{self.new_order} expects a {self.input_ndim}-d tensor, got {x.type}")
        for d in self.dropped:
            if x.type.shape[d] not in (1, None):
                raise ShapeError(
                    f"dimshuffle{self.new_order} drops axis {d} of {describe(x)}, whose size is "
                    f"{x.type.shape[d]}, not 1"
                )
        shape = tuple(1 if d == "x" else x.type.shape[d] for d in self.new_order)
        return Apply(self, [x], [TensorType(x.dtype, shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        (x,) = inputs
        for d in self.dropped:
            if x.shape[d] != 1:
                raise ShapeError(f"dimshuffle{self.new_order}: axis {d} has size {x.shape[d]}, not 1")
        y = x.transpose(self.perm + self.dropped)
        return [y.reshape(tuple(1 if d == "x" else x.shape[d] for d in self.new_order))]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        shp = input_shapes[0]
        return [[1 if d == "x" else shp[d] for d in self.new_order]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        (gz,) = grads
        # Back to the input's axes: drop inserted axes, restore dropped ones as size 1.
        position = {d: k for k, d in enumerate(self.new_order) if d != "x"}
        pattern = [position[i] if i in position else "x" for i in range(self.input_ndim)]
        return [dimshuffle(gz, pattern)]

    def __str__(self) -> str:
        if self.perm == tuple(range(self.input_ndim))[::-1] and "x" not in self.new_order and len(self.perm) > 1:
            return "transpose"
        return f"dimshuffle{{{','.join(map(str, self.new_order))}}}"


def dimshuffle(x: Any, pattern: Sequence[int | str]) -> Variable:
    """Theano's dimshuffle: e.g. ``(1, 0)`` transposes, ``('x', 0)`` makes a row of a vector."""
    x = as_tensor_variable(x)
    pattern = tuple(pattern)
    if pattern == tuple(range(x.ndim)):
        return x
    return DimShuffle(x.ndim, pattern)(x)


def transpose(x: Any, axes: Sequence[int] | None = None) -> Variable:
    """Permute axes (reverse them when ``axes`` is None), as ``np.transpose``."""
    x = as_tensor_variable(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    from symdl.tensor.reduction import normalize_axis

    norm = [normalize_axis(a, x.ndim, "transpose", x)[0] for a in axes]
    if sorted(norm) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {tuple(axes)} are not a permutation of {x.ndim} axes")
    return dimshuffle(x, norm)


def swapaxes(x: Any, a: int, b: int) -> Variable:
    x = as_tensor_variable(x)
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return dimshuffle(x, order)


def expand_dims(x: Any, axis: int | Sequence[int]) -> Variable:
    """Insert size-1 axes at ``axis`` (positions in the result), as ``np.expand_dims``."""
    x = as_tensor_variable(x)
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out_ndim = x.ndim + len(axes)
    axes = sorted(int(a) % out_ndim for a in axes)
    pattern: list[int | str] = []
    k = 0
    for i in range(out_ndim):
        if i in axes:
            pattern.append("x")
        else:
            pattern.append(k)
            k += 1
    return dimshuffle(x, pattern)


def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> Variable:
    """Remove size-1 axes: the given ones, or every axis statically known to be 1."""
    x = as_tensor_variable(x)
    if axis is None:
        drop = [i for i, d in enumerate(x.type.shape) if d == 1]
    else:
        from symdl.tensor.reduction import normalize_axis

        drop = list(normalize_axis(axis, x.ndim, "squeeze", x))
    return dimshuffle(x, [i for i in range(x.ndim) if i not in drop])


def _as_shape_vector(shape: Any) -> tuple[Variable, tuple[int | None, ...] | None]:
    """A shape given as ints and/or scalars, or as a vector, becomes (int64 vector, static entries)."""
    if isinstance(shape, Variable):
        if shape.ndim != 1:
            raise TypeMismatch(f"a shape must be a vector, got {shape.type}")
        if isinstance(shape, Constant):
            return cast_int64(shape), tuple(int(d) for d in shape.data)
        return cast_int64(shape), None
    if isinstance(shape, int | np.integer):
        shape = (shape,)
    entries = list(shape)
    static = tuple(int(d) if isinstance(d, int | np.integer) else None for d in entries)
    for d in entries:
        if isinstance(d, Constant) and d.ndim == 0:
            static = tuple(int(e.data) if isinstance(e, Constant) else s for e, s in zip(entries, static))
            break
    if builtins.all(s is not None for s in static):
        return constant(np.array(static, dtype="int64")), static
    return stack([cast_int64(as_tensor_variable(d)) for d in entries]), static


def cast_int64(v: Variable) -> Variable:
    from symdl.tensor.elemwise import cast

    if v.dtype not in ("int64", "int32", "int16", "int8", "uint8"):
        raise TypeMismatch(f"shape entries must be integers, got {v.type}")
    return cast(v, "int64")


class Reshape(Op):
    """``np.reshape`` to a symbolic int64 shape vector; ``static`` holds the entries known at build time."""

    view_map = {0: [0]}
    grad_checks_shapes = True

    __props__ = ("ndim", "static")

    def __init__(self, ndim: int, static: tuple[int | None, ...] | None = None):
        self.ndim, self.static = ndim, static

    def make_node(self, x: Any, shape: Any) -> Apply:
        x = as_tensor_variable(x)
        out_shape = list(self.static or (None,) * self.ndim)
        known = [d for d in out_shape if d is not None and d != -1]
        if out_shape.count(-1) > 1:
            raise ShapeError(
                f"reshape: only one dimension can be -1, got {shape_str(self.static)} for {describe(x)} "
                f"of shape {shape_str(x.type.shape)}"
            )
        in_size = math.prod(x.type.shape) if None not in x.type.shape else None
        if -1 in out_shape:
            i = out_shape.index(-1)
            out_shape[i] = None
            if in_size is not None and None not in out_shape[:i] + out_shape[i + 1 :]:
                rest = math.prod(known)
                if rest == 0 or in_size % rest:
                    raise ShapeError(
                        f"reshape: cannot reshape {describe(x)} of shape {shape_str(x.type.shape)} "
                        f"to {shape_str(self.static)}"
                    )
                out_shape[i] = in_size // rest
        elif in_size is not None and None not in out_shape and math.prod(out_shape) != in_size:
            raise ShapeError(
                f"reshape: cannot reshape {describe(x)} of shape {shape_str(x.type.shape)} "
                f"({in_size} elements) to {shape_str(out_shape)}"
            )
        return Apply(self, [x, shape], [TensorType(x.dtype, out_shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, shape = inputs
        try:
            return [np.reshape(x, tuple(int(d) for d in shape))]
        except ValueError:
            target = tuple(int(d) for d in shape)
            raise ShapeError(f"reshape: cannot reshape an array of shape {x.shape} to {target}") from None

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        from symdl.tensor.elemwise import eq, where

        out_type = node.outputs[0].type
        shp = node.inputs[1]
        static = self.static or (None,) * self.ndim
        size: Any = 1
        for d in input_shapes[0]:
            size = size * d
        # The product of the requested entries: minus the product of the others when one is -1.
        requested: Any = 1
        for i in range(self.ndim):
            requested = requested * shp[i]
        out: list[Any] = []
        for i, d in enumerate(out_type.shape):
            if d is not None:
                out.append(d)
            elif static[i] == -1:
                out.append(size // -requested)
            else:
                out.append(where(eq(shp[i], -1), size // -requested, shp[i]))
        return [out]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        x = inputs[0]
        return [reshape(grads[0], shape_tuple(x)), None]

    def __str__(self) -> str:
        return f"reshape{{{self.ndim}}}"


def reshape(x: Any, shape: Any, ndim: int | None = None) -> Variable:
    """``x`` with a new shape (ints, scalars or a vector; one entry may be -1).

    >>> import symdl.tensor as T
    >>> T.reshape(T.matrix(shape=(4, 6)), (2, -1, 3)).type
    float32(2, 4, 3)
    """
    x = as_tensor_variable(x)
    vector, static = _as_shape_vector(shape)
    if ndim is None:
        if vector.type.shape[0] is None:
            raise ValueError("reshape: give ndim= when the shape is a vector of unknown length")
        ndim = vector.type.shape[0]
    if static is not None and None not in static and tuple(x.type.shape) == static:
        return x
    return Reshape(ndim, static)(x, vector)


def flatten(x: Any, ndim: int = 1) -> Variable:
    """Keep the first ``ndim - 1`` axes and merge the rest, as Theano's flatten."""
    x = as_tensor_variable(x)
    if not 1 <= ndim <= builtins.max(x.ndim, 1):
        raise ValueError(f"flatten: ndim must be between 1 and {x.ndim}, got {ndim}")
    lead = shape_tuple(x)[: ndim - 1]
    rest = x.type.shape[ndim - 1 :]
    last = math.prod(rest) if None not in rest else -1
    if last == -1 and not builtins.all(isinstance(d, int) and d > 0 for d in lead):
        # -1 cannot be resolved when a leading dimension is 0 at run time; multiply instead.
        last = 1
        for d in shape_tuple(x)[ndim - 1 :]:
            last = last * d
    return reshape(x, lead + (last,))


class Join(Op):
    """``np.concatenate`` along ``axis``."""

    view_map = {}
    grad_checks_shapes = True

    __props__ = ("axis",)

    def __init__(self, axis: int):
        self.axis = axis

    def make_node(self, *tensors: Any) -> Apply:
        from symdl.tensor.elemwise import _resolve_weak

        tensors = _resolve_weak([as_tensor_variable(t) for t in tensors], "concatenate")
        if not tensors:
            raise ValueError("concatenate needs at least one tensor")
        ndim = tensors[0].ndim
        if ndim == 0:
            raise ShapeError("concatenate: zero-dimensional tensors cannot be concatenated")
        for t in tensors:
            if t.ndim != ndim:
                raise ShapeError(f"concatenate: all inputs need {ndim} dimensions; {describe(t)} has {t.ndim}")
        dtype = str(np.result_type(*[t.dtype for t in tensors]))
        shape: list[int | None] = []
        for i in range(ndim):
            dims = [t.type.shape[i] for t in tensors]
            if i == self.axis:
                shape.append(None if None in dims else builtins.sum(dims))
            else:
                known = {d for d in dims if d is not None}
                if len(known) > 1:
                    raise ShapeError(
                        f"concatenate: inputs differ on axis {i} ({', '.join(shape_str(t.type.shape) for t in tensors)})"
                    )
                shape.append(known.pop() if known else None)
        from symdl.tensor.elemwise import cast

        tensors = [cast(t, dtype) for t in tensors]
        return Apply(self, tensors, [TensorType(dtype, shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [np.concatenate(inputs, axis=self.axis)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        out = list(input_shapes[0])
        total = out[self.axis]
        for shp in input_shapes[1:]:
            total = total + shp[self.axis]
        out[self.axis] = total
        return [out]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        sizes = [shape_i(t, self.axis) for t in inputs]
        parts = split(grads[0], sizes, len(inputs), axis=self.axis)
        return [p if t.type.is_float else None for p, t in zip(parts, inputs)]


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Variable:
    """Join tensors along an existing axis, as ``np.concatenate``."""
    tensors = [as_tensor_variable(t) for t in tensors]
    if len(tensors) == 1:
        return tensors[0]
    ndim = tensors[0].ndim
    from symdl.tensor.reduction import normalize_axis

    axis = normalize_axis(axis, builtins.max(ndim, 1), "concatenate")[0]
    return Join(axis)(*tensors)


join = concatenate


def stack(tensors: Sequence[Any], axis: int = 0) -> Variable:
    """Join tensors along a new axis, as ``np.stack`` (Python scalars are weak, as in arithmetic)."""
    from symdl.tensor.elemwise import _resolve_weak

    tensors = _resolve_weak([as_tensor_variable(t) for t in tensors], "stack")
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    return concatenate([expand_dims(t, axis) for t in tensors], axis=axis)


class Split(Op):
    """Split along ``axis`` into ``n`` pieces whose sizes are an int vector input."""

    __props__ = ("n", "axis")

    def __init__(self, n: int, axis: int):
        self.n, self.axis = n, axis

    def make_node(self, x: Any, sizes: Any) -> Apply:
        x = as_tensor_variable(x)
        sizes = as_tensor_variable(sizes)
        static = [None] * self.n
        if isinstance(sizes, TensorConstant):
            static = [int(s) for s in sizes.data]
            if len(static) != self.n:
                raise ShapeError(f"split: {len(static)} sizes given for {self.n} pieces")
            total = x.type.shape[self.axis]
            if total is not None and builtins.sum(static) != total:
                raise ShapeError(f"split: sizes {static} do not add up to axis {self.axis} of length {total}")
        types = []
        for s in static:
            shp = list(x.type.shape)
            shp[self.axis] = s
            types.append(TensorType(x.dtype, shp))
        return Apply(self, [x, sizes], types)

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        x, sizes = inputs
        if len(sizes) != self.n or sizes.sum() != x.shape[self.axis] or (sizes < 0).any():
            raise ShapeError(f"split: sizes {list(sizes)} do not split axis {self.axis} of shape {x.shape}")
        return np.split(x, np.cumsum(sizes)[:-1], axis=self.axis)

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        out = []
        for i in range(self.n):
            shp = list(input_shapes[0])
            shp[self.axis] = node.inputs[1][i]
            out.append(shp)
        return out

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import zeros_like

        parts = [zeros_like(o) if g is None else g for o, g in zip(outputs, grads)]
        return [concatenate(parts, axis=self.axis), None]


def split(x: Any, splits_size: Any, n_splits: int | None = None, axis: int = 0) -> list[Variable]:
    """Split ``x`` along ``axis`` into pieces of the given sizes (Theano's signature)."""
    x = as_tensor_variable(x)
    from symdl.tensor.reduction import normalize_axis

    axis = normalize_axis(axis, x.ndim, "split", x)[0]
    if isinstance(splits_size, list | tuple):
        n_splits = len(splits_size) if n_splits is None else n_splits
        if builtins.all(isinstance(s, int | np.integer) for s in splits_size):
            sizes = constant(np.array(splits_size, dtype="int64"))
        else:
            sizes = stack([cast_int64(as_tensor_variable(s)) for s in splits_size])
    else:
        sizes = cast_int64(as_tensor_variable(splits_size))
        if n_splits is None:
            n_splits = sizes.type.shape[0]
    if n_splits is None:
        raise ValueError("split: give n_splits when sizes is a vector of unknown length")
    out = Split(n_splits, axis)(x, sizes)
    return out if isinstance(out, list) else [out]


class Repeat(Op):
    """``np.repeat(x, repeats, axis)`` with repeats a scalar or a vector."""

    __props__ = ("axis",)

    def __init__(self, axis: int):
        self.axis = axis

    def make_node(self, x: Any, repeats: Any) -> Apply:
        x = as_tensor_variable(x)
        repeats = cast_int64(as_tensor_variable(repeats))
        shape = list(x.type.shape)
        dim = shape[self.axis]
        if isinstance(repeats, TensorConstant) and dim is not None:
            shape[self.axis] = int(np.sum(np.broadcast_to(repeats.data, (dim,))))
        else:
            shape[self.axis] = None
        return Apply(self, [x, repeats], [TensorType(x.dtype, shape)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        from symdl.tensor.checks import check_size

        x, repeats = inputs
        repeats = np.asarray(repeats)
        # the output's length, exactly (NumPy's own sum overflows and np.repeat then crashes)
        if repeats.ndim == 0:
            length = x.shape[self.axis] * int(repeats)
        elif np.sum(repeats, dtype=np.float64) < 2.0**53:
            length = int(np.sum(repeats))
        else:
            length = sum(int(r) for r in repeats)
        if (repeats >= 0).all():
            check_size(node, x.shape[: self.axis] + (length,) + x.shape[self.axis + 1 :], "repeat")
        return [np.repeat(x, repeats, axis=self.axis)]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import arange, zeros_like
        from symdl.tensor.subtensor import inc_subtensor

        x, repeats = inputs
        index = repeat(arange(shape_i(x, self.axis)), repeats, axis=0)
        key = (slice(None),) * self.axis + (index,)
        return [inc_subtensor(zeros_like(x)[key], grads[0]), None]


def repeat(x: Any, repeats: Any, axis: int | None = None) -> Variable:
    """Repeat elements, as ``np.repeat``; ``axis=None`` repeats the flattened tensor."""
    x = as_tensor_variable(x)
    if axis is None:
        x, axis = flatten(x), 0
    from symdl.tensor.reduction import normalize_axis

    axis = normalize_axis(axis, x.ndim, "repeat", x)[0]
    return Repeat(axis)(x, repeats)


def tile(x: Any, reps: Sequence[int]) -> Variable:
    """Repeat the whole tensor ``reps[i]`` times along each axis, as ``np.tile`` (static reps)."""
    from symdl.tensor.creation import alloc

    x = as_tensor_variable(x)
    reps = (reps,) if isinstance(reps, int | np.integer) else tuple(int(r) for r in reps)
    ndim = builtins.max(x.ndim, len(reps))
    reps = (1,) * (ndim - len(reps)) + reps
    x = dimshuffle(x, ["x"] * (ndim - x.ndim) + list(range(x.ndim)))
    # (r0, d0, r1, d1, ...) by broadcasting, then merge each pair.
    pattern: list[int | str] = []
    for i in range(ndim):
        pattern += ["x", i]
    dims = shape_tuple(x)
    wide = alloc(dimshuffle(x, pattern), *[e for i in range(ndim) for e in (reps[i], dims[i])])
    merged = []
    for i in range(ndim):
        merged.append(reps[i] * dims[i] if isinstance(dims[i], int) else dims[i] * reps[i])
    return reshape(wide, tuple(merged))


class ReduceToShape(Op):
    """Sum a broadcast gradient back to the shape of the tensor that was broadcast.

    Used where the static shapes cannot tell whether an axis was broadcast (an unknown size may
    be 1 at run time).
    """

    view_map = {0: [0]}  # g itself where nothing was broadcast

    __props__ = ("static",)

    def __init__(self, static: tuple[int | None, ...]):
        self.static = tuple(static)

    def make_node(self, g: Any, shape: Any) -> Apply:
        g = as_tensor_variable(g)
        return Apply(self, [g, as_tensor_variable(shape)], [TensorType(g.dtype, self.static)])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        g, shape = inputs
        target = tuple(int(d) for d in shape)
        if g.shape == target:
            return [g]
        lead = g.ndim - len(target)
        axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(target) if d == 1 and g.shape[lead + i] != 1)
        out = g.sum(axis=axes, keepdims=True) if axes else g
        return [out.reshape(target)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        shp = node.inputs[1]
        return [[d if d is not None else shp[i] for i, d in enumerate(self.static)]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.creation import alloc

        return [alloc(grads[0], *shape_tuple(inputs[0])), None]

    def __str__(self) -> str:
        return "reduce_to_shape"


def reduce_to_shape(g: Variable, like: Variable) -> Variable:
    """Sum ``g`` over the axes along which ``like`` was broadcast to make it."""
    return ReduceToShape(like.type.shape)(g, shape(like))


def broadcast_to(x: Any, shape: Sequence[Any]) -> Variable:
    """``x`` broadcast to ``shape``, as ``np.broadcast_to``."""
    from symdl.tensor.creation import alloc

    return alloc(x, *shape)


# ---------------------------------------------------------------- C and CUDA implementations
@register_impl("c", DimShuffle)
def _dimshuffle_in_c(node: Apply, c: Any) -> str:
    order = [-1 if d == "x" else int(d) for d in node.op.new_order]
    return c.call("dimshuffle", c.slot(node.inputs[0]), c.slot(node.outputs[0]), len(order), c.ints(order))


@register_impl("c", Reshape)
def _reshape_in_c(node: Apply, c: Any) -> str | None:
    x, shape = node.inputs
    if not c.has_ctype(shape.dtype) or shape.ndim != 1:
        return None
    return c.call("reshape", c.slot(x), c.slot(shape), c.slot(node.outputs[0]), node.op.ndim)


@register_impl("c", Shape)
def _shape_in_c(node: Apply, c: Any) -> str:
    return c.call("shape", c.slot(node.inputs[0]), c.slot(node.outputs[0]))


@register_impl("c", Join)
def _join_in_c(node: Apply, c: Any) -> str | None:
    if any(i.dtype != node.outputs[0].dtype for i in node.inputs):
        return None
    ins = [c.slot(i) for i in node.inputs]
    return c.call("join", node.op.axis, len(ins), c.ints(ins), c.slot(node.outputs[0]))


@register_impl("c", Split)
def _split_in_c(node: Apply, c: Any) -> str | None:
    x, sizes = node.inputs
    if not c.has_ctype(sizes.dtype) or sizes.dtype == "bool":
        return None
    outs = [c.slot(o) for o in node.outputs]
    return c.call("split", c.slot(x), c.slot(sizes), node.op.axis, len(outs), c.ints(outs))


@register_impl("c", ReduceToShape)
def _reduce_to_shape_in_c(node: Apply, c: Any) -> str | None:
    g, shape = node.inputs
    if not c.has_ctype(g.dtype) or g.dtype == "bool":
        return None
    return c.call("reduce_to_shape", c.slot(g), c.slot(shape), c.slot(node.outputs[0]))


@register_impl("cuda", DimShuffle)
def _dimshuffle_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.view(node, "dimshuffle")


@register_impl("cuda", Reshape)
def _reshape_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.view(node, "reshape")


@register_impl("cuda", Join)
def _join_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.write(node, "join")


@register_impl("cuda", Split)
def _split_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.view(node, "split")


@register_impl("cuda", Shape)
def _shape_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.shape(node)


@register_impl("cuda", ReduceToShape)
def _reduce_to_shape_in_cuda(node: Apply, cuda: Any) -> Any:
    return cuda.reduction(node, "sum", None)
