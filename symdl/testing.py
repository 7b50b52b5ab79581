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


_DEFAULT_EPS = {"float64": 1e-7, "float32": 3e-3, "float16": 1e-1}
_DEFAULT_TOL = {"float64": 1e-4, "float32": 2e-2, "float16": 1e-1}


def symbolic_inputs_like(values: Sequence[np.ndarray], static: bool = False) -> list:
    """Symbolic inputs with each value's dtype and ndim (shapes unknown unless ``static``)."""
    return [
        TensorType(np.asarray(v).dtype, np.shape(v) if static else (None,) * np.ndim(v)).make_variable(f"in{k}")
        for k, v in enumerate(values)
    ]


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

    ``fn`` maps symbolic tensors (one per array in ``pt``) to a symbolic output; the output is
    projected onto a random tensor (as Theano does) to give a scalar cost. The numeric gradient
    is computed in float64 from the same compiled function. Raises GradientError showing the
    analytic and numeric values at the worst index.
    """
    from symdl.compile.function import function
    from symdl.gradient import grad
    from symdl.tensor.var import as_tensor_variable, constant

    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng if rng is not None else 42)
    pt = [np.array(p, dtype=np.asarray(p).dtype if np.asarray(p).dtype.kind == "f" else "float64") for p in pt]
    inputs = symbolic_inputs_like(pt)
    out = as_tensor_variable(fn(*inputs))
    out_value = function(inputs, out, mode=mode, on_unused_input="ignore")(*pt)
    dtype = str(np.result_type(*[p.dtype for p in pt]))
    eps = eps or _DEFAULT_EPS.get(dtype, 1e-7)
    abs_tol = abs_tol if abs_tol is not None else _DEFAULT_TOL.get(dtype, 1e-4)
    rel_tol = rel_tol if rel_tol is not None else _DEFAULT_TOL.get(dtype, 1e-4)
    for _ in range(n_tests):
        projection = rng.uniform(0.5, 1.5, size=np.shape(out_value)).astype(out.dtype)
        cost = (out * constant(projection)).sum()
        cost_fn = function(inputs, cost, mode=mode, on_unused_input="ignore")
        grads = grad(cost, inputs, disconnected_inputs="ignore")
        analytic = function(inputs, grads, mode=mode, on_unused_input="ignore")(*pt)
        for k, (p, g) in enumerate(zip(pt, analytic)):
            numeric = np.zeros(p.shape, dtype="float64")
            for idx in np.ndindex(*p.shape):
                plus = [q.copy() for q in pt]
                minus = [q.copy() for q in pt]
                plus[k][idx] += eps
                minus[k][idx] -= eps
                step = float(plus[k][idx]) - float(minus[k][idx])
                numeric[idx] = (float(cost_fn(*plus)) - float(cost_fn(*minus))) / step
            g = np.asarray(g, dtype="float64")
            if g.shape != numeric.shape:
                raise GradientError(f"gradient of input {k} has shape {g.shape}, expected {numeric.shape}")
            err = np.abs(g - numeric)
            rel = err / np.maximum(np.abs(g) + np.abs(numeric), 1e-8)
            bad = (err > abs_tol) & (rel > rel_tol)
            if bad.any() or not np.all(np.isfinite(g)) and np.all(np.isfinite(numeric)):
                worst = np.unravel_index(int(np.argmax(np.where(bad, rel, -1))), g.shape) if g.ndim else ()
                raise GradientError(
                    f"gradient of input {k} disagrees with finite differences at index {worst}: "
                    f"analytic {g[worst]!r}, numeric {numeric[worst]!r} (abs err {err[worst]:.3g}, "
                    f"rel err {rel[worst]:.3g}; tolerances abs {abs_tol}, rel {rel_tol})\n"
                    f"analytic:\n{g}\nnumeric:\n{numeric}"
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

    Dtypes must match exactly (NumPy's promotion rules are part of the contract).
    """
    from symdl.backends import available
    from symdl.compile.function import function

    values = [np.asarray(v) for v in values]
    inputs = symbolic_inputs_like(values, static=static_shapes)
    outputs = build(*inputs)
    single = not isinstance(outputs, list | tuple)
    outputs = [outputs] if single else list(outputs)
    with np.errstate(all="ignore"):
        expected = reference(*values)
    expected = [expected] if single else list(expected)
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
