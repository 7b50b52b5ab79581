"""Small helpers shared across the package (where the user created a variable), and Lasagne's
``lasagne.utils`` under the same names.

The graph core imports this module, so the Lasagne helpers import ``symdl.tensor`` and friends
inside their bodies: ``import symdl`` stays fast.

>>> import symdl
>>> symdl.utils.floatX([1, 2]).dtype == symdl.config.floatX
True
>>> symdl.utils.as_tuple(3, 2)
(3, 3)
"""

from __future__ import annotations

import functools
import gc
import inspect
import numbers
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


class UserFrame(NamedTuple):
    """The file, line and function of user code that created a variable."""

    filename: str
    lineno: int
    function: str

    def __str__(self) -> str:
        return f"{os.path.basename(self.filename)}:{self.lineno}"


def user_frame() -> UserFrame | None:
    """Return the innermost stack frame outside the symdl package (cheap: no source is read)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR) and not filename.startswith("<frozen"):
            return UserFrame(filename, frame.f_lineno, frame.f_code.co_name)
        frame = frame.f_back
    return None


def describe(var: object) -> str:
    """'name created at file:line' for error messages."""
    name = getattr(var, "name", None) or "a variable"
    trace = getattr(var, "trace", None)
    if trace is None:
        return name
    return f"{name} created at {trace}"


def without_gc(fn: Callable) -> Callable:
    """Run ``fn`` with the cyclic garbage collector paused. Building or rewriting a graph
    allocates many objects and frees few; each collection would rescan the whole graph for
    nothing (a third of the time of a 10,000-node gradient, measured). It runs again afterwards."""

    @functools.wraps(fn)
    def paused(*args, **kwargs):
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return paused


# ---------------------------------------------------------------- Lasagne's utilities
int_types = (numbers.Integral, np.integer)


def floatX(arr: Any) -> np.ndarray:
    """``arr`` as a NumPy array of ``symdl.config.floatX`` (Lasagne's ``lasagne.utils.floatX``)."""
    from symdl.config import config

    return np.asarray(arr, dtype=config.floatX)


def as_tuple(x: Any, N: int, t: type | tuple[type, ...] | None = None) -> tuple:
    """``x`` as a tuple of length ``N``: an iterable is converted (and must have length ``N``),
    anything else repeated ``N`` times; with ``t``, every element must be an instance of ``t``."""
    try:
        X = tuple(x)
    except TypeError:
        X = (x,) * N
    if t is not None and not all(isinstance(v, t) for v in X):
        if t == int_types:
            expected = "int"
        elif isinstance(t, tuple):
            expected = " or ".join(tt.__name__ for tt in t)
        else:
            expected = t.__name__
        raise TypeError(f"expected a single value or an iterable of {expected}, got {x} instead")
    if len(X) != N:
        raise ValueError(f"expected a single value or an iterable with length {N}, got {x} instead")
    return X


def shared_empty(dim: int = 2, dtype: str | None = None) -> Any:
    """A shared variable of ``dim`` dimensions holding one zero (a placeholder to fill with
    ``set_value``; floatX unless ``dtype`` is given).

    >>> shared_empty(3).get_value().shape
    (1, 1, 1)
    """
    from symdl.config import config
    from symdl.sharedvar import shared

    return shared(np.zeros((1,) * dim, dtype=dtype or config.floatX))


def as_theano_expression(input: Any) -> Any:
    """``input`` as a symbolic expression: a variable is returned as is, data (arrays, numbers,
    lists) becomes a constant; anything else raises TypeError.

    >>> as_theano_expression([1, 2]).type
    int64(2,)
    """
    from symdl.graph.basic import Variable
    from symdl.tensor.var import constant

    if isinstance(input, Variable):
        return input
    try:
        return constant(input)
    except Exception as exc:
        raise TypeError(
            f"input of type {type(input).__name__} is not a symbolic expression and cannot be made a constant ({exc})"
        ) from None


def collect_shared_vars(expressions: Any) -> list:
    """The shared variables that ``expressions`` (one or a list) depend on, each once, in the
    order a left-to-right depth-first walk meets them.

    >>> import symdl
    >>> x, y = symdl.shared(1.0, name='x'), symdl.shared(2.0, name='y')
    >>> collect_shared_vars([y * x, x + 1])
    [y, x]
    """
    from symdl.graph.basic import Variable

    roots = [expressions] if isinstance(expressions, Variable) else list(expressions)
    found: list = []
    seen: set[int] = set()
    # Iterative, so that very deep graphs do not hit the recursion limit.
    stack = list(reversed(roots))
    while stack:
        var = stack.pop()
        if id(var) in seen:
            continue
        seen.add(id(var))
        if getattr(var, "is_shared", False):
            found.append(var)
        elif var.owner is not None:
            stack.extend(reversed(var.owner.inputs))
    return found


def one_hot(x: Any, m: Any = None) -> Any:
    """Rows of ``m`` floatX zeros with a one at each integer of ``x`` (``m`` defaults to
    ``max(x) + 1``).

    >>> import numpy as np
    >>> one_hot(np.array([2, 0])).eval()
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """
    import symdl.tensor as T

    x = T.as_tensor_variable(x)
    if m is None:
        m = T.max(x) + 1
    return T.one_hot(x, m)


def unique(items: Iterable) -> list:
    """The items in their first order, each once.

    >>> unique([3, 1, 3, 2, 1])
    [3, 1, 2]
    """
    seen: set = set()
    result = []
    for item in items:
        if item not in seen:
            seen.add(item)
            result.append(item)
    return result


def norm_axes_for(ndim: int, norm_axes: Sequence[int] | None = None) -> tuple[int, ...]:
    """The axes a weight's norm runs over, as Lasagne's ``compute_norms`` and ``norm_constraint``:
    ``norm_axes`` if given; else none for a vector, axis 0 for a dense weight (each unit's incoming
    weights), all but the first for 3- to 5-d filters (each filter)."""
    if norm_axes is not None:
        return tuple(norm_axes)
    if ndim == 1:
        return ()
    if ndim == 2:
        return (0,)
    if ndim in (3, 4, 5):
        return tuple(range(1, ndim))
    raise ValueError(f"Unsupported tensor dimensionality {ndim}: give norm_axes explicitly")


def compute_norms(array: Any, norm_axes: Sequence[int] | None = None) -> Any:
    """The L2 norms of ``array`` (a NumPy array, or a symbolic tensor) over ``norm_axes`` (see
    :func:`norm_axes_for` for the default); NumPy in, NumPy out of the same dtype.

    >>> import numpy as np
    >>> compute_norms(np.array([[3.0, 1.0], [4.0, 0.0]], 'float32'))
    array([5., 1.], dtype=float32)
    """
    from symdl.graph.basic import Variable

    if isinstance(array, Variable):
        import symdl.tensor as T

        return T.sqrt(T.sum(T.sqr(array), axis=norm_axes_for(array.ndim, norm_axes)))
    if isinstance(array, np.ndarray):
        return np.sqrt(np.sum(array**2, axis=norm_axes_for(array.ndim, norm_axes)))
    raise RuntimeError(f"Unsupported type {type(array).__name__}: give a NumPy array or a symbolic tensor")


def create_param(spec: Any, shape: Iterable[int], name: str | None = None) -> Any:
    """A parameter of ``shape`` from ``spec`` (Lasagne's ``create_param``).

    ``spec`` is a shared variable or another symbolic expression (used as is: layers can share
    weights or compute them), a NumPy array or number (stored in a new shared variable, its
    dtype kept), or a callable taking the shape and returning one of those (an initializer of
    ``symdl.init``). A new shared variable has the shape as its static shape: parameters never
    change shape, and knowing it lets the compiler fuse and plan. Raises ValueError for a
    non-positive shape or a value of the wrong shape or ndim, TypeError for anything else.

    >>> from symdl import init
    >>> W = create_param(init.Constant(1.0), (2, 3), 'W')
    >>> W.type, W.name
    (float32(2, 3), 'W')
    """
    from symdl.graph.basic import Variable

    shape = tuple(shape)
    label = f"parameter {name!r}" if name else "a parameter"
    if any(d <= 0 for d in shape):
        raise ValueError(f"cannot create {label} with a non-positive shape {shape}")
    origin = "the value"
    if callable(spec) and not isinstance(spec, Variable):
        spec = spec(shape)
        origin = "the value returned by the callable"
    if isinstance(spec, numbers.Number | np.generic):
        spec = np.asarray(spec)
    if isinstance(spec, np.ndarray):
        if spec.shape != shape:
            raise ValueError(f"cannot create {label}: {origin} has shape {spec.shape}, expected {shape}")
        from symdl.sharedvar import shared

        return shared(spec, name=name, shape=shape)
    if isinstance(spec, Variable):
        return _check_param_expression(spec, shape, name, label, origin)
    if "callable" in origin:
        raise TypeError(
            f"cannot create {label}: {origin} is a {type(spec).__name__}, not a NumPy array or a symbolic expression"
        )
    raise TypeError(
        f"cannot create {label} from a {type(spec).__name__}: give a NumPy array, a symbolic expression "
        "(a shared variable) or a callable such as an initializer of symdl.init"
    )


def _check_param_expression(spec: Any, shape: tuple, name: str | None, label: str, origin: str) -> Any:
    ndim = getattr(spec, "ndim", None)
    if ndim != len(shape):
        raise ValueError(f"cannot create {label}: {origin} has {ndim} dimensions, expected {len(shape)} for {shape}")
    static = tuple(getattr(spec.type, "shape", ()))
    if getattr(spec, "is_shared", False):
        static = spec.get_value(borrow=True).shape
    if any(s is not None and s != d for s, d in zip(static, shape)):
        raise ValueError(f"cannot create {label}: {origin} has shape {static}, expected {shape}")
    if not spec.name:
        spec.name = name
    return spec


def unroll_scan(
    fn: Callable,
    sequences: Any,
    outputs_info: Sequence[Any],
    non_sequences: Sequence[Any],
    n_steps: int,
    go_backwards: bool = False,
) -> list:
    """A loop of ``n_steps`` known in advance, unrolled into one graph (Lasagne's ``unroll_scan``):
    step ``i`` calls ``fn(*[s[i] for s in sequences], *previous_outputs, *non_sequences)``,
    starting from ``outputs_info``. Returns one tensor per output, the steps stacked on axis 0.

    >>> import numpy as np, symdl.tensor as T
    >>> a = T.dscalar('a')
    >>> powers, = unroll_scan(lambda i, prev, a: prev * a, T.arange(3), [1.0], [a], 3)
    >>> powers.eval({a: 2.0})
    array([2., 4., 8.])
    """
    import symdl.tensor as T

    if not isinstance(sequences, list | tuple):
        sequences = [sequences]
    steps = range(n_steps - 1, -1, -1) if go_backwards else range(n_steps)
    previous = list(outputs_info)
    per_step = []
    for i in steps:
        out = fn(*[s[i] for s in sequences], *previous, *non_sequences)
        previous = list(out) if isinstance(out, list | tuple) else [out]
        per_step.append(previous)
    return [T.stack([step[k] for step in per_step]) for k in range(len(per_step[0]))]


def inspect_kwargs(func: Callable) -> list[str]:
    """The names of ``func``'s arguments that have defaults, in order.

    >>> inspect_kwargs(lambda a, b=1, *args, c=2, **kwargs: 0)
    ['b', 'c']
    """
    return [p.name for p in inspect.signature(func).parameters.values() if p.default is not p.empty]
