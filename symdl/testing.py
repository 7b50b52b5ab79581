"""Test helpers: numerical gradient checks and comparison of every backend with NumPy.

>>> import numpy as np, symdl.tensor as T
>>> from symdl.testing import verify_grad
>>> verify_grad(lambda x: T.tanh(x) * 3, [np.array([0.1, -0.4, 2.0])])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from symdl.tensor.type import TensorType


class GradientError(AssertionError):
    """The analytic gradient disagrees with finite differences."""


# Finite-difference step and tolerances by the least precise float dtype in the checked graph.
_DEFAULT_EPS = {"float64": 1e-7, "float32": 3e-3, "float16": 1e-1}
_DEFAULT_TOL = {"float64": 1e-4, "float32": 2e-2, "float16": 1e-1}
_PRECISION_ORDER = ("float16", "float32", "float64")


def symbolic_inputs_like(values: Sequence[np.ndarray], static: bool = False) -> list:
    """Symbolic inputs with each value's dtype and ndim (shapes unknown unless ``static``)."""
    return [
        TensorType(np.asarray(v).dtype, np.shape(v) if static else (None,) * np.ndim(v)).make_variable(f"in{k}")
        for k, v in enumerate(values)
    ]


def _working_dtype(inputs: Sequence[Any], output: Any) -> str:
    """The least precise float dtype among the graph's variables (it sets eps and tolerances)."""
    from symdl.graph.basic import toposort

    dtypes = {v.dtype for v in inputs} | {output.dtype}
    for node in toposort([output]):
        dtypes.update(getattr(v, "dtype", None) for v in node.outputs)
    return next((d for d in _PRECISION_ORDER if d in dtypes), "float64")


def _index_str(index: tuple) -> str:
    return "(" + ", ".join(str(int(i)) for i in index) + ("," if len(index) == 1 else "") + ")"


def verify_grad(
    fn: Callable[..., Any],
    pt: Sequence[Any],
    n_tests: int = 2,
    rng: np.random.Generator | int | None = None,
    eps: float | None = None,
    abs_tol: float | None = None,
    rel_tol: float | None = None,
    mode: str | None = None,
) -> None:
    """Check ``symdl.grad`` of ``fn`` at the point ``pt`` against central finite differences.

    ``fn`` maps symbolic tensors (one per array in ``pt``, with its dtype and ndim, shapes
    unknown) to a symbolic output. As in Theano, the output is projected onto a random tensor
    (uniform in [0.5, 1.5)) to give a scalar cost, ``n_tests`` times. The numeric gradient is
    ``(cost(x + eps) - cost(x - eps)) / (2 eps)`` per element, accumulated in float64; ``eps`` and
    the tolerances default by the least precise float dtype in the graph. An element fails when
    both its absolute and its relative error exceed their tolerances; GradientError then shows
    the input, the worst index, the analytic and numeric values there, and both gradients.

    Pick points away from kinks and discontinuities (``abs`` at 0, ``floor`` at integers).

    >>> import numpy as np, symdl.tensor as T
    >>> from symdl.testing import verify_grad
    >>> verify_grad(lambda x, y: T.sum(x * y, axis=0), [np.ones((2, 3)), np.arange(6.0).reshape(2, 3)])
    """
    from symdl.compile.function import function
    from symdl.gradient import grad
    from symdl.tensor.var import as_tensor_variable

    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng if rng is not None else 42)
    pt = [np.array(p, dtype=np.asarray(p).dtype if np.asarray(p).dtype.kind == "f" else "float64") for p in pt]
    inputs = symbolic_inputs_like(pt)
    out = as_tensor_variable(fn(*inputs))
    if not out.type.is_float:
        raise TypeError(f"verify_grad: fn must return a float tensor, got {out.type}")
    dtype = _working_dtype(inputs, out)
    eps = eps or _DEFAULT_EPS[dtype]
    abs_tol = abs_tol if abs_tol is not None else _DEFAULT_TOL[dtype]
    rel_tol = rel_tol if rel_tol is not None else _DEFAULT_TOL[dtype]

    projection = TensorType(out.dtype, (None,) * out.ndim).make_variable("projection")
    cost = (out * projection).sum()
    grads = grad(cost, inputs, disconnected_inputs="ignore")
    cost_fn = function([*inputs, projection], cost, mode=mode, on_unused_input="ignore")
    grad_fn = function([*inputs, projection], grads, mode=mode, on_unused_input="ignore")
    out_shape = np.shape(function(inputs, out, mode=mode, on_unused_input="ignore")(*pt))
    for _ in range(n_tests):
        r = rng.uniform(0.5, 1.5, size=out_shape).astype(out.dtype)
        analytic = grad_fn(*pt, r)
        for k, (p, g) in enumerate(zip(pt, analytic)):
            numeric = np.zeros(p.shape, dtype="float64")
            for idx in np.ndindex(*p.shape):
                plus = [q.copy() for q in pt]
                minus = [q.copy() for q in pt]
                plus[k][idx] += eps
                minus[k][idx] -= eps
                step = float(plus[k][idx]) - float(minus[k][idx])
                numeric[idx] = (float(cost_fn(*plus, r)) - float(cost_fn(*minus, r))) / step
            g = np.asarray(g, dtype="float64")
            if g.shape != numeric.shape:
                raise GradientError(f"verify_grad: the gradient of input {k} has shape {g.shape}, expected {p.shape}")
            _compare(k, g, numeric, abs_tol, rel_tol)


