"""Loss functions and metrics with Lasagne's names (also importable as ``symdl.losses``).

Each loss returns one value per example (or per element); reduce it with ``.mean()`` or
:func:`aggregate`. Losses are ordinary symbolic expressions: mix them with your own maths.

>>> import numpy as np, symdl, symdl.tensor as T
>>> from symdl import objectives
>>> p, y = T.fmatrix('p'), T.ivector('y')
>>> loss = objectives.categorical_crossentropy(p, y).mean()
>>> acc = objectives.categorical_accuracy(p, y).mean()
>>> f = symdl.function([p, y], [loss, acc])
>>> probs = np.array([[0.9, 0.1], [0.2, 0.8]], 'float32')
>>> [round(float(v), 4) for v in f(probs, np.array([0, 0], 'int32'))]
[0.8574, 0.5]
"""

from __future__ import annotations

from typing import Any

import numpy as np

import symdl.tensor as T
from symdl.config import config

__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "squared_error",
    "huber_loss",
    "aggregate",
    "binary_hinge_loss",
    "multiclass_hinge_loss",
    "binary_accuracy",
    "categorical_accuracy",
]


def _align_targets(predictions: Any, targets: Any) -> tuple[Any, Any]:
    """Lasagne's rule: a column of predictions meets a vector of targets as a column."""
    if (
        getattr(predictions, "ndim", None) == 2
        and getattr(targets, "ndim", None) == 1
        and predictions.type.shape[1] == 1
    ):
        targets = targets.dimshuffle(0, "x")
    return predictions, targets


def binary_crossentropy(predictions: Any, targets: Any) -> Any:
    """``-(t * log(p) + (1 - t) * log(1 - p))`` elementwise, for predictions in (0, 1)
    (a sigmoid output) and targets in [0, 1].

    >>> import numpy as np, symdl.tensor as T
    >>> p, t = T.fvector('p'), T.fvector('t')
    >>> binary_crossentropy(p, t).eval({p: np.array([0.5], 'float32'), t: np.array([1.0], 'float32')})
    array([0.6931472], dtype=float32)
    """
    predictions, targets = _align_targets(T.as_tensor(predictions), T.as_tensor(targets))
    return T.nnet.binary_crossentropy(predictions, targets)


def categorical_crossentropy(predictions: Any, targets: Any) -> Any:
    """``-log(p[target])`` per row of ``predictions`` (a softmax output, one row per example).

    ``targets`` is either a vector of integer class indices or a matrix of target distributions
    (one-hot or soft labels), for which the loss is ``-sum(t * log(p), axis=1)``. When
    ``predictions`` is a softmax output, the loss is built from the logits as one fused op whose
    value and gradient stay finite however confident the network is.
    """
    return T.nnet.categorical_crossentropy(predictions, targets)


def squared_error(a: Any, b: Any) -> Any:
    """``(a - b) ** 2`` elementwise."""
    a, b = _align_targets(T.as_tensor(a), T.as_tensor(b))
    return (a - b) ** 2


def huber_loss(predictions: Any, targets: Any, delta: float = 1) -> Any:
    """Huber loss elementwise: ``0.5 * d ** 2`` where ``d = |targets - predictions| <= delta``,
    ``delta * (d - delta / 2)`` beyond (quadratic near 0, linear for outliers; its gradient is
    bounded by ``delta``).

    >>> import numpy as np, symdl.tensor as T
    >>> p, t = T.fvector('p'), T.fvector('t')
    >>> huber_loss(p, t).eval({p: np.array([0.5, 3.0], 'float32'), t: np.zeros(2, 'float32')})
    array([0.125, 2.5  ], dtype=float32)
    """
    predictions, targets = _align_targets(T.as_tensor(predictions), T.as_tensor(targets))
    diff = abs(targets - predictions)
    return T.switch(diff <= delta, 0.5 * diff**2, delta * (diff - delta / 2))


