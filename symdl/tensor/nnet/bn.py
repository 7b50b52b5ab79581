"""Batch normalization (Theano's ``batch_normalization_train`` / ``_test`` signatures), built
from elementwise ops and reductions so gradients and fusion come for free.

>>> import numpy as np, symdl.tensor as T
>>> x = T.dmatrix('x')
>>> gamma, beta = T.dvector('gamma'), T.dvector('beta')
>>> out, mean, invstd = batch_normalization_train(x, gamma, beta, axes=(0,), epsilon=0.0)
>>> out.eval({x: np.array([[1.0, 2.0], [3.0, 6.0]]), gamma: np.ones(2), beta: np.zeros(2)})
array([[-1., -1.],
       [ 1.,  1.]])
"""

from __future__ import annotations

from typing import Any

from symdl.errors import ShapeError
from symdl.graph.basic import Variable
from symdl.tensor import elemwise as ew
from symdl.tensor import reduction as red
from symdl.tensor.var import as_tensor_variable
from symdl.utils import describe


def _axes(axes: Any, ndim: int, x: Variable) -> tuple[int, ...]:
    if axes == "per-activation":
        return (0,)
    if axes == "spatial":
        return (0,) + tuple(range(2, ndim))
    return red.normalize_axis(axes, ndim, "batch_normalization", x)


def _param(p: Any, x: Variable, axes: tuple[int, ...], name: str) -> tuple[Variable, bool]:
    """``p`` in the broadcastable (keepdims) layout, and whether it came in the reduced one."""
    from symdl.tensor.shape import dimshuffle

    p = as_tensor_variable(p)
    if p.ndim == x.ndim:
        for a in axes:
            if p.type.shape[a] not in (1, None):
                raise ShapeError(
                    f"batch_normalization: {name} {p.type} ({describe(p)}) must have size 1 on the normalized axis {a}"
                )
        return p, False
    kept = x.ndim - len(axes)
    if p.ndim != kept:
        raise ShapeError(
            f"batch_normalization: {name} must have {kept} dimensions (the axes of {x.type} not in {axes}) or "
            f"{x.ndim} (broadcastable), got {p.type} ({describe(p)})"
        )
    pattern: list[int | str] = []
    k = 0
    for i in range(x.ndim):
        if i in axes:
            pattern.append("x")
        else:
            pattern.append(k)
            k += 1
    return dimshuffle(p, pattern), True


def _like_param(v: Variable, reduced: bool, axes: tuple[int, ...]) -> Variable:
    from symdl.tensor.shape import dimshuffle

    if not reduced:
        return v
    return dimshuffle(v, [i for i in range(v.ndim) if i not in axes])


def batch_normalization_train(
    inputs: Any,
    gamma: Any,
    beta: Any,
    axes: Any = "per-activation",
    epsilon: float = 1e-4,
    running_average_factor: float = 0.1,
    running_mean: Any = None,
    running_var: Any = None,
) -> tuple:
    """Normalize ``inputs`` with the statistics of this batch, then scale and shift.

    ``out = (inputs - mean) * gamma / sqrt(var + epsilon) + beta`` where ``mean`` and the biased
    ``var`` are taken over ``axes``: 'per-activation' (axis 0: dense layers), 'spatial' (axes 0, 2,
    3, ...: conv layers) or a tuple of axes. ``gamma`` and ``beta`` may be given without the
    normalized axes (``(C,)`` for NCHW with 'spatial') or broadcastable (``(1, C, 1, 1)``).

    Returns ``(out, mean, invstd)`` as Theano, where ``invstd = 1 / sqrt(var + epsilon)``; ``mean``
    and ``invstd`` have ``gamma``'s layout. With ``running_mean`` and/or ``running_var`` it also
    returns their updated values ``running * (1 - factor) + batch * factor`` (the variance
    unbiased by ``m / (m - 1)`` for ``m`` elements per statistic, as Theano and PyTorch), in that
    order, for use in ``updates``.
    """
    x = as_tensor_variable(inputs)
    ax = _axes(axes, x.ndim, x)
    g, reduced = _param(gamma, x, ax, "gamma")
    b, _ = _param(beta, x, ax, "beta")
    mu = red.mean(x, ax, keepdims=True)
    centred = x - mu
    variance = red.mean(ew.sqr(centred), ax, keepdims=True)
    invstd = 1 / ew.sqrt(variance + epsilon)
    out = centred * (g * invstd) + b
    results = [out, _like_param(mu, reduced, ax), _like_param(invstd, reduced, ax)]
    if running_mean is not None:
        rm = as_tensor_variable(running_mean)
        batch_mean = mu if rm.ndim == x.ndim else _like_param(mu, True, ax)
        results.append(rm * (1 - running_average_factor) + batch_mean * running_average_factor)
    if running_var is not None:
        rv = as_tensor_variable(running_var)
        m = ew.cast(red.count(x, ax), x.dtype)
        unbiased = variance * (m / ew.maximum(m - 1, 1))
        batch_var = unbiased if rv.ndim == x.ndim else _like_param(unbiased, True, ax)
        results.append(rv * (1 - running_average_factor) + batch_var * running_average_factor)
    return tuple(results)


def batch_normalization_test(
    inputs: Any,
    gamma: Any,
    beta: Any,
    mean: Any,
    var: Any,
    axes: Any = "per-activation",
    epsilon: float = 1e-4,
) -> Variable:
    """Normalize with given statistics (running averages at inference time):
    ``(inputs - mean) * gamma / sqrt(var + epsilon) + beta``; parameters in either layout.

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dtensor4('x')
    >>> out = batch_normalization_test(x, np.ones(2), np.zeros(2), np.ones(2), np.full(2, 4.0), 'spatial', 0.0)
    >>> out.eval({x: np.full((1, 2, 1, 1), 3.0)}).ravel()
    array([1., 1.])
    """
    x = as_tensor_variable(inputs)
    ax = _axes(axes, x.ndim, x)
    g, _ = _param(gamma, x, ax, "gamma")
    b, _ = _param(beta, x, ax, "beta")
    mu, _ = _param(mean, x, ax, "mean")
    v, _ = _param(var, x, ax, "var")
    return (x - mu) * (g / ew.sqrt(v + epsilon)) + b


def batch_normalization(inputs: Any, gamma: Any, beta: Any, mean: Any, std: Any, mode: str = "low_mem") -> Variable:
    """Theano's elementwise form ``(inputs - mean) * (gamma / std) + beta``, all broadcast."""
    if mode not in ("low_mem", "high_mem"):
        raise ValueError(f"batch_normalization: mode must be 'low_mem' or 'high_mem', got {mode!r}")
    return (as_tensor_variable(inputs) - mean) * (as_tensor_variable(gamma) / std) + beta


__all__ = ["batch_normalization", "batch_normalization_test", "batch_normalization_train"]
