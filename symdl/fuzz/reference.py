"""NumPy reference implementations of the ops NumPy lacks (the fuzzer's oracle; independent of symdl).

Each function follows symdl's documented semantics for the op (Theano's where NumPy has no
equivalent) and is written from its definition, never by calling symdl's own ``perform``.

>>> import numpy as np
>>> float(sigmoid(np.float64(0.0)))
0.5
>>> pool_2d(np.arange(16.0).reshape(1, 1, 4, 4), (2, 2), True, (2, 2), (0, 0), "max")[0, 0]
array([[ 5.,  7.],
       [13., 15.]])
"""

from __future__ import annotations

import numpy as np
from scipy import special


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, 1 / (1 + exp(-x)); dtype as NumPy's exp (float16 for bool, float64 for int32)."""
    return special.expit(x).astype(np.result_type(x, np.float16))


def erf(x: np.ndarray) -> np.ndarray:
    """The error function; dtype as NumPy's exp (float16 for bool, float64 for int32)."""
    return special.erf(x).astype(np.result_type(x, np.float16))


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)), stable for large |x|."""
    return np.logaddexp(np.zeros((), np.result_type(x, np.float16)), x)


def _shift(x: np.ndarray, axis) -> np.ndarray:
    """The maximum along ``axis`` where it is finite, else 0 (symdl's stabilising shift: with an
    infinite entry the result is NaN there and 0 elsewhere, rather than NaN everywhere)."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(m), m, 0).astype(x.dtype)


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis``, shifted by the finite maximum."""
    e = np.exp(x - _shift(x, axis))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """log(softmax(x)) computed as x - logsumexp(x)."""
    shifted = x - _shift(x, axis)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def logsumexp(x: np.ndarray, axis, keepdims: bool) -> np.ndarray:
    """log(sum(exp(x))) along ``axis``, shifted by the (finite) maximum; float results of x's float dtype.

    Over an empty axis it raises ValueError, as symdl's does (its shift is the maximum, which NumPy
    refuses to take of nothing) where SciPy's gives -inf.
    """
    x = np.asarray(x)
    x = x if x.dtype.kind == "f" else x.astype(np.result_type(x.dtype, np.float16))  # exp(x)'s dtype
    np.max(x, axis=axis)  # raises on an empty axis
    m = _shift(x, axis)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis) if axis is not None else out.reshape(())
    return out


def dimshuffle(x: np.ndarray, pattern: tuple) -> np.ndarray:
    """Theano's dimshuffle: keep the listed axes in order, 'x' inserts a size-1 axis, dropped axes must be 1."""
    kept = [p for p in pattern if p != "x"]
    dropped = tuple(a for a in range(x.ndim) if a not in kept)
    y = np.squeeze(x, axis=dropped) if dropped else x
    order = sorted(kept)
    y = np.transpose(y, [order.index(p) for p in kept])
    shape = list(y.shape)
    for k, p in enumerate(pattern):
        if p == "x":
            shape.insert(k, 1)
    return y.reshape(shape)


def flatten(x: np.ndarray, ndim: int) -> np.ndarray:
    """Keep the first ``ndim - 1`` axes and merge the rest."""
    return x.reshape(x.shape[: ndim - 1] + (int(np.prod(x.shape[ndim - 1 :])),))  # not -1: size 0 is fine


def inc_subtensor(x: np.ndarray, index: tuple, y: np.ndarray) -> np.ndarray:
    """A copy of ``x`` with ``y`` added at ``index``, repeated indices accumulating."""
    out = x.copy()
    np.add.at(out, index, y)
    return out


def set_subtensor(x: np.ndarray, index: tuple, y: np.ndarray) -> np.ndarray:
    """A copy of ``x`` with ``y`` written at ``index``."""
    out = x.copy()
    out[index] = y
    return out


def _pad_hw(x: np.ndarray, pads: tuple, fill: float = 0.0) -> np.ndarray:
    (pt, pb), (pl, pr) = pads
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=fill)


def conv2d(x: np.ndarray, w: np.ndarray, border_mode, subsample: tuple, filter_flip: bool) -> np.ndarray:
    """Direct 2-d convolution of (batch, channels, rows, cols) by (out, channels, kr, kc), Theano's conventions."""
    kr, kc = w.shape[2:]
    if border_mode == "valid":
        pads = ((0, 0), (0, 0))
    elif border_mode == "full":
        pads = ((kr - 1, kr - 1), (kc - 1, kc - 1))
    elif border_mode == "half":
        pads = ((kr // 2, kr // 2), (kc // 2, kc // 2))
    else:
        pads = ((border_mode[0], border_mode[0]), (border_mode[1], border_mode[1]))
    if filter_flip:
        w = w[:, :, ::-1, ::-1]
    xp = _pad_hw(x, pads)
    sr, sc = subsample
    rows = (xp.shape[2] - kr) // sr + 1
    cols = (xp.shape[3] - kc) // sc + 1
    dtype = np.result_type(x, w)
    out = np.zeros((x.shape[0], w.shape[0], max(rows, 0), max(cols, 0)), dtype=dtype)
    for i in range(max(rows, 0)):
        for j in range(max(cols, 0)):
            patch = xp[:, :, i * sr : i * sr + kr, j * sc : j * sc + kc]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return out


def pool_2d(x: np.ndarray, ws: tuple, ignore_border: bool, stride: tuple, pad: tuple, mode: str) -> np.ndarray:
    """Pooling over the last two axes with Theano's ``pool_2d`` conventions."""
    lead = x.shape[:-2]
    x4 = x.reshape((-1, 1) + x.shape[-2:])
    h, w = x4.shape[2] + 2 * pad[0], x4.shape[3] + 2 * pad[1]
    counts = np.pad(np.ones(x4.shape[2:]), ((pad[0], pad[0]), (pad[1], pad[1])))
    fill = -np.inf if mode == "max" else 0.0
    xp = _pad_hw(x4, ((pad[0], pad[0]), (pad[1], pad[1])), fill)
    sizes = []
    for n, k, s in ((h, ws[0], stride[0]), (w, ws[1], stride[1])):
        if ignore_border:
            sizes.append(max((n - k) // s + 1, 0))
        else:
            sizes.append((n - 1) // s + 1 if s >= k else max(0, (n - 1 - k + s) // s) + 1)
    out = np.zeros(x4.shape[:2] + tuple(sizes), dtype=x.dtype)
    for i in range(sizes[0]):
        for j in range(sizes[1]):
            rs, cs = slice(i * stride[0], i * stride[0] + ws[0]), slice(j * stride[1], j * stride[1] + ws[1])
            win = xp[:, :, rs, cs]
            if mode == "max":
                out[:, :, i, j] = np.max(win, axis=(2, 3))
            elif mode == "sum":
                out[:, :, i, j] = np.sum(win, axis=(2, 3))
            elif mode == "average_inc_pad":
                out[:, :, i, j] = np.sum(win, axis=(2, 3)) / (ws[0] * ws[1])
            else:
                out[:, :, i, j] = np.sum(win, axis=(2, 3)) / np.sum(counts[rs, cs])
    return out.reshape(lead + out.shape[2:])
