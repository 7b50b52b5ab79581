"""Activations, the softmax family and cross-entropies.

Activations are compositions of elementwise ops, so fusion and every backend get them for free.
Softmax, log-softmax and the cross-entropies are ops of their own with a stable ``perform``
(the maximum is subtracted first) and gradients built from elementwise ops and reductions.

>>> import numpy as np, symdl.tensor as T
>>> from symdl.tensor.nnet import softmax
>>> x = T.dmatrix('x')
>>> softmax(x).eval({x: np.array([[1e4, 0.0]])})
array([[1., 0.]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from symdl.config import config
from symdl.errors import ShapeError, TypeMismatch
from symdl.graph.basic import Apply, Op, Variable
from symdl.tensor import elemwise as ew
from symdl.tensor.reduction import normalize_axis
from symdl.tensor.reduction import sum as tsum
from symdl.tensor.type import TensorType, shape_str
from symdl.tensor.var import as_tensor_variable
from symdl.utils import UserFrame, describe

sigmoid = ew.sigmoid
softplus = ew.softplus


def _as_float(x: Any) -> Variable:
    x = as_tensor_variable(x)
    return x if x.type.is_float else ew.cast(x, config.floatX)


# ---------------------------------------------------------------- activations
def relu(x: Any, alpha: float = 0.0) -> Variable:
    """Rectified linear unit ``max(x, 0)``; with ``alpha`` the leaky form ``max(x, alpha * x)``.

    The gradient at exactly 0 is 0 (as PyTorch's).

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> relu(x).eval({x: np.array([-1.0, 0.0, 2.0])})
    array([0., 0., 2.])
    """
    if alpha:
        return leaky_relu(x, alpha)
    # maximum sends the gradient of a tie to its first argument: the constant 0 here.
    return ew.maximum(0, _as_float(x))


def leaky_relu(x: Any, alpha: float = 0.01) -> Variable:
    """``x`` where positive, ``alpha * x`` elsewhere (gradient ``alpha`` at 0)."""
    x = _as_float(x)
    return ew.where(ew.gt(x, 0), x, alpha * x)


def elu(x: Any, alpha: float = 1.0) -> Variable:
    """Exponential linear unit: ``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere.

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> elu(x).eval({x: np.array([-1.0, 2.0])}).round(4)
    array([-0.6321,  2.    ])
    """
    x = _as_float(x)
    # exp of min(x, 0) never overflows, so the branch not taken cannot poison the gradient.
    return ew.where(ew.gt(x, 0), x, alpha * ew.expm1(ew.minimum(x, 0)))


SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def selu(x: Any) -> Variable:
    """Scaled ELU (Klambauer et al. 2017): ``scale * elu(x, alpha)`` with the self-normalising constants."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def softsign(x: Any) -> Variable:
    """``x / (1 + |x|)``."""
    x = _as_float(x)
    return x / (1 + ew.abs(x))


def hard_sigmoid(x: Any) -> Variable:
    """Theano's piecewise-linear sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``."""
    x = _as_float(x)
    return ew.clip(0.2 * x + 0.5, 0, 1)


def xlogy(x: Any, y: Any) -> Variable:
    """``x * log(y)``, 0 where ``x == 0`` (even where ``y == 0``), with a gradient that is finite there."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    nonzero = ew.neq(x, 0)
    return x * ew.log(ew.where(nonzero, y, 1))


# ---------------------------------------------------------------- softmax family
def _softmax_np(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # initial: an empty axis gives an empty result
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
    e = np.exp(x - m)
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def _log_softmax_np(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype, copy=False)
    shifted = x - m
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


class Softmax(Op):
    """``exp(x) / sum(exp(x), axis)``, computed after subtracting the maximum along ``axis``.

    Gradient: ``sm * (g - sum(g * sm, axis))`` where ``sm`` is the output.
    """

    view_map = {}

    __props__ = ("axis",)

    def __init__(self, axis: int):
        self.axis = axis
        self.name = "softmax"

    def make_node(self, x: Any) -> Apply:
        x = _as_float(x)
        if x.ndim == 0:
            raise ShapeError(f"softmax needs at least a 1-d tensor, got a scalar ({describe(x)})")
        if not 0 <= self.axis < x.ndim:
            raise ShapeError(f"softmax: axis {self.axis} is out of range for {x.type} ({describe(x)})")
        return Apply(self, [x], [x.type])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [_softmax_np(inputs[0], self.axis)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        (sm,), (g,) = outputs, grads
        return [sm * (g - tsum(g * sm, axis=self.axis, keepdims=True))]


class LogSoftmax(Op):
    """``x - logsumexp(x, axis)``, stable for any logits.

    Gradient: ``g - exp(out) * sum(g, axis)``.
    """

    view_map = {}

    __props__ = ("axis",)

    def __init__(self, axis: int):
        self.axis = axis
        self.name = "log_softmax"

    def make_node(self, x: Any) -> Apply:
        x = _as_float(x)
        if x.ndim == 0:
            raise ShapeError(f"log_softmax needs at least a 1-d tensor, got a scalar ({describe(x)})")
        if not 0 <= self.axis < x.ndim:
            raise ShapeError(f"log_softmax: axis {self.axis} is out of range for {x.type} ({describe(x)})")
        return Apply(self, [x], [x.type])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        return [_log_softmax_np(inputs[0], self.axis)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        (out,), (g,) = outputs, grads
        return [g - ew.exp(out) * tsum(g, axis=self.axis, keepdims=True)]


def _axis(x: Variable, axis: int, opname: str) -> int:
    if x.ndim == 0:
        raise ShapeError(f"{opname} needs at least a 1-d tensor, got a scalar ({describe(x)})")
    return normalize_axis(axis, x.ndim, opname, x)[0]


def softmax(x: Any, axis: int = -1) -> Variable:
    """The softmax of ``x`` along ``axis`` (the last by default); finite for any finite logits.

    ``exp(x - m) / sum(exp(x - m))`` with ``m`` the maximum along ``axis`` where it is finite and 0
    where it is not: a row holding ``inf`` gives NaN there and 0 at its finite entries (the limit
    would be 1 and 0). An empty axis gives an empty result.

    >>> import numpy as np, symdl.tensor as T
    >>> x = T.dvector('x')
    >>> softmax(x).eval({x: np.log(np.array([1.0, 3.0]))})
    array([0.25, 0.75])
    """
    x = _as_float(x)
    return Softmax(_axis(x, axis, "softmax"))(x)


def log_softmax(x: Any, axis: int = -1) -> Variable:
    """``log(softmax(x))`` computed as ``x - logsumexp(x)``: finite where softmax underflows."""
    x = _as_float(x)
    return LogSoftmax(_axis(x, axis, "log_softmax"))(x)


logsoftmax = log_softmax


# ---------------------------------------------------------------- cross-entropies
def _check_targets(opname: str, pred: Variable, target: Variable) -> bool:
    """Validate (pred, target); return True for integer labels, False for a probability tensor."""
    if pred.ndim == 0:
        raise ShapeError(f"{opname}: predictions must have a class axis, got a scalar ({describe(pred)})")
    if target.type.is_discrete and target.dtype != "bool":
        if target.ndim != pred.ndim - 1:
            raise ShapeError(
                f"{opname}: integer labels must have one dimension less than the predictions: "
                f"labels {target.type} ({describe(target)}), predictions {pred.type} ({describe(pred)})"
            )
        for axis, (a, b) in enumerate(zip(pred.type.shape[:-1], target.type.shape)):
            if a is not None and b is not None and a != b:
                raise ShapeError(
                    f"{opname}: predictions {shape_str(pred.type.shape)} and labels {shape_str(target.type.shape)} "
                    f"disagree on axis {axis} ({a} vs {b})"
                )
        return True
    if not target.type.is_float:
        raise TypeMismatch(f"{opname}: targets must be integer labels or probabilities, got {target.type}")
    if target.ndim != pred.ndim:
        raise ShapeError(
            f"{opname}: probability targets must have the predictions' shape: targets {target.type} "
            f"({describe(target)}), predictions {pred.type} ({describe(pred)})"
        )
    for axis, (a, b) in enumerate(zip(pred.type.shape, target.type.shape)):
        if a is not None and b is not None and a != b:
            raise ShapeError(
                f"{opname}: predictions {shape_str(pred.type.shape)} and targets {shape_str(target.type.shape)} "
                f"disagree on axis {axis} ({a} vs {b})"
            )
    return False


def _one_hot_like(labels: Variable, like: Variable, opname: str, at: UserFrame | None) -> Variable:
    """Boolean one-hot of integer ``labels`` over the last axis of ``like``; a label out of range
    raises IndexError naming ``opname`` and the user's line ``at`` (it would give a row of zeros)."""
    from symdl.tensor.checks import check_labels
    from symdl.tensor.creation import arange
    from symdl.tensor.shape import expand_dims, shape_i

    n_classes = shape_i(like, like.ndim - 1)
    labels = check_labels(labels, n_classes, opname, at)
    return ew.eq(expand_dims(labels, -1), arange(n_classes, dtype=labels.dtype))


def _gather_last(x: np.ndarray, labels: np.ndarray, opname: str) -> np.ndarray:
    n = x.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        bad = labels[(labels < 0) | (labels >= n)].ravel()[0]
        raise IndexError(f"{opname}: label {bad} is out of range for {n} classes")
    return np.take_along_axis(x, labels[..., None].astype(np.intp), axis=-1)[..., 0]


class CategoricalCrossentropy(Op):
    """``-sum(target * log(pred), -1)`` for a probability ``target``, or ``-log(pred[..., label])``
    for integer labels; terms whose target is 0 count 0 even where ``pred`` is 0.

    Inputs ``(pred, target)``; the output drops the last (class) axis. Gradient with respect to
    ``pred``: ``-target / pred`` (0 where the target is 0); with respect to a probability target:
    ``-log(pred)``.
    """

    view_map = {}
    grad_checks_shapes = True

    __props__ = ()

    def __init__(self) -> None:
        self.name = "categorical_crossentropy"

    def make_node(self, pred: Any, target: Any) -> Apply:
        pred, target = _as_float(pred), as_tensor_variable(target)
        _check_targets("categorical_crossentropy", pred, target)
        return Apply(self, [pred, target], [TensorType(pred.dtype, pred.type.shape[:-1])])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        pred, target = inputs
        dtype = node.outputs[0].dtype
        if node.inputs[1].type.is_float:
            terms = np.where(target != 0, target * np.log(np.where(target != 0, pred, 1)), 0)
            return [np.asarray(-np.sum(terms, axis=-1), dtype=dtype)]
        picked = _gather_last(pred, target, "categorical_crossentropy")
        return [np.asarray(-np.log(picked), dtype=dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])[:-1]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.shape import expand_dims

        (pred, target), (g,) = inputs, grads
        g = expand_dims(g, -1)
        if not target.type.is_float:
            hot = _one_hot_like(target, pred, "categorical_crossentropy (in its gradient)", outputs[0].trace)
            return [ew.where(hot, -g / ew.where(hot, pred, 1), 0), None]
        nonzero = ew.neq(target, 0)
        g_pred = ew.where(nonzero, -g * target / ew.where(nonzero, pred, 1), 0)
        return [g_pred, -g * ew.log(pred)]


class SoftmaxCrossentropyWithLogits(Op):
    """Cross-entropy of ``softmax(logits)`` (last axis) against integer labels or probabilities,
    fused: ``logsumexp(logits) - logits[label]`` (or ``-sum(target * log_softmax(logits))``).

    Inputs ``(logits, target)``; the output drops the class axis. The gradient with respect to
    the logits is ``softmax(logits) - onehot(label)`` (``softmax * sum(target) - target`` for
    probabilities), finite for any finite logits; with respect to a probability target it is
    ``-log_softmax(logits)``. ``categorical_crossentropy(softmax(x), y)`` builds this op directly,
    and the stabilize rewrite substitutes it where such a pair appears otherwise.
    """

    view_map = {}
    grad_checks_shapes = True

    __props__ = ()

    def __init__(self) -> None:
        self.name = "softmax_crossentropy_with_logits"

    def make_node(self, logits: Any, target: Any) -> Apply:
        logits, target = _as_float(logits), as_tensor_variable(target)
        _check_targets("softmax_crossentropy_with_logits", logits, target)
        return Apply(self, [logits, target], [TensorType(logits.dtype, logits.type.shape[:-1])])

    def perform(self, node: Apply, inputs: Sequence[np.ndarray]) -> list:
        logits, target = inputs
        dtype = node.outputs[0].dtype
        logp = _log_softmax_np(logits, -1)
        if node.inputs[1].type.is_float:
            terms = np.where(target != 0, target * logp, 0)
            return [np.asarray(-np.sum(terms, axis=-1), dtype=dtype)]
        return [np.asarray(-_gather_last(logp, target, "softmax_crossentropy_with_logits"), dtype=dtype)]

    def infer_shape(self, node: Apply, input_shapes: Sequence) -> list:
        return [list(input_shapes[0])[:-1]]

    def L_op(self, inputs: Sequence[Variable], outputs: Sequence[Variable], grads: Sequence[Variable]) -> list:
        from symdl.tensor.shape import expand_dims

        (logits, target), (g,) = inputs, grads
        g = expand_dims(g, -1)
        sm = softmax(logits, -1)
        if not target.type.is_float:
            hot = ew.cast(
                _one_hot_like(target, logits, "softmax_crossentropy_with_logits (in its gradient)", outputs[0].trace),
                logits.dtype,
            )
            return [g * (sm - hot), None]
        total = tsum(target, axis=-1, keepdims=True)
        return [g * (sm * total - target), -g * log_softmax(logits, -1)]


def _softmax_logits(p: Variable) -> Variable | None:
    """The logits when ``p`` is ``softmax(logits)`` over its last axis, else None."""
    node = p.owner
    if node is not None and isinstance(node.op, Softmax) and node.op.axis == p.ndim - 1:
        return node.inputs[0]
    return None


def categorical_crossentropy(pred: Any, target: Any) -> Variable:
    """Cross-entropy between predicted class probabilities (last axis) and integer labels or a
    probability tensor: ``-log(pred[label])`` or ``-sum(target * log(pred), -1)``.

    A 0 target contributes 0 even where ``pred`` is 0; a 0 probability for the true class gives
    ``inf``. When ``pred`` is ``softmax(logits)`` the fused ``SoftmaxCrossentropyWithLogits`` is
    built instead, whose value and gradient stay finite for any logits.

    >>> import numpy as np, symdl.tensor as T
    >>> p, y = T.dmatrix('p'), T.ivector('y')
    >>> categorical_crossentropy(p, y).eval({p: np.array([[0.5, 0.5], [0.25, 0.75]]), y: np.array([0, 1], 'int32')})
    array([0.69314718, 0.28768207])
    """
    pred, target = _as_float(pred), as_tensor_variable(target)
    logits = _softmax_logits(pred)
    if logits is not None:
        return SoftmaxCrossentropyWithLogits()(logits, target)
    return CategoricalCrossentropy()(pred, target)


def softmax_crossentropy_with_logits(logits: Any, target: Any) -> Variable:
    """``categorical_crossentropy(softmax(logits), target)`` as one stable op (class axis last).

    >>> import numpy as np, symdl.tensor as T
    >>> x, y = T.dmatrix('x'), T.ivector('y')
    >>> softmax_crossentropy_with_logits(x, y).eval({x: np.array([[1e4, 0.0]]), y: np.array([1], 'int32')})
    array([10000.])
    """
    return SoftmaxCrossentropyWithLogits()(_as_float(logits), as_tensor_variable(target))


def _sigmoid_logits(p: Variable) -> Variable | None:
    node = p.owner
    if node is not None and isinstance(node.op, ew.Elemwise) and node.op.scalar_op is ew.s_sigmoid:
        return node.inputs[0]
    return None


def binary_crossentropy(output: Any, target: Any) -> Variable:
    """``-(target * log(output) + (1 - target) * log(1 - output))`` elementwise.

    Terms whose weight is 0 count 0 (so ``output`` of exactly 0 or 1 gives ``inf`` only against
    the opposite target). When ``output`` is ``sigmoid(logits)``, the stable
    ``sigmoid_binary_crossentropy(logits, target)`` is built instead.

    >>> import numpy as np, symdl.tensor as T
    >>> o, t = T.dvector('o'), T.dvector('t')
    >>> binary_crossentropy(o, t).eval({o: np.array([0.0, 1.0, 0.5]), t: np.array([0.0, 1.0, 1.0])})
    array([0.        , 0.        , 0.69314718])
    """
    output, target = _as_float(output), _as_float(target)
    logits = _sigmoid_logits(output)
    if logits is not None:
        return sigmoid_binary_crossentropy(logits, target)
    return -(xlogy(target, output) + xlogy(1 - target, 1 - output))


def sigmoid_binary_crossentropy(logits: Any, targets: Any) -> Variable:
    """``binary_crossentropy(sigmoid(logits), targets)`` as ``softplus(logits) - targets * logits``:
    finite for any logits, gradient ``sigmoid(logits) - targets``.

    >>> import numpy as np, symdl.tensor as T
    >>> x, t = T.dvector('x'), T.dvector('t')
    >>> sigmoid_binary_crossentropy(x, t).eval({x: np.array([1e4, -1e4]), t: np.array([0.0, 0.0])})
    array([10000.,     0.])
    """
    logits, targets = _as_float(logits), _as_float(targets)
    return ew.softplus(logits) - targets * logits


def categorical_accuracy(pred: Any, target: Any) -> Variable:
    """1.0 where the arg-max of ``pred`` (last axis) is the label (or the target's arg-max), else 0.0."""
    from symdl.tensor.reduction import argmax

    pred, target = _as_float(pred), as_tensor_variable(target)
    labels = target if _check_targets("categorical_accuracy", pred, target) else argmax(target, axis=-1)
    return ew.cast(ew.eq(argmax(pred, axis=-1), labels), pred.dtype)


__all__ = [
    "CategoricalCrossentropy",
    "LogSoftmax",
    "SELU_ALPHA",
    "SELU_SCALE",
    "Softmax",
    "SoftmaxCrossentropyWithLogits",
    "binary_crossentropy",
    "categorical_accuracy",
    "categorical_crossentropy",
    "elu",
    "hard_sigmoid",
    "leaky_relu",
    "log_softmax",
    "logsoftmax",
    "relu",
    "selu",
    "sigmoid",
    "sigmoid_binary_crossentropy",
    "softmax",
    "softmax_crossentropy_with_logits",
    "softplus",
    "softsign",
    "xlogy",
]