def aggregate(loss: Any, weights: Any = None, mode: str = "mean") -> Any:
    """Reduce an elementwise loss to a scalar.

    ``mode`` is 'mean', 'sum' or 'normalized_sum' (the weighted sum divided by the sum of the
    weights, which needs ``weights``). ``weights`` multiply the loss elementwise (a mask or
    per-example importance).

    >>> import numpy as np, symdl.tensor as T
    >>> l = T.fvector('l')
    >>> float(aggregate(l, np.array([1, 0, 1], 'float32'), mode='normalized_sum').eval(
    ...     {l: np.array([1, 5, 3], 'float32')}))
    2.0
    """
    if weights is not None:
        loss = loss * weights
    if mode == "mean":
        return loss.mean()
    if mode == "sum":
        return loss.sum()
    if mode == "normalized_sum":
        if weights is None:
            raise ValueError("require weights for mode='normalized_sum'")
        return loss.sum() / T.as_tensor(weights).sum()
    raise ValueError(f"mode must be 'mean', 'sum' or 'normalized_sum', got {mode!r}")


def binary_hinge_loss(
    predictions: Any, targets: Any, delta: float = 1, log_odds: bool | None = None, binary: bool = True
) -> Any:
    """``max(0, delta - t * p)`` with targets in {-1, 1} (or in {0, 1} when ``binary=True``).

    ``predictions`` are log-odds (a linear output) when ``log_odds=True``; otherwise (``False``
    or the default ``None``) they are probabilities in (0, 1), turned into log-odds first.
    """
    predictions, targets = _align_targets(T.as_tensor(predictions), T.as_tensor(targets))
    if not log_odds:
        predictions = T.log(predictions) - T.log1p(-predictions)
    if binary:
        targets = 2 * targets - 1
    return T.maximum(0, delta - targets * predictions)


def multiclass_hinge_loss(predictions: Any, targets: Any, delta: float = 1) -> Any:
    """Crammer-Singer hinge loss ``max(0, max_{j != y} p_j - p_y + delta)`` per row.

    ``targets`` are integer classes or one-hot rows.
    """
    predictions, targets = T.as_tensor(predictions), T.as_tensor(targets)
    if targets.ndim == predictions.ndim - 1:
        is_target = T.eq(T.expand_dims(targets, -1), T.arange(predictions.shape[-1], dtype=targets.dtype))
    elif targets.ndim == predictions.ndim:
        is_target = T.cast(targets, "bool")
    else:
        raise TypeError("rank mismatch between targets and predictions")
    corrects = T.sum(T.switch(is_target, predictions, 0), axis=-1)
    rest = T.max(T.switch(is_target, -np.inf, predictions), axis=-1)
    return T.maximum(0, rest - corrects + delta)


def binary_accuracy(predictions: Any, targets: Any, threshold: float = 0.5) -> Any:
    """1 where ``predictions >= threshold`` matches the binary target, else 0 (floatX)."""
    predictions, targets = _align_targets(T.as_tensor(predictions), T.as_tensor(targets))
    return T.cast(T.eq(predictions >= threshold, T.cast(targets, "bool")), config.floatX)


def categorical_accuracy(predictions: Any, targets: Any, top_k: int = 1) -> Any:
    """1 where the target class is among the ``top_k`` highest predictions of its row, else 0.

    Targets are class indices or one-hot rows. The result is floatX, so ``.mean()`` is the
    accuracy as a float32 scalar.
    """
    predictions, targets = T.as_tensor(predictions), T.as_tensor(targets)
    if targets.ndim == predictions.ndim:
        targets = T.argmax(targets, axis=-1)
    elif targets.ndim != predictions.ndim - 1:
        raise TypeError("rank mismatch between targets and predictions")
    if top_k == 1:
        hit = T.eq(T.argmax(predictions, axis=-1), targets)
    else:
        # The target is in the top k when fewer than k classes score strictly higher.
        rows = T.arange(targets.shape[0])
        target_score = predictions[rows, targets].dimshuffle(0, "x")
        hit = T.sum(T.gt(predictions, target_score), axis=-1) < top_k
    return T.cast(hit, config.floatX)