def _compare(k: int, analytic: np.ndarray, numeric: np.ndarray, abs_tol: float, rel_tol: float) -> None:
    with np.errstate(invalid="ignore"):
        err = np.abs(analytic - numeric)
        rel = err / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-8)
    bad = (err > abs_tol) & (rel > rel_tol)
    # A non-finite analytic value where finite differences are finite is an error too.
    bad |= ~np.isfinite(analytic) & np.isfinite(numeric)
    if not bad.any():
        return
    score = np.where(bad, np.nan_to_num(rel, nan=np.inf), -1.0)
    worst = np.unravel_index(int(np.argmax(score)), analytic.shape) if analytic.ndim else ()
    with np.printoptions(precision=6, threshold=200, edgeitems=4):
        raise GradientError(
            f"verify_grad: the gradient of input {k} disagrees with finite differences at {int(bad.sum())} of "
            f"{bad.size} elements; worst at index {_index_str(worst)}: analytic {analytic[worst]:.9g}, "
            f"numeric {numeric[worst]:.9g} (abs err {err[worst]:.3g}, rel err {rel[worst]:.3g}; "
            f"tolerances abs {abs_tol:g}, rel {rel_tol:g})\nanalytic:\n{analytic}\nnumeric:\n{numeric}"
        )


def compare_with_numpy(
    build: Callable[..., Any],
    reference: Callable[..., Any],
    values: Sequence[Any],
    backends: Sequence[str] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    static_shapes: bool = False,
) -> None:
    """Compile ``build`` on each backend and compare its outputs with ``reference(*values)``.

    Dtypes must match exactly (NumPy's promotion rules are part of the contract), and so must the
    types the graph infers before running: dtype, ndim and every static dimension.
    """
    from symdl.backend import available
    from symdl.compile.function import function

    values = [np.asarray(v) for v in values]
    inputs = symbolic_inputs_like(values, static=static_shapes)
    outputs = build(*inputs)
    single = not isinstance(outputs, list | tuple)
    outputs = [outputs] if single else list(outputs)
    with np.errstate(all="ignore"):
        expected = reference(*values)
    expected = [expected] if single else list(expected)
    for k, (out, e) in enumerate(zip(outputs, expected)):
        # The types inferred at build time must be what NumPy computes: dtype, ndim, static dims.
        e = np.asarray(e)
        if hasattr(out, "type"):
            assert out.dtype == e.dtype and out.ndim == e.ndim, (
                f"output {k}: the graph's type is {out.type} (dtype {out.dtype}); NumPy's result has "
                f"dtype {e.dtype}, shape {e.shape}"
            )
            assert all(s is None or s == d for s, d in zip(out.type.shape, e.shape)), (
                f"output {k}: static shape {out.type.shape}, NumPy's {e.shape}"
            )
    for backend in backends or available():
        fn = function(inputs, outputs, mode=backend, on_unused_input="ignore")
        got = fn(*values)
        for k, (g, e) in enumerate(zip(got, expected)):
            e = np.asarray(e)
            assert g.shape == e.shape, f"{backend}: output {k} shape {g.shape} != NumPy's {e.shape}"
            assert g.dtype == e.dtype, f"{backend}: output {k} dtype {g.dtype} != NumPy's {e.dtype}"
            tol = 1e-5 if g.dtype in (np.float32, np.complex64) else 1e-11
            np.testing.assert_allclose(
                g, e, rtol=rtol or tol, atol=atol if atol is not None else tol, err_msg=f"{backend}: output {k}"
            )


def compare_with_numpy_both_ways(
    build: Callable[..., Any],
    reference: Callable[..., Any],
    values: Sequence[Any],
    backends: Sequence[str] | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    statics: Sequence[bool] = (False, True),
) -> None:
    """``compare_with_numpy`` with the inputs' shapes unknown, then known: the second shows that
    every static output dimension the graph infers is NumPy's."""
    for static in statics:
        compare_with_numpy(build, reference, values, backends, rtol, atol, static_shapes=static)
